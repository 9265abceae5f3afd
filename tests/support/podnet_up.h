// A `podnet up` cluster driven through the real binary, the part the tests (support/up_cluster.h)
// and the benchmarks (bench/bench_cluster.h) share: a private state dir under /var/tmp, `up` on a
// random underlay /24 that overlaps nothing, the record `up` wrote, `down`. No GoogleTest here, and
// nothing is removed by this class: the users decide how to clean up. Needs root.
#pragma once

#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "cluster/layout.h"
#include "cluster/processes.h"
#include "cluster/underlay.h"
#include "support/kubectl.h"
#include "support/process.h"

namespace podnet::testing {

class PodnetUp {
 public:
  // `podnet` is the binary; the state dir is a new /var/tmp/<prefix>-XXXXXX; `fallback_underlay` is
  // used when no free random /24 turns up.
  PodnetUp(std::string podnet, const std::string& prefix, std::string fallback_underlay)
      : podnet_(std::move(podnet)), fallback_underlay_(std::move(fallback_underlay)) {
    std::string tmpl = "/var/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data())) state_dir_ = tmpl;
  }
  PodnetUp(const PodnetUp&) = delete;
  PodnetUp& operator=(const PodnetUp&) = delete;

  // `podnet up --nodes N ... <flags>` on a free underlay, again on another one (5 tries) while `up`
  // says it overlaps. The result of the last attempt; read the record with load_record().
  CommandResult run_up(int nodes, const std::string& flags) {
    CommandResult r;
    for (int attempt = 0; attempt < 5; ++attempt) {
      underlay_ = pick_underlay();
      r = shell(up_command(nodes, flags));
      if (r.rc == 0 || r.out.find("overlaps") == std::string::npos) break;
    }
    return r;
  }
  // The `podnet up` command line on the current underlay.
  std::string up_command(int nodes, const std::string& flags) const {
    return podnet_ + " up --nodes " + std::to_string(nodes) + " --state-dir " + state_dir_ +
           " --underlay-cidr " + underlay_ + " " + flags;
  }
  // Picks a new random underlay for up_command().
  void new_underlay() { underlay_ = pick_underlay(); }
  // `podnet up` on the state dir as it is (the cluster's record gives nodes, underlay, ...).
  CommandResult up_again(const std::string& flags = "") const {
    return shell(podnet_ + " up --state-dir " + state_dir_ + " " + flags);
  }

  CommandResult down() const { return shell(podnet_ + " down --state-dir " + state_dir_); }
  CommandResult status() const { return shell(podnet_ + " status --state-dir " + state_dir_); }
  CommandResult kubectl(const std::string& args) const {
    return shell(std::string(kKubectl) + " --kubeconfig " + kubeconfig() + " --request-timeout=20s " + args);
  }

  // Reads the record `up` wrote into the state dir; false when there is none.
  bool load_record() {
    auto rec = cluster::load_record(state_dir_);
    if (!rec || !*rec) return false;
    record_ = **rec;
    return true;
  }

  bool running() const { return record_.has_value(); }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& underlay() const { return underlay_; }
  cluster::Layout layout() const { return cluster::Layout(*record_); }
  std::string kubeconfig() const { return state_dir_ + "/server/admin.kubeconfig"; }
  std::string cid() const { return record_ ? record_->cid : ""; }
  std::string node_netns(int i) const { return layout().node_netns(i); }
  std::string node_ip(int i) const { return layout().node_ip(i).addr.to_string(); }
  std::string gateway() const { return layout().gateway().addr.to_string(); }
  pid_t daemon_pid(const std::string& daemon) const {
    return cluster::read_pid_file(layout().pid_path(daemon)).value_or(-1);
  }
  // The `podnet supervise` that runs the daemon.
  pid_t supervisor_pid(const std::string& daemon) const {
    return cluster::read_pid_file(layout().supervisor_pid_path(daemon)).value_or(-1);
  }
  // A shell command inside node i's namespace.
  CommandResult in_node(int i, const std::string& cmd) const {
    return shell("ip netns exec " + node_netns(i) + " sh -c '" + cmd + "'");
  }

 protected:
  std::string podnet_;
  std::string state_dir_;
  std::string underlay_;
  std::optional<cluster::ClusterSpec> record_;

 private:
  std::string pick_underlay() const {
    auto used = cluster::used_prefixes();
    for (int i = 0; i < 50; ++i) {
      uint8_t r = 0;
      (void)!::getrandom(&r, 1, 0);
      std::string cidr = "192.168." + std::to_string(100 + r % 150) + ".0/24";
      if (!used || cluster::check_underlay_free(parse_prefix(cidr).value(), *used)) return cidr;
    }
    return fallback_underlay_;
  }

  std::string fallback_underlay_;
};

}  // namespace podnet::testing
