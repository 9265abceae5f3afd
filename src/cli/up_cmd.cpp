// `podnet up`. Every step after the cluster record is written is undone by tear_down() when a
// later step fails or Ctrl-C arrives: SIGINT/SIGTERM/SIGHUP stay blocked and are polled between
// steps and while waiting, so no signal can cut the cleanup short.
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "cli/cluster_cmds.h"
#include "cluster/processes.h"
#include "cluster/teardown.h"
#include "cluster/underlay.h"
#include "cluster/views.h"
#include "common/files.h"

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

class Up {
 public:
  Up(Layout layout, const UpOptions& opts, std::string self, std::string cni, Signals& signals)
      : layout_(std::move(layout)),
        opts_(opts),
        self_(std::move(self)),
        cni_(std::move(cni)),
        signals_(signals) {}

  // Runs every step; nullopt on success.
  std::optional<Failed> run() {
    const auto& spec = layout_.spec();
    say("* underlay: netns " + layout_.underlay_netns() + ", reached from here by " + layout_.root_link() +
        " " + layout_.gateway().str());
    if (auto s = cluster::create_underlay(layout_); !s) return Failed{s.error().message()};
    for (int i = 1; i <= spec.nodes; ++i) {
      if (signals_.interrupted()) return Failed{"interrupted"};
      say("* " + layout_.node_name(i) + ": netns " + layout_.node_netns(i) + ", eth0 " +
          layout_.node_ip(i).str() + " (veth " + layout_.node_veth(i) + ")");
      if (auto s = cluster::create_node(layout_, i); !s) return Failed{s.error().message()};
    }
    for (const auto& dir : {layout_.logs_dir(), layout_.pids_dir(), layout_.server_dir()})
      if (auto s = make_dirs(dir, 0700); !s) return Failed{s.error().message()};
    for (int i = 1; i <= spec.nodes; ++i)
      if (auto s = make_dirs(layout_.node_dir(i), 0700); !s) return Failed{s.error().message()};

    if (auto f = start_server()) return f;
    if (!opts_.agents) {
      say("* no agents started (--no-agents): node namespaces are ready for agents run by hand");
      return std::nullopt;
    }
    for (int i = 1; i <= spec.nodes; ++i)
      if (auto f = issue_credential(i)) return f;
    for (int i = 1; i <= spec.nodes; ++i)
      if (auto f = start_agent(i)) return f;
    return wait_ready();
  }

  bool interrupted() { return signals_.interrupted(); }

 private:
  // Reports a daemon that exited, with the end of its log.
  std::optional<Failed> check_alive(const std::string& daemon) {
    auto it = pids_.find(daemon);
    if (it == pids_.end()) return std::nullopt;
    int status = 0;
    if (cluster::probe(it->second, &status) == cluster::ProcState::kRunning) return std::nullopt;
    std::string log = layout_.log_path(daemon);
    return Failed{daemon + " exited; end of " + log + ":\n" + cluster::tail_file(log, 15)};
  }

  std::optional<Failed> spawn(const std::string& daemon, std::vector<std::string> argv,
                              const std::string& netns) {
    cluster::DaemonSpec d{std::move(argv), netns, layout_.log_path(daemon), layout_.pid_path(daemon)};
    auto pid = cluster::spawn_daemon(d);
    if (!pid) return Failed{daemon + ": " + pid.error().message()};
    pids_[daemon] = *pid;
    return std::nullopt;
  }

  std::optional<Failed> start_server() {
    const auto& spec = layout_.spec();
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
    if (auto f = spawn("server", argv, "")) return f;
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

  // FALLBACK until `podnet server --issue-node-credential` exists (branch wip/api): agents get a
  // copy of the admin credential. Remove this function and its caller's branch once it is merged.
  std::optional<Failed> copy_admin_credential(int i) {
    auto text = read_file(layout_.admin_kubeconfig());
    if (!text) return Failed{text.error().message()};
    if (auto s = write_file_atomic(layout_.node_kubeconfig(i), *text, 0600); !s)
      return Failed{s.error().message()};
    return std::nullopt;
  }

  bool server_issues_credentials() {
    if (!issues_credentials_) {
      auto help = cluster::capture_command({self_, "server", "--help"});
      issues_credentials_ = help && help->second.find("--issue-node-credential") != std::string::npos;
    }
    return *issues_credentials_;
  }

  std::optional<Failed> issue_credential(int i) {
    const std::string node = layout_.node_name(i);
    if (!server_issues_credentials()) {
      if (i == 1)
        say("* node credentials: this podnet has no --issue-node-credential, agents use the admin's");
      return copy_admin_credential(i);
    }
    if (i == 1) say("* node credentials (system:node:<name>, signed by the cluster CA)");
    const std::string log = layout_.log_path("credentials");
    auto rc = cluster::run_command(
        {self_, "server", "--data-dir", layout_.server_dir(), "--bind-address",
         layout_.gateway().addr.to_string(), "--port", std::to_string(layout_.spec().api_port),
         "--issue-node-credential", node, "--out", layout_.node_kubeconfig(i)},
        log);
    if (!rc) return Failed{"node credential for " + node + ": " + rc.error().message()};
    if (*rc != 0)
      return Failed{"node credential for " + node + ": exit status " + std::to_string(*rc) + "; end of " +
                    log + ":\n" + cluster::tail_file(log, 10)};
    return std::nullopt;
  }

  std::optional<Failed> start_agent(int i) {
    const auto& spec = layout_.spec();
    const std::string node = layout_.node_name(i);
    const std::string daemon = Layout::agent_daemon(node);
    say("* agent " + node + " in " + layout_.node_netns(i) + " (log " + layout_.log_path(daemon) + ")");
    std::vector<std::string> args{self_, "agent", "--run-pods"};
    for (const auto& [flag, value] :
         std::vector<std::pair<const char*, std::string>>{{"--kubeconfig", layout_.node_kubeconfig(i)},
                                                          {"--node-name", node},
                                                          {"--node-ip", layout_.node_ip(i).addr.to_string()},
                                                          {"--overlay", spec.overlay},
                                                          {"--state-dir", layout_.node_dir(i)},
                                                          {"--cluster-cidr", spec.cluster_cidr},
                                                          {"--cni-bin", cni_}})
      args.insert(args.end(), {flag, value});
    if (!spec.fast_path) args.push_back("--no-fast-path");
    return spawn(daemon, args, "/run/netns/" + layout_.node_netns(i));
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
          if (!n.ready || reported[n.name]) continue;
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
  const UpOptions& opts_;
  std::string self_, cni_;
  Signals& signals_;
  std::map<std::string, pid_t> pids_;
  std::unique_ptr<client::HttpsApiClient> client_;
  std::optional<bool> issues_credentials_;
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
  spec.api_port = opts.api_port;
  auto underlay = parse_prefix(opts.underlay_cidr);
  if (!underlay) return refuse("--underlay-cidr: " + underlay.error().message());
  spec.underlay = underlay->network();
  spec.cid = "0000";
  if (auto s = cluster::validate(spec); !s) return refuse(s.error().message());

  auto existing = cluster::load_record(spec.state_dir);
  if (!existing) return refuse(existing.error().message());
  if (*existing)
    return refuse("a cluster (" + (*existing)->cid + ") already runs in " + spec.state_dir +
                  "; run `podnet down" + state_flag(spec.state_dir) + "` first");
  // A failed `up` removes the state dir, so refusing a foreign non-empty one keeps that removal safe.
  if (!empty_or_absent(spec.state_dir))
    return refuse(spec.state_dir + " is not empty and holds no cluster; pick another --state-dir");
  auto used = cluster::used_prefixes();
  if (!used) return refuse(used.error().message());
  if (auto s = cluster::check_underlay_free(spec.underlay, *used); !s) return refuse(s.error().message());

  std::string self = self_path();
  std::string cni =
      opts.cni_binary.empty() ? fs::path(self).parent_path().string() + "/podnet-cni" : opts.cni_binary;
  if (opts.agents && ::access(cni.c_str(), X_OK) != 0)
    return refuse("CNI plugin not found at " + cni + " (use --cni-bin)");
  std::string shim = fs::path(cni).parent_path().string() + "/podnet-shim";
  if (opts.agents && ::access(shim.c_str(), X_OK) != 0)
    return refuse("container shim not found at " + shim + " (it belongs next to podnet-cni)");

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
  if (auto s = cluster::write_record_exclusive(layout); !s) {
    if (s.error().code == EEXIST)
      return refuse("another `podnet up` is starting a cluster in " + spec.state_dir);
    return refuse(s.error().message());
  }
  say("podnet up: cluster " + spec.cid + ", " + std::to_string(spec.nodes) + " node(s), overlay " +
      spec.overlay + (spec.fast_path ? "" : " (no eBPF fast path)") + ", underlay " + spec.underlay.str() +
      ", state in " + spec.state_dir);

  Up up(layout, opts, self, cni, signals);
  auto failed = up.run();
  if (!failed && up.interrupted()) failed = Failed{"interrupted"};
  if (failed) {
    std::fprintf(stderr, "podnet up: %s\n", failed->what.c_str());
    say("removing what was made");
    (void)cluster::tear_down(layout, [](const std::string& line) { say("  " + line); });
    return 1;
  }
  const std::string flag = state_flag(spec.state_dir);
  say("");
  say("The cluster is up. kubeconfig: " + layout.admin_kubeconfig());
  say("  export KUBECONFIG=" + layout.admin_kubeconfig());
  say("  kubectl get nodes -o wide");
  say("  podnet status" + flag + "       # nodes, pods, services at a glance");
  say("  podnet down" + flag + "         # remove the cluster and everything it made");
  return 0;
}

}  // namespace podnet::cli
