// `podnet status`: the cluster at a glance, from its record, its pid files and the API server.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/cluster_cmds.h"
#include "cluster/processes.h"
#include "cluster/views.h"

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

std::string daemon_state(const cluster::Layout& layout, const std::string& daemon) {
  auto pid = cluster::read_pid_file(layout.pid_path(daemon));
  if (!pid) return "not started";
  if (cluster::probe(*pid) == cluster::ProcState::kRunning &&
      cluster::cmdline_contains(*pid, layout.spec().state_dir))
    return "running (pid " + std::to_string(*pid) + ")";
  return "DEAD (pid " + std::to_string(*pid) + ", log " + layout.log_path(daemon) + ")";
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
  std::printf("API server %s: %s\nkubeconfig %s\n", layout.server_url().c_str(),
              daemon_state(layout, "server").c_str(), layout.admin_kubeconfig().c_str());

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
    std::string agent = daemon_state(layout, cluster::Layout::agent_daemon(name));
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
  return 0;
}

}  // namespace podnet::cli
