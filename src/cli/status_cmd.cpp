// `podnet status`: the cluster at a glance, from its record, its pid files and the API server.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/cluster_cmds.h"
#include "cluster/processes.h"
#include "cluster/supervision.h"
#include "cluster/views.h"
#include "troubleshoot/cluster_graph.h"

namespace podnet::cli {
namespace {

using namespace std::chrono_literals;

// Columns as wide as their widest cell, like kubectl's tables.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line = "  ";
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

// "42s", "3m5s", "2h10m".
std::string span(int64_t ms) {
  int64_t s = std::max<int64_t>(ms, 0) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
}

// "14:02:11 (35s ago)" (local time of day; the date too when it was not today).
std::string when(int64_t unix_ms) {
  const int64_t now = cluster::unix_now_ms();
  time_t t = static_cast<time_t>(unix_ms / 1000), today = static_cast<time_t>(now / 1000);
  tm at{}, now_tm{};
  ::localtime_r(&t, &at);
  ::localtime_r(&today, &now_tm);
  char buf[32];
  bool same_day = at.tm_yday == now_tm.tm_yday && at.tm_year == now_tm.tm_year;
  std::strftime(buf, sizeof buf, same_day ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &at);
  return std::string(buf) + " (" + span(now - unix_ms) + " ago)";
}

std::string last_exit(const cluster::DaemonObservation& d) {
  if (!d.report || !d.report->last_exit) return "-";
  const auto& e = *d.report->last_exit;
  return e.status.describe() + " after " + span(e.ran_ms) + ", at " + when(e.at_unix_ms);
}

// The STATE column: a word, with kubelet's name for a daemon that fails again and again.
std::string state_word(const cluster::DaemonObservation& d) {
  using State = cluster::SupervisorReport::State;
  if (d.running()) return d.supervised() ? "Running" : "Running (unsupervised)";
  if (d.supervised()) {
    if (d.report && d.report->crash_looping()) return "CrashLoopBackOff";
    if (d.report && d.report->state == State::kBackoff) return "Restarting";
    return "Starting";
  }
  if (d.report && d.report->state == State::kStopped && d.report->last_exit &&
      d.report->last_exit->status.clean())
    return "Stopped";
  return d.recorded_pid > 0 ? "DEAD" : "Not started";
}

// One phrase for the API server line and the nodes' AGENT column.
std::string daemon_state(const cluster::Layout& layout, const cluster::DaemonObservation& d) {
  const std::string log = layout.log_path(d.name);
  const int restarts = d.report ? d.report->restarts : 0;
  if (d.running()) {
    std::string out = "running (pid " + std::to_string(d.pid) + ")";
    if (restarts > 0) out += ", " + std::to_string(restarts) + " restart(s), last " + last_exit(d);
    if (!d.supervised()) out += ", unsupervised (`podnet up` resumes supervision)";
    return out;
  }
  const std::string word = state_word(d);
  if (d.supervised() && d.report && d.report->state == cluster::SupervisorReport::State::kBackoff)
    return word + " (" + last_exit(d) + "; restart " + std::to_string(restarts + 1) + " in " +
           span(d.report->next_start_unix_ms - cluster::unix_now_ms()) + "; log " + log + ")";
  if (word == "DEAD")
    return "DEAD (pid " + std::to_string(d.recorded_pid) + ", log " + log + "; `podnet up` restarts it)";
  if (word == "Stopped") return "stopped (" + last_exit(d) + ", not restarted; log " + log + ")";
  return word == "Starting" ? "starting (log " + log + ")" : "not started";
}

void print_daemons(const cluster::Layout& layout, const std::vector<cluster::DaemonObservation>& daemons) {
  std::printf("\nDAEMONS (each under `podnet supervise`; restarted with backoff when it fails)\n");
  std::vector<std::vector<std::string>> rows{{"NAME", "STATE", "PID", "RESTARTS", "LAST EXIT", "LOG"}};
  for (const auto& d : daemons) {
    std::string state = state_word(d);
    if (d.supervised() && d.report && !d.running() &&
        d.report->state == cluster::SupervisorReport::State::kBackoff)
      state += " (restart in " + span(d.report->next_start_unix_ms - cluster::unix_now_ms()) + ")";
    rows.push_back({d.name, state, d.running() ? std::to_string(d.pid) : "-",
                    std::to_string(d.report ? d.report->restarts : 0), last_exit(d),
                    layout.log_path(d.name)});
  }
  print_table(rows);
  if (std::none_of(daemons.begin(), daemons.end(), [](const auto& d) { return !d.supervised(); })) return;
  const std::string& dir = layout.spec().state_dir;
  const std::string flag = dir == cluster::kDefaultStateDir ? "" : " --state-dir " + dir;
  std::printf("  `podnet up%s` starts what is not running and supervises what runs unsupervised\n",
              flag.c_str());
}

const cluster::DaemonObservation* find(const std::vector<cluster::DaemonObservation>& daemons,
                                       const std::string& name) {
  for (const auto& d : daemons)
    if (d.name == name) return &d;
  return nullptr;
}

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

}  // namespace

int run_status(const StateDirOptions& opts) {
  namespace fs = std::filesystem;
  std::string dir = fs::absolute(opts.state_dir).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  auto record = cluster::load_record(dir);
  if (!record) {
    std::fprintf(stderr, "podnet status: %s\n", record.error().message().c_str());
    return 1;
  }
  if (!*record) {
    std::printf("no cluster in %s (start one with `podnet up`)\n", dir.c_str());
    return 1;
  }
  (*record)->state_dir = dir;
  cluster::Layout layout(**record);
  const auto& spec = layout.spec();
  std::printf("cluster %s: %d node(s), overlay %s, underlay %s via %s, LB pool %s\n", spec.cid.c_str(),
              spec.nodes, spec.overlay.c_str(), spec.underlay.str().c_str(), layout.root_link().c_str(),
              layout.lb_pool().str().c_str());
  const auto daemons = cluster::observe_daemons(layout);
  std::printf("API server %s: %s\nkubeconfig %s\n", layout.server_url().c_str(),
              daemon_state(layout, *find(daemons, "server")).c_str(), layout.admin_kubeconfig().c_str());
  print_daemons(layout, daemons);

  auto client = cluster::admin_client(layout, 5s);
  if (!client) {
    std::fprintf(stderr, "podnet status: %s\n", client.error().message().c_str());
    return 1;
  }
  auto nodes = (*client)->get("/api/v1/nodes");
  auto pods = nodes ? (*client)->get("/api/v1/pods") : nodes;
  auto services = pods ? (*client)->get("/api/v1/services") : pods;
  if (!services) {
    std::fprintf(stderr, "podnet status: API server: %s\n", services.error().message().c_str());
    return 1;
  }

  std::printf("\nNODES\n");
  std::vector<std::vector<std::string>> rows{{"NAME", "READY", "INTERNAL-IP", "POD-CIDR", "AGENT"}};
  auto node_list = cluster::node_views(*nodes);
  for (int i = 1; i <= spec.nodes; ++i) {
    std::string name = layout.node_name(i);
    auto it = std::find_if(node_list.begin(), node_list.end(), [&](const auto& n) { return n.name == name; });
    const auto* seen = find(daemons, cluster::Layout::agent_daemon(name));
    std::string agent = seen ? daemon_state(layout, *seen) : "not started (--no-agents)";
    if (it == node_list.end())
      rows.push_back({name, "(not registered)", layout.node_ip(i).addr.to_string(), "-", agent});
    else
      rows.push_back(
          {name, it->ready ? "True" : "False", or_dash(it->internal_ip), or_dash(it->pod_cidr), agent});
  }
  auto ours = [&](const std::string& name) {
    for (int i = 1; i <= spec.nodes; ++i)
      if (layout.node_name(i) == name) return true;
    return false;
  };
  for (const auto& n : node_list)
    if (!ours(n.name))
      rows.push_back({n.name, n.ready ? "True" : "False", or_dash(n.internal_ip), or_dash(n.pod_cidr), "-"});
  print_table(rows);

  std::printf("\nPODS\n");
  rows = {{"NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "IP", "NODE"}};
  for (const auto& p : cluster::pod_views(*pods))
    rows.push_back({p.ns, p.name, std::to_string(p.ready) + "/" + std::to_string(p.containers),
                    or_dash(p.phase), std::to_string(p.restarts), or_dash(p.ip), or_dash(p.node)});
  if (rows.size() == 1) rows = {{"(none)"}};
  print_table(rows);
  // How to get into one (issue 17): exec goes through the API server to the pod's node.
  for (const auto& p : cluster::pod_views(*pods))
    if (p.phase == "Running") {
      std::printf("  exec into a pod: kubectl --kubeconfig %s exec -it -n %s %s -- sh\n",
                  layout.admin_kubeconfig().c_str(), p.ns.c_str(), p.name.c_str());
      break;
    }

  std::printf("\nSERVICES\n");
  rows = {{"NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORTS"}};
  for (const auto& s : cluster::service_views(*services)) {
    std::string lb;
    for (const auto& ip : s.lb_ips) lb += (lb.empty() ? "" : ",") + ip;
    if (lb.empty()) lb = s.type == "LoadBalancer" ? "<pending>" : "-";
    rows.push_back({s.ns, s.name, s.type, or_dash(s.cluster_ip), lb, or_dash(s.ports)});
  }
  if (rows.size() == 1) rows = {{"(none)"}};
  print_table(rows);

  if (!opts.graph.empty()) {
    auto slices = (*client)->get("/apis/discovery.k8s.io/v1/endpointslices");
    if (!slices) {
      std::fprintf(stderr, "podnet status: API server: %s\n", slices.error().message().c_str());
      return 1;
    }
    troubleshoot::ClusterObjects objects{*nodes, *pods, *services, *slices, spec.overlay};
    if (auto st = troubleshoot::render_graph(troubleshoot::cluster_dot(objects), opts.graph); !st) {
      std::fprintf(stderr, "podnet status: %s\n", st.error().message().c_str());
      return 1;
    }
    std::printf("\ngraph written to %s\n", opts.graph.c_str());
  }
  return 0;
}

}  // namespace podnet::cli
