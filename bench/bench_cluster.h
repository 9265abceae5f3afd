// A `podnet up` cluster for benchmarks, driven through the real binary: a private state dir under
// /var/tmp, a random underlay /24 that overlaps nothing, and `podnet down` when the object goes away
// or (through the ScopedCleanup signal thread) when SIGINT/SIGTERM/SIGHUP arrives. Needs root.
#pragma once

#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cluster/layout.h"
#include "cluster/processes.h"
#include "cluster/underlay.h"

namespace podnet::bench {

struct CommandResult {
  int rc = -1;
  std::string out;  // stdout and stderr
};

inline CommandResult shell(const std::string& cmd) {
  CommandResult r;
  if (FILE* p = ::popen((cmd + " 2>&1").c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    int st = ::pclose(p);
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  return r;
}

// Cleanups to run on a terminating signal, then _exit(130). Construct it in main() before any other
// thread starts: it blocks the signals so that only its own thread receives them.
class ScopedCleanup {
 public:
  ScopedCleanup() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([this, set] {
      int sig = 0;
      ::sigwait(&set, &sig);
      std::fprintf(stderr, "cluster_bench: signal %d, cleaning up\n", sig);
      std::lock_guard lock(mu_);
      for (auto& [id, fn] : actions_) fn();
      ::_exit(130);
    }).detach();
    instance_ = this;
  }
  static ScopedCleanup& get() { return *instance_; }
  int add(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    actions_[++next_] = std::move(fn);
    return next_;
  }
  void remove(int id) {
    std::lock_guard lock(mu_);
    actions_.erase(id);
  }

 private:
  static inline ScopedCleanup* instance_ = nullptr;
  std::mutex mu_;
  std::map<int, std::function<void()>> actions_;
  int next_ = 0;
};

class BenchCluster {
 public:
  explicit BenchCluster(std::string podnet) : podnet_(std::move(podnet)) {
    char tmpl[] = "/var/tmp/pn-cbench-XXXXXX";
    if (::mkdtemp(tmpl)) state_dir_ = tmpl;
    cleanup_id_ = ScopedCleanup::get().add([this] { down(); });
  }
  ~BenchCluster() {
    ScopedCleanup::get().remove(cleanup_id_);
    down();
  }
  BenchCluster(const BenchCluster&) = delete;
  BenchCluster& operator=(const BenchCluster&) = delete;

  // `podnet up` on a free underlay; prints its output on failure.
  bool up(int nodes, const std::string& overlay) {
    CommandResult r;
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::string cidr = pick_underlay();
      r = shell(podnet_ + " up --nodes " + std::to_string(nodes) + " --overlay " + overlay + " --state-dir " +
                state_dir_ + " --underlay-cidr " + cidr);
      if (r.rc == 0 || r.out.find("overlaps") == std::string::npos) break;
    }
    if (auto rec = cluster::load_record(state_dir_); rec && *rec) record_ = **rec;
    if (r.rc != 0 || !record_) {
      std::fprintf(stderr, "podnet up failed (%d):\n%s\n", r.rc, r.out.c_str());
      return false;
    }
    return true;
  }
  void down() {
    std::lock_guard lock(down_mu_);
    if (state_dir_.empty()) return;
    // For a look at what the daemons did: PN_BENCH_LOGS=/var/tmp/pn-somewhere keeps their logs.
    if (const char* keep = ::getenv("PN_BENCH_LOGS"))
      shell("mkdir -p " + std::string(keep) + " && cp -r " + state_dir_ + "/logs " + keep + "/" +
            std::filesystem::path(state_dir_).filename().string());
    auto r = shell(podnet_ + " down --state-dir " + state_dir_);
    if (r.rc != 0) std::fprintf(stderr, "podnet down failed (%d):\n%s\n", r.rc, r.out.c_str());
    std::error_code ec;
    std::filesystem::remove_all(state_dir_, ec);
    state_dir_.clear();
  }

  cluster::Layout layout() const { return cluster::Layout(*record_); }
  std::string kubeconfig() const { return layout().admin_kubeconfig(); }
  std::string cid() const { return record_->cid; }
  pid_t daemon_pid(const std::string& daemon) const {
    return cluster::read_pid_file(layout().pid_path(daemon)).value_or(-1);
  }

 private:
  static std::string pick_underlay() {
    auto used = cluster::used_prefixes();
    for (int i = 0; i < 50; ++i) {
      uint8_t r = 0;
      (void)!::getrandom(&r, 1, 0);
      std::string cidr = "192.168." + std::to_string(100 + r % 150) + ".0/24";
      if (!used || cluster::check_underlay_free(parse_prefix(cidr).value(), *used)) return cidr;
    }
    return "192.168.198.0/24";
  }

  std::string podnet_;
  std::string state_dir_;
  std::optional<cluster::ClusterSpec> record_;
  std::mutex down_mu_;
  int cleanup_id_ = 0;
};

}  // namespace podnet::bench
