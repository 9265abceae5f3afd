// `podnet up`. Every step after the cluster record is written is undone by tear_down() when a
// later step fails or Ctrl-C arrives: SIGINT/SIGTERM/SIGHUP stay blocked and are polled between
// steps and while waiting, so no signal can cut the cleanup short. On a state dir that holds a
// stopped cluster the same steps restore it, keeping what exists; a failure there stops only what
// this run started and never removes the cluster's data. Each daemon runs under `podnet supervise`.
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "cli/cluster_cmds.h"
#include "cluster/processes.h"
#include "cluster/supervision.h"
#include "cluster/teardown.h"
#include "cluster/underlay.h"
#include "cluster/views.h"
#include "common/files.h"
#include "common/ip.h"
#include "k8s/api_client.h"

namespace podnet::cli {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using cluster::Layout;

class Signals {
 public:
  Signals() {
    sigemptyset(&set_);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, s);
    sigprocmask(SIG_BLOCK, &set_, &old_);
  }
  ~Signals() { sigprocmask(SIG_SETMASK, &old_, nullptr); }
  // Sleeps up to `d`; false once a signal arrived (now or before).
  bool sleep(std::chrono::milliseconds d) {
    if (got_) return false;
    timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>(d.count() % 1000) * 1000000};
    if (sigtimedwait(&set_, nullptr, &ts) > 0) got_ = true;
    return !got_;
  }
  bool interrupted() { return !sleep(0ms); }

 private:
  sigset_t set_{}, old_{};
  bool got_ = false;
};

std::string random_cid() {
  uint16_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint16_t>(::getpid() * 2654435761u);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", r);
  return buf;
}

std::string self_path() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("podnet") : p.string();
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// The failure of a step, as up reports it before tearing down.
struct Failed {
  std::string what;
};

// A machine-wide mutex between concurrent `podnet up`s: an abstract unix socket of this name (root
// network namespace) can be bound by one process at a time, and the kernel frees it when that
// process ends, kill -9 included, leaving no file behind. Waits up to `timeout`.
Result<UniqueFd> machine_lock(std::string_view name, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.size() + 1 > sizeof addr.sun_path) return fail_msg("lock name too long");
  name.copy(addr.sun_path + 1, name.size());  // sun_path[0] == 0: the abstract namespace
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fail("lock socket");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0) return fd;
    if (errno != EADDRINUSE) return fail("lock " + std::string(name));
    if (std::chrono::steady_clock::now() >= deadline)
      return fail("another `podnet up` holds " + std::string(name) + " (waited " +
                      std::to_string(timeout.count() / 1000) + " s)",
                  EBUSY);
    std::this_thread::sleep_for(50ms);
  }
}

// Marks what a restoring `up` found in place.
std::string kept(bool present) {
  return present ? " (kept)" : "";
}

class Up {
 public:
  Up(Layout layout, const UpOptions& opts, std::string self, std::string cni, Signals& signals,
     UniqueFd underlay_lock = {})
      : layout_(std::move(layout)),
        opts_(opts),
        self_(std::move(self)),
        cni_(std::move(cni)),
        signals_(signals),
        underlay_lock_(std::move(underlay_lock)) {}

  // Runs every step, keeping what exists; nullopt on success (and not interrupted meanwhile).
  std::optional<Failed> run() {
    auto failed = steps();
    if (!failed && signals_.interrupted()) failed = Failed{"interrupted"};
    return failed;
  }

  // The supervisors this run started, and their daemons with them (a restore that failed).
  void stop_started() {
    std::vector<pid_t> pids;
    for (const auto& [daemon, started] : started_) pids.push_back(started.supervisor);
    cluster::stop_processes(pids, 8s);
  }

 private:
  std::optional<Failed> steps() {
    const auto& spec = layout_.spec();
    auto stale = cluster::remove_stale_netns_files(layout_);
    if (!stale) return Failed{stale.error().message()};
    if (*stale > 0)
      say("* removed " + std::to_string(*stale) + " stale netns file(s) under /run/netns (a reboot's)");
    say("* underlay: netns " + layout_.underlay_netns() + ", reached from here by " + layout_.root_link() +
        " " + layout_.gateway().str() + kept(cluster::netns_present(layout_.underlay_netns())));
    if (auto s = cluster::ensure_underlay(layout_); !s) return Failed{s.error().message()};
    // The underlay's address is in the root namespace now: another `up` checking for a free
    // underlay sees it, so it may go on.
    underlay_lock_.reset();
    for (const auto& dir :
         {layout_.logs_dir(), layout_.pids_dir(), layout_.server_dir(), layout_.supervise_dir()})
      if (auto s = make_dirs(dir, 0700); !s) return Failed{s.error().message()};
    for (int i = 1; i <= spec.nodes; ++i)
      if (auto s = make_dirs(layout_.node_dir(i), 0700); !s) return Failed{s.error().message()};
    // The server needs only the underlay's .1: it starts while the node namespaces are made.
    if (auto f = start_server()) return f;
    for (int i = 1; i <= spec.nodes; ++i) {
      if (signals_.interrupted()) return Failed{"interrupted"};
      say("* " + layout_.node_name(i) + ": netns " + layout_.node_netns(i) + ", eth0 " +
          layout_.node_ip(i).str() + " (veth " + layout_.node_veth(i) + ")" +
          kept(cluster::netns_present(layout_.node_netns(i))));
      if (auto s = cluster::ensure_node(layout_, i); !s) return Failed{s.error().message()};
    }
    if (auto f = wait_for_server()) return f;
    if (spec.dns) {
      if (auto f = ensure_cluster_dns_service()) return f;
    } else {
      say("* cluster DNS: off (--no-dns): pods resolve with the node's resolv.conf, as kubelet without "
          "--cluster-dns");
    }
    if (!spec.agents) {
      say("* no agents started (--no-agents): node namespaces are ready for agents run by hand");
      return std::nullopt;
    }
    for (int i = 1; i <= spec.nodes; ++i)
      if (auto f = issue_credential(i)) return f;
    remember_heartbeats();
    for (int i = 1; i <= spec.nodes; ++i)
      if (auto f = start_agent(i)) return f;
    return wait_ready();
  }

  struct Started {
    pid_t supervisor = 0;
    int64_t at_unix_ms = 0;
  };

  // Reports a daemon that exited since this run started it, with the end of its log. Its supervisor
  // would restart it, but a daemon that fails while the cluster comes up is a failed `up`.
  std::optional<Failed> check_alive(const std::string& daemon) {
    auto it = started_.find(daemon);
    if (it == started_.end()) return std::nullopt;
    std::string log = layout_.log_path(daemon);
    if (cluster::probe(it->second.supervisor) != cluster::ProcState::kRunning)
      return Failed{"the supervisor of " + daemon + " exited; end of " + log + ":\n" +
                    cluster::tail_file(log, 15)};
    auto report = cluster::load_report(layout_.supervisor_report_path(daemon));
    if (!report || !*report || !(*report)->last_exit ||
        (*report)->last_exit->at_unix_ms < it->second.at_unix_ms)
      return std::nullopt;
    return Failed{daemon + " exited (" + (*report)->last_exit->status.describe() + "); end of " + log +
                  ":\n" + cluster::tail_file(log, 15)};
  }

  // True (and says so) when the daemon runs under a live supervisor: a restore keeps it.
  bool supervised(const std::string& daemon, const std::string& label) {
    auto seen = cluster::observe_daemon(layout_, daemon);
    if (!seen.supervised()) return false;
    say("* " + label + ": supervised" +
        (seen.running() ? ", running (pid " + std::to_string(seen.pid) + ")" : "") + " (kept)");
    return true;
  }

  // Starts `podnet supervise` for the daemon, which starts the daemon, or takes over the one still
  // running from an earlier supervisor.
  std::optional<Failed> spawn(const std::string& daemon, const std::vector<std::string>& argv,
                              const std::string& netns) {
    std::vector<std::string> command{self_,      "supervise", "--state-dir", layout_.spec().state_dir,
                                     "--daemon", daemon};
    if (!netns.empty()) command.insert(command.end(), {"--netns", netns});
    if (cluster::observe_daemon(layout_, daemon).running()) command.push_back("--adopt");
    command.push_back("--");
    command.insert(command.end(), argv.begin(), argv.end());
    const int64_t now = cluster::unix_now_ms();
    cluster::DaemonSpec d{std::move(command), "", layout_.log_path(daemon),
                          layout_.supervisor_pid_path(daemon)};
    auto pid = cluster::spawn_daemon(d);
    if (!pid) return Failed{daemon + ": " + pid.error().message()};
    started_[daemon] = Started{*pid, now};
    return std::nullopt;
  }

  std::optional<Failed> start_server() {
    const auto& spec = layout_.spec();
    if (supervised("server", "API server on " + layout_.server_url())) return std::nullopt;
    say("* API server on " + layout_.server_url() + " (log " + layout_.log_path("server") + ")");
    std::vector<std::string> argv{self_,
                                  "server",
                                  "--data-dir",
                                  layout_.server_dir(),
                                  "--bind-address",
                                  layout_.gateway().addr.to_string(),
                                  "--port",
                                  std::to_string(spec.api_port),
                                  "--lb-pool",
                                  layout_.lb_pool().str(),
                                  "--service-cidr",
                                  spec.service_cidr,
                                  "--cluster-cidr",
                                  spec.cluster_cidr,
                                  "--node-network",
                                  spec.underlay.str()};
    return spawn("server", argv, "");
  }

  std::optional<Failed> wait_for_server() {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto f = check_alive("server")) return f;
      if (::access(layout_.admin_kubeconfig().c_str(), R_OK) == 0) {
        auto client = cluster::admin_client(layout_, 5s);
        if (client) {
          auto ns = (*client)->get("/api/v1/namespaces/default");
          if (ns) {
            client_ = std::move(*client);
            return std::nullopt;
          }
          last = ns.error().message();
        } else {
          last = client.error().message();
        }
      }
      if (!signals_.sleep(100ms)) return Failed{"interrupted"};
    }
    return Failed{"API server not answering after 60 s" + (last.empty() ? "" : ": " + last)};
  }

  // kube-system/kube-dns, the Service pods resolve names through (kubeadm's ClusterIP: the 10th
  // address of the service range). It selects k8s-app=kube-dns like CoreDNS's pods; the agents
  // answer its address on every node. A restore keeps what exists.
  std::optional<Failed> ensure_cluster_dns_service() {
    const std::string ns_path = "/api/v1/namespaces/kube-system";
    if (auto ns = client_->get(ns_path); !ns) {
      if (!k8s::is_not_found(ns.error())) return Failed{"namespace kube-system: " + ns.error().message()};
      auto created =
          client_->create("/api/v1/namespaces", boost::json::object{{"apiVersion", "v1"},
                                                                    {"kind", "Namespace"},
                                                                    {"metadata", {{"name", "kube-system"}}}});
      if (!created && !k8s::is_already_exists(created.error()))
        return Failed{"namespace kube-system: " + created.error().message()};
    }
    const std::string ip = layout_.cluster_dns().to_string();
    auto existing = client_->get(ns_path + "/services/kube-dns");
    if (existing) {
      const auto* spec = existing->as_object().if_contains("spec");
      const auto* cluster_ip =
          spec && spec->is_object() ? spec->get_object().if_contains("clusterIP") : nullptr;
      std::string have = cluster_ip && cluster_ip->is_string() ? std::string(cluster_ip->get_string()) : "";
      say("* cluster DNS: service kube-system/kube-dns " + have + (have == ip ? "" : " (not " + ip + ")") +
          kept(true));
      return std::nullopt;
    }
    if (!k8s::is_not_found(existing.error()))
      return Failed{"service kube-system/kube-dns: " + existing.error().message()};
    say("* cluster DNS: service kube-system/kube-dns " + ip + " (dns 53/UDP, dns-tcp 53/TCP)");
    boost::json::value labels = boost::json::object{{"k8s-app", "kube-dns"}};
    auto port = [](const char* name, const char* protocol) {
      return boost::json::object{{"name", name}, {"protocol", protocol}, {"port", 53}, {"targetPort", 53}};
    };
    auto created = client_->create(
        ns_path + "/services",
        boost::json::object{
            {"apiVersion", "v1"},
            {"kind", "Service"},
            {"metadata", {{"name", "kube-dns"}, {"namespace", "kube-system"}, {"labels", labels}}},
            {"spec",
             {{"selector", labels},
              {"clusterIP", ip},
              {"ports", boost::json::array{port("dns", "UDP"), port("dns-tcp", "TCP")}}}}});
    if (!created && !k8s::is_already_exists(created.error()))
      return Failed{"service kube-system/kube-dns " + ip + ": " + created.error().message()};
    return std::nullopt;
  }

  // Agents get their node's credential and nothing else: `podnet server` (this very binary) issues it.
  std::optional<Failed> issue_credential(int i) {
    const std::string node = layout_.node_name(i);
    const std::string serving = serving_cert_prefix(i);
    if (::access(layout_.node_kubeconfig(i).c_str(), F_OK) == 0 &&
        ::access((serving + ".crt").c_str(), F_OK) == 0)
      return std::nullopt;  // a restore keeps them
    if (!said_credentials_)
      say("* node credentials (system:node:<name> and its log server's certificate, signed by the cluster "
          "CA)");
    said_credentials_ = true;
    const std::string log = layout_.log_path("credentials");
    auto rc = cluster::run_command(
        {self_, "server", "--data-dir", layout_.server_dir(), "--bind-address",
         layout_.gateway().addr.to_string(), "--port", std::to_string(layout_.spec().api_port),
         "--issue-node-credential", node, "--out", layout_.node_kubeconfig(i), "--serving-cert-out", serving,
         "--node-address", layout_.node_ip(i).addr.to_string()},
        log);
    if (!rc) return Failed{"node credential for " + node + ": " + rc.error().message()};
    if (*rc != 0)
      return Failed{"node credential for " + node + ": exit status " + std::to_string(*rc) + "; end of " +
                    log + ":\n" + cluster::tail_file(log, 10)};
    return std::nullopt;
  }

  // The node's log-server certificate (issued with its credential, for its name and address).
  std::string serving_cert_prefix(int i) const { return layout_.node_dir(i) + "/pki/kubelet"; }

  std::optional<Failed> start_agent(int i) {
    const auto& spec = layout_.spec();
    const std::string node = layout_.node_name(i);
    const std::string daemon = Layout::agent_daemon(node);
    if (supervised(daemon, "agent " + node)) return std::nullopt;
    say("* agent " + node + " in " + layout_.node_netns(i) + " (log " + layout_.log_path(daemon) + ")");
    std::vector<std::string> args{self_, "agent", "--run-pods"};
    for (const auto& [flag, value] : std::vector<std::pair<const char*, std::string>>{
             {"--kubeconfig", layout_.node_kubeconfig(i)},
             {"--node-name", node},
             {"--node-ip", layout_.node_ip(i).addr.to_string()},
             {"--overlay", spec.overlay},
             {"--state-dir", layout_.node_dir(i)},
             {"--run-dir", layout_.node_run_dir(i)},
             {"--cluster-cidr", spec.cluster_cidr},
             {"--lb-pool", layout_.lb_pool().str()},
             {"--cni-bin", cni_},
             {"--tls-cert-file", serving_cert_prefix(i) + ".crt"},
             {"--tls-private-key-file", serving_cert_prefix(i) + ".key"}})
      args.insert(args.end(), {flag, value});
    if (!spec.fast_path) args.push_back("--no-fast-path");
    if (!opts_.streaming_idle_timeout.empty())
      args.insert(args.end(), {"--streaming-connection-idle-timeout", opts_.streaming_idle_timeout});
    if (spec.dns) {
      // The cluster DNS Service's address (kube-dns's, made by ensure_cluster_dns_service).
      args.insert(args.end(), {"--cluster-dns", layout_.cluster_dns().to_string()});
      args.push_back("--dns=on");  // node-local cluster DNS on kube-dns's ClusterIP (docs/dns.md)
    } else {
      args.push_back("--dns=off");
    }
    return spawn(daemon, args, "/run/netns/" + layout_.node_netns(i));
  }

  // The nodes' last heartbeats before any agent starts. A restored cluster's nodes still say Ready
  // from before it stopped: a node whose agent this run starts counts only once it posted anew.
  void remember_heartbeats() {
    if (auto list = client_->get("/api/v1/nodes"))
      for (const auto& n : cluster::node_views(*list)) old_heartbeats_[n.name] = n.ready_heartbeat;
  }

  bool posted_since_start(const cluster::NodeView& n) const {
    if (!started_.contains(Layout::agent_daemon(n.name))) return true;  // kept running: as it says
    auto it = old_heartbeats_.find(n.name);
    return it == old_heartbeats_.end() || it->second != n.ready_heartbeat;
  }

  std::optional<Failed> wait_ready() {
    say("* waiting for " + std::to_string(layout_.spec().nodes) + " node(s) to be Ready");
    std::map<std::string, bool> reported;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts_.timeout_seconds);
    std::string last;
    for (;;) {
      for (const auto& d : layout_.daemons())
        if (auto f = check_alive(d)) return f;
      if (auto list = client_->get("/api/v1/nodes")) {
        last.clear();
        for (const auto& n : cluster::node_views(*list)) {
          if (!n.ready || reported[n.name] || !posted_since_start(n)) continue;
          reported[n.name] = true;
          say("  " + n.name + " Ready: " + n.internal_ip + ", podCIDR " +
              (n.pod_cidr.empty() ? "-" : n.pod_cidr));
        }
      } else {
        last = list.error().message();
      }
      int ready = 0;
      for (int i = 1; i <= layout_.spec().nodes; ++i) ready += reported[layout_.node_name(i)] ? 1 : 0;
      if (ready == layout_.spec().nodes) return std::nullopt;
      if (std::chrono::steady_clock::now() >= deadline)
        return Failed{std::to_string(ready) + " of " + std::to_string(layout_.spec().nodes) +
                      " nodes Ready after " + std::to_string(opts_.timeout_seconds) + " s" +
                      (last.empty() ? "" : " (" + last + ")") + "; see the logs in " + layout_.logs_dir()};
      if (!signals_.sleep(250ms)) return Failed{"interrupted"};
    }
  }

  Layout layout_;
  UniqueFd underlay_lock_;  // held from the free-underlay check until the underlay exists
  const UpOptions& opts_;
  std::string self_, cni_;
  Signals& signals_;
  std::map<std::string, Started> started_;
  std::map<std::string, std::string> old_heartbeats_;
  std::unique_ptr<client::HttpsApiClient> client_;
  bool said_credentials_ = false;
};

int refuse(const std::string& why) {
  std::fprintf(stderr, "podnet up: %s\n", why.c_str());
  return 1;
}

bool empty_or_absent(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
}

std::string state_flag(const std::string& state_dir) {
  return state_dir == cluster::kDefaultStateDir ? "" : " --state-dir " + state_dir;
}

// Two `up`s at once could both find one underlay free before either makes it (seen with two
// benches: one's kubectl reached the other's API server and failed on its certificate). The check
// and the underlay's creation (Up releases this once the underlay exists) run under one lock.
Result<UniqueFd> underlay_check_lock() {
  return machine_lock("podnet-up-underlay", 60s);
}

// EADDRINUSE naming the collision when the underlay overlaps the root namespace's addresses or routes.
Status underlay_unused(const IpPrefix& underlay) {
  PODNET_TRY(used, cluster::used_prefixes());
  return cluster::check_underlay_free(underlay, used);
}

// podnet-cni, with podnet-shim beside it (only agents need them); an error says which is missing.
Result<std::string> cni_binary(const UpOptions& opts, const std::string& self, bool agents) {
  std::string cni =
      opts.cni_binary.empty() ? fs::path(self).parent_path().string() + "/podnet-cni" : opts.cni_binary;
  if (agents && ::access(cni.c_str(), X_OK) != 0)
    return fail_msg("CNI plugin not found at " + cni + " (use --cni-bin)");
  std::string shim = fs::path(cni).parent_path().string() + "/podnet-shim";
  if (agents && ::access(shim.c_str(), X_OK) != 0)
    return fail_msg("container shim not found at " + shim + " (it belongs next to podnet-cni)");
  return cni;
}

// The options on the command line that contradict the cluster's record, as "--nodes 1 (it has 2)".
std::string contradicting(const UpOptions& opts, const cluster::ClusterSpec& rec) {
  std::string out;
  auto check = [&](const char* flag, bool differs, const std::string& asked, const std::string& has) {
    if (!opts.given.contains(flag) || !differs) return;
    out += (out.empty() ? "" : ", ") + std::string(flag) + (asked.empty() ? "" : " " + asked) + " (it has " +
           has + ")";
  };
  auto underlay = parse_prefix(opts.underlay_cidr);
  check("--nodes", opts.nodes != rec.nodes, std::to_string(opts.nodes), std::to_string(rec.nodes));
  check("--overlay", opts.overlay != rec.overlay, opts.overlay, rec.overlay);
  check("--underlay-cidr", !underlay || underlay->network() != rec.underlay, opts.underlay_cidr,
        rec.underlay.str());
  check("--api-port", opts.api_port != rec.api_port, std::to_string(opts.api_port),
        std::to_string(rec.api_port));
  check("--no-fast-path", opts.fast_path != rec.fast_path, "", "the fast path");
  check("--no-agents", opts.agents != rec.agents, "", "agents");
  check("--no-dns", opts.dns != rec.dns, "", rec.dns ? "cluster DNS" : "no cluster DNS");
  return out;
}

void print_ready(const Layout& layout) {
  const std::string flag = state_flag(layout.spec().state_dir);
  say("");
  say("The cluster is up. kubeconfig: " + layout.admin_kubeconfig());
  say("  export KUBECONFIG=" + layout.admin_kubeconfig());
  say("  kubectl get nodes -o wide");
  say("  podnet status" + flag + "       # nodes, pods, services at a glance");
  say("  podnet down" + flag + "         # remove the cluster and everything it made");
}

std::string describe(const cluster::ClusterSpec& spec) {
  return spec.cid + ", " + std::to_string(spec.nodes) + " node(s), overlay " + spec.overlay +
         (spec.fast_path ? "" : " (no eBPF fast path)") + (spec.dns ? "" : " (no cluster DNS)") +
         ", underlay " + spec.underlay.str() + ", state in " + spec.state_dir;
}

// True when every daemon runs under its supervisor and the cluster's namespaces and link exist.
bool fully_running(const Layout& layout) {
  for (const auto& d : cluster::observe_daemons(layout))
    if (!d.supervised() || !d.running()) return false;
  if (!cluster::netns_present(layout.underlay_netns()) || !cluster::root_link_present(layout).value_or(false))
    return false;
  for (int i = 1; i <= layout.spec().nodes; ++i)
    if (!cluster::netns_present(layout.node_netns(i))) return false;
  return true;
}

bool anything_alive(const Layout& layout) {
  for (const auto& d : cluster::observe_daemons(layout))
    if (d.supervised() || d.running()) return true;
  return false;
}

// `up` on a state dir that holds a cluster: brings back what is missing of it (namespaces, links,
// daemons) from its record, with the same id, addresses and API data. Nothing is removed: a
// failure stops only the supervisors this run started.
int restore(const cluster::ClusterSpec& recorded, const UpOptions& opts, Signals& signals) {
  const std::string& dir = recorded.state_dir;
  const std::string flag = state_flag(dir);
  if (auto conflict = contradicting(opts, recorded); !conflict.empty()) {
    if (anything_alive(Layout(recorded)))
      return refuse("a cluster (" + recorded.cid + ") already runs in " + dir + " with other options (" +
                    conflict + "); run `podnet down" + flag + "` first, or `podnet up --fresh`");
    return refuse("the stopped cluster (" + recorded.cid + ") in " + dir + " was made with other options (" +
                  conflict + "); `podnet up" + flag + "` without them restores it, `--fresh` replaces it");
  }
  // One `up` at a time per state dir; the record is read again under the lock, since the run that
  // held it may have removed the cluster or brought it up.
  auto lock = FileLock::acquire(dir + "/up.lock");
  if (!lock) return refuse(lock.error().message());
  auto again = cluster::load_record(dir);
  if (!again || !*again) return refuse("the cluster in " + dir + " was removed meanwhile");
  cluster::ClusterSpec spec = **again;
  spec.state_dir = dir;
  Layout layout(spec);
  if (fully_running(layout)) {
    say("podnet up: cluster " + spec.cid + " already runs in " + dir + "; nothing to do");
    say("  podnet status" + flag + "       # its nodes, daemons, pods, services");
    say("  podnet up --fresh" + flag + "   # replace it with a new cluster");
    return 0;
  }
  UniqueFd underlay_lock;
  if (!cluster::root_link_present(layout).value_or(false)) {
    auto locked = underlay_check_lock();
    if (!locked) return refuse(locked.error().message());
    underlay_lock = std::move(*locked);
    if (auto s = underlay_unused(spec.underlay); !s) return refuse(s.error().message());
  }
  std::string self = self_path();
  auto cni = cni_binary(opts, self, spec.agents);
  if (!cni) return refuse(cni.error().message());

  say("podnet up: restoring cluster " + describe(spec));
  Up up(layout, opts, self, *cni, signals, std::move(underlay_lock));
  if (auto failed = up.run()) {
    std::fprintf(stderr, "podnet up: %s\n", failed->what.c_str());
    say("stopping the daemons this run started; the cluster's data stays in " + dir + " (`podnet up" + flag +
        "` tries again, `podnet down" + flag + "` removes it)");
    up.stop_started();
    return 1;
  }
  print_ready(layout);
  return 0;
}

}  // namespace

int run_up(const UpOptions& opts) {
  if (::geteuid() != 0) return refuse("needs root (it creates network namespaces, links and daemons)");
  Signals signals;
  cluster::ClusterSpec spec;
  spec.state_dir = fs::absolute(opts.state_dir).lexically_normal().string();
  while (spec.state_dir.size() > 1 && spec.state_dir.back() == '/') spec.state_dir.pop_back();
  spec.nodes = opts.nodes;
  spec.overlay = opts.overlay;
  spec.fast_path = opts.fast_path;
  spec.dns = opts.dns;
  spec.agents = opts.agents;
  spec.api_port = opts.api_port;
  auto underlay = parse_prefix(opts.underlay_cidr);
  if (!underlay) return refuse("--underlay-cidr: " + underlay.error().message());
  spec.underlay = underlay->network();
  spec.cid = "0000";
  if (auto s = cluster::validate(spec); !s) return refuse(s.error().message());

  auto existing = cluster::load_record(spec.state_dir);
  if (!existing) return refuse(existing.error().message());
  if (*existing) {
    // The record names its own directory; a copied or moved state dir must not touch another.
    (*existing)->state_dir = spec.state_dir;
    if (!opts.fresh) return restore(**existing, opts, signals);
    say("podnet up --fresh: removing cluster " + (*existing)->cid + " in " + spec.state_dir);
    if (auto s = cluster::tear_down(Layout(**existing), [](const std::string& line) { say("  " + line); });
        !s)
      return refuse("--fresh: " + s.error().message());
  }
  // A failed `up` removes the state dir, so refusing a foreign non-empty one keeps that removal safe.
  if (!empty_or_absent(spec.state_dir))
    return refuse(spec.state_dir + " is not empty and holds no cluster; pick another --state-dir");
  auto underlay_lock = underlay_check_lock();
  if (!underlay_lock) return refuse(underlay_lock.error().message());
  if (auto s = underlay_unused(spec.underlay); !s) return refuse(s.error().message());

  std::string self = self_path();
  auto cni = cni_binary(opts, self, opts.agents);
  if (!cni) return refuse(cni.error().message());

  bool found = false;
  for (int attempt = 0; attempt < 32 && !found; ++attempt) {
    spec.cid = random_cid();
    auto free = cluster::cid_free(spec.cid);
    if (!free) return refuse(free.error().message());
    found = *free;
  }
  if (!found) return refuse("no free cluster id");

  Layout layout(spec);
  if (auto s = make_dirs(spec.state_dir, 0755); !s) return refuse(s.error().message());
  auto lock = FileLock::acquire(spec.state_dir + "/up.lock");
  if (!lock) return refuse(lock.error().message());
  if (auto s = cluster::write_record_exclusive(layout); !s) {
    if (s.error().code == EEXIST)
      return refuse("another `podnet up` is starting a cluster in " + spec.state_dir);
    return refuse(s.error().message());
  }
  say("podnet up: cluster " + describe(spec));

  Up up(layout, opts, self, *cni, signals, std::move(*underlay_lock));
  if (auto failed = up.run()) {
    std::fprintf(stderr, "podnet up: %s\n", failed->what.c_str());
    say("removing what was made");
    (void)cluster::tear_down(layout, [](const std::string& line) { say("  " + line); });
    return 1;
  }
  print_ready(layout);
  return 0;
}

}  // namespace podnet::cli
