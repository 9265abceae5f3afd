// Bringing a `podnet up` cluster up (bring_up.h): each step keeps what exists, so the same steps
// make a new cluster and restore a stopped one.
#include "cluster/bring_up.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "client/https_client.h"
#include "cluster/processes.h"
#include "cluster/supervision.h"
#include "cluster/underlay.h"
#include "cluster/views.h"
#include "common/files.h"
#include "k8s/api_client.h"

namespace podnet::cluster {
namespace {

using namespace std::chrono_literals;

// The failure of a step, as up reports it before tearing down.
struct Failed {
  std::string what;
};

// Marks what a restoring `up` found in place.
std::string kept(bool present) {
  return present ? " (kept)" : "";
}

}  // namespace

class BringUp::Impl {
 public:
  Impl(Layout layout, BringUpOptions opts, UniqueFd underlay_lock)
      : layout_(std::move(layout)),
        underlay_lock_(std::move(underlay_lock)),
        opts_(std::move(opts)),
        self_(opts_.self),
        cni_(opts_.cni) {}

  // Runs every step, keeping what exists; nullopt on success (and not interrupted meanwhile).
  std::optional<Failed> run() {
    auto failed = steps();
    if (!failed && interrupted()) failed = Failed{"interrupted"};
    return failed;
  }

  // The supervisors this run started, and their daemons with them (a restore that failed).
  void stop_started() {
    std::vector<pid_t> pids;
    for (const auto& [daemon, started] : started_) pids.push_back(started.supervisor);
    cluster::stop_processes(pids, 8s);
  }

 private:
  void say(const std::string& line) const { opts_.say(line); }
  bool sleep(std::chrono::milliseconds d) const {
    return opts_.sleep ? opts_.sleep(d) : (std::this_thread::sleep_for(d), true);
  }
  bool interrupted() const { return !sleep(0ms); }

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
      if (interrupted()) return Failed{"interrupted"};
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
      if (!sleep(100ms)) return Failed{"interrupted"};
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
      if (!sleep(250ms)) return Failed{"interrupted"};
    }
  }

  Layout layout_;
  UniqueFd underlay_lock_;  // held from the free-underlay check until the underlay exists
  BringUpOptions opts_;
  std::string self_, cni_;
  std::map<std::string, Started> started_;
  std::map<std::string, std::string> old_heartbeats_;
  std::unique_ptr<client::HttpsApiClient> client_;
  bool said_credentials_ = false;
};

BringUp::BringUp(Layout layout, BringUpOptions options, UniqueFd underlay_lock)
    : impl_(std::make_unique<Impl>(std::move(layout), std::move(options), std::move(underlay_lock))) {}

BringUp::~BringUp() = default;

Status BringUp::run() {
  if (auto failed = impl_->run()) return fail_msg(failed->what);
  return {};
}

void BringUp::stop_started() {
  impl_->stop_started();
}

}  // namespace podnet::cluster
