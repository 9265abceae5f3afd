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

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "cli/cluster_cmds.h"
#include "cluster/bring_up.h"
#include "cluster/processes.h"
#include "cluster/supervision.h"
#include "cluster/teardown.h"
#include "cluster/underlay.h"
#include "cluster/views.h"
#include "common/files.h"
#include "common/ip.h"

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

// The bring-up's settings from the command line: progress to stdout, waits broken off by a signal.
cluster::BringUpOptions bring_up_options(const UpOptions& opts, std::string self, std::string cni,
                                         Signals& signals) {
  cluster::BringUpOptions o;
  o.self = std::move(self);
  o.cni = std::move(cni);
  o.streaming_idle_timeout = opts.streaming_idle_timeout;
  o.timeout_seconds = opts.timeout_seconds;
  o.say = say;
  o.sleep = [&signals](std::chrono::milliseconds d) { return signals.sleep(d); };
  return o;
}

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
  cluster::BringUp up(layout, bring_up_options(opts, self, *cni, signals), std::move(underlay_lock));
  if (auto ran = up.run(); !ran) {
    std::fprintf(stderr, "podnet up: %s\n", ran.error().message().c_str());
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

  cluster::BringUp up(layout, bring_up_options(opts, self, *cni, signals), std::move(*underlay_lock));
  if (auto ran = up.run(); !ran) {
    std::fprintf(stderr, "podnet up: %s\n", ran.error().message().c_str());
    say("removing what was made");
    (void)cluster::tear_down(layout, [](const std::string& line) { say("  " + line); });
    return 1;
  }
  print_ready(layout);
  return 0;
}

}  // namespace podnet::cli
