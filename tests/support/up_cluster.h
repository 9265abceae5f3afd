// A `podnet up` cluster for tests, driven through the real binary: a random free underlay /24 and a
// state dir under /var/tmp, `podnet down` at scope exit, and a check that nothing is left behind
// (namespaces, links, processes, files). Needs root.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "cluster/layout.h"
#include "cluster/processes.h"
#include "cluster/teardown.h"
#include "cluster/underlay.h"
#include "common/files.h"
#include "netlink/link.h"
#include "support/podnet_up.h"

namespace podnet::testing {

// True when this build has `podnet agent` (the agent is built on another branch until merged).
inline bool have_agent() {
  static const bool have = shell(podnet_bin() + " --help").out.find("\n  agent ") != std::string::npos;
  return have;
}

class UpCluster : public PodnetUp {
 public:
  UpCluster() : PodnetUp(podnet_bin(), "pn-up", "192.168.199.0/24") {
    reap_orphans();
    // Outside the state dir (up wants it empty): who owns the cluster, for reap_orphans().
    (void)write_file_atomic(state_dir_ + ".owner", std::to_string(::getpid()));
  }
  ~UpCluster() {
    ::unlink((state_dir_ + ".owner").c_str());
    if (!record_) {
      std::error_code ec;
      std::filesystem::remove_all(state_dir_, ec);
      return;
    }
    auto r = down();
    EXPECT_EQ(r.rc, 0) << r.out;
    auto left = leftovers();
    EXPECT_TRUE(left.empty()) << "left behind: " << ::testing::PrintToString(left);
  }

  // `podnet up` with a free underlay; flags are appended. The result of the last attempt.
  CommandResult up(int nodes, const std::string& flags = "") {
    CommandResult r = run_up(nodes, flags);
    load();
    if (!record_) remember_failed(r.out, nodes);
    return r;
  }
  // `podnet up` that gets SIGINT as soon as it printed `trigger`; rc 1000 if it never did.
  CommandResult up_and_interrupt(int nodes, const std::string& trigger, const std::string& flags = "") {
    new_underlay();
    std::string cmd = "exec " + up_command(nodes, flags) + " 2>&1";
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return {};
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(out[1]);
    CommandResult r;
    bool sent = false;
    char buf[512];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) {
      r.out.append(buf, static_cast<size_t>(n));
      if (!sent && r.out.find(trigger) != std::string::npos) sent = ::kill(pid, SIGINT) == 0;
    }
    ::close(out[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    r.rc = !sent ? 1000 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    load();
    if (!record_) remember_failed(r.out, nodes);
    return r;
  }
  // Reads the record `up` wrote (also after a failed `up`, to check its cleanup).
  void load() {
    if (load_record()) {
      // Everything that could be left behind, named before `down` removes the record.
      cluster::Layout l(*record_);
      watched_netns_.clear();
      for (const auto& e : std::filesystem::directory_iterator("/run/netns"))
        watched_netns_.push_back(e.path().filename().string());
      watched_netns_ = cluster::cluster_netns(l, watched_netns_, cluster::recorded_pods(l));
    }
  }

  // What exists of the cluster right now; empty when it is completely gone.
  std::vector<std::string> leftovers() {
    std::vector<std::string> left;
    if (std::filesystem::exists(state_dir_)) left.push_back("state dir " + state_dir_);
    if (!record_) return left;
    cluster::Layout l(*record_);
    load_pods_netns(l);
    for (const auto& e : std::filesystem::directory_iterator("/run/netns")) {
      std::string n = e.path().filename().string();
      if (n.starts_with("pn-" + l.spec().cid + "-")) left.push_back("netns " + n);
    }
    for (const auto& n : watched_netns_)
      if (std::filesystem::exists("/run/netns/" + n)) left.push_back("netns " + n);
    if (auto nl = netlink::Netlink::open()) {
      if (auto links = nl->list_links())
        for (const auto& link : *links)
          if (link.name == l.root_link() || link.name.starts_with("pn" + l.spec().cid + "n"))
            left.push_back("link " + link.name);
    }
    for (pid_t pid : processes_naming_state_dir()) left.push_back("process " + std::to_string(pid));
    return left;
  }

  // kill -9 of the daemon's supervisor, then of the daemon: it stays dead, as on a machine where
  // nothing restarts it.
  void kill_unsupervised(const std::string& daemon) {
    for (pid_t pid : {supervisor_pid(daemon), daemon_pid(daemon)})
      if (pid > 0 && cluster::cmdline_contains(pid, state_dir_))
        cluster::stop_processes({pid}, std::chrono::milliseconds(0));
  }

  // What a reboot does to the cluster, leaving its state dir: every process gone (supervisors,
  // daemons, pods' containers), the bpffs mounts below the state dir gone, its namespaces and
  // links gone. The netns files under /run/netns stay, unmounted, as they do where /run is on disk
  // (this project's VMs). Ends the test on failure.
  void simulate_reboot() {
    cluster::Layout l(*record_);
    load_pods_netns(l);
    std::vector<std::string> all;
    for (const auto& e : std::filesystem::directory_iterator("/run/netns"))
      all.push_back(e.path().filename().string());
    auto names = cluster::cluster_netns(l, all, cluster::recorded_pods(l));
    std::set<cluster::NsId> ids;
    for (const auto& n : names)
      if (auto id = cluster::netns_id("/run/netns/" + n)) ids.insert(*id);
    for (int round = 0; round < 20; ++round) {
      auto pids = processes_naming_state_dir();
      for (pid_t p : cluster::pids_in_netns(ids)) pids.push_back(p);
      if (pids.empty()) break;
      cluster::stop_processes(pids, std::chrono::milliseconds(0));
    }
    ASSERT_TRUE(cluster::unmount_below(state_dir_));
    for (const auto& n : names) ASSERT_EQ(::umount2(("/run/netns/" + n).c_str(), MNT_DETACH), 0) << n;
    ASSERT_TRUE(cluster::delete_root_links(l));
  }

  // Records the pod namespaces of the moment, so leftovers() checks them after `down` too.
  void load_pods_netns(const cluster::Layout& l) {
    std::vector<std::string> all;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec))
      all.push_back(e.path().filename().string());
    for (const auto& n : cluster::cluster_netns(l, all, cluster::recorded_pods(l)))
      if (std::find(watched_netns_.begin(), watched_netns_.end(), n) == watched_netns_.end())
        watched_netns_.push_back(n);
  }

 private:
  // Clusters of test processes that were killed (a ctest timeout) before their destructor ran.
  static void reap_orphans() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/var/tmp", ec)) {
      std::string path = e.path().string();
      if (!path.starts_with("/var/tmp/pn-up-") || !path.ends_with(".owner")) continue;
      auto owner = cluster::read_pid_file(path);
      if (owner && (::kill(*owner, 0) == 0 || errno != ESRCH)) continue;
      std::string dir = path.substr(0, path.size() - 6);
      shell(podnet_bin() + " down --state-dir " + dir);
      std::filesystem::remove_all(dir, ec);
      ::unlink(path.c_str());
    }
  }

  // After a failed `up` the record is gone with the state dir; the cid it printed is enough for
  // leftovers() to look for what it may have left.
  void remember_failed(const std::string& out, int nodes) {
    const std::string marker = "podnet up: cluster ";
    size_t at = out.find(marker);
    if (at == std::string::npos) return;
    cluster::ClusterSpec s;
    s.state_dir = state_dir_;
    s.cid = out.substr(at + marker.size(), 4);
    s.underlay = parse_prefix(underlay_).value();
    s.nodes = nodes;
    record_ = s;
  }

  std::vector<pid_t> processes_naming_state_dir() const {
    std::vector<pid_t> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string name = e.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      pid_t pid = std::stoi(name);
      if (pid != ::getpid() && cluster::cmdline_contains(pid, state_dir_)) out.push_back(pid);
    }
    return out;
  }

  std::vector<std::string> watched_netns_;
};

}  // namespace podnet::testing
