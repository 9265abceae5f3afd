// Test helpers for code that needs network namespaces (tests run as root).
//
//   podnet::testing::ScopedNetns pod;          // pn-t-<pid>-<n>-<rand>, lo up, removed at scope exit
//   auto nl = pod.netlink();                   // a Netlink socket bound to `pod`, usable from here
//   pod.netns().run([&] { ... });              // code that must run inside (sysctl, sockets...)
//   EXPECT_EQ(pod.sh("ping -c1 -W1 10.0.0.2"), 0);
//
// Deleting the namespace destroys every link inside it, including veth pairs reaching into other
// namespaces, so a test that keeps all of its links inside ScopedNetns leaves nothing behind.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "netlink/link.h"
#include "netlink/netns.h"

namespace podnet::testing {

// A short name unique across the test processes running at the same time: "pn<tag><pid>".
inline std::string unique_ifname(const std::string& tag) {
  return "pn" + tag + std::to_string(::getpid());
}

class ScopedNetns {
 public:
  ScopedNetns() : name_(make_name()) {
    auto ns = netlink::create_named_netns(name_);
    if (!ns) throw std::runtime_error("ScopedNetns: " + ns.error().message());
    ns_.emplace(std::move(*ns));
    auto lo = ns_->run([]() -> Status {
      auto nl = netlink::Netlink::open();
      if (!nl) return std::unexpected(nl.error());
      auto link = nl->get_link("lo");
      if (!link) return std::unexpected(link.error());
      return nl->set_up(link->index);
    });
    if (!lo) {
      remove();
      throw std::runtime_error("ScopedNetns: set lo up: " + lo.error().message());
    }
  }
  ~ScopedNetns() { remove(); }
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  const netlink::NetNs& netns() const { return *ns_; }

  // A netlink socket keeps the namespace it was opened in, whatever thread uses it later.
  netlink::Netlink netlink() const {
    auto nl = ns_->run([] { return netlink::Netlink::open(); });
    if (!nl) throw std::runtime_error("ScopedNetns: open netlink: " + nl.error().message());
    return std::move(*nl);
  }

  // Runs a shell command (no single quotes in it) inside the namespace; returns its exit status.
  int sh(const std::string& cmd) const {
    int rc = std::system(("ip netns exec " + name_ + " sh -c '" + cmd + "' >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  // Runs a shell command inside the namespace and returns what it printed on stdout.
  std::string output(const std::string& cmd) const {
    std::string out;
    if (FILE* p = ::popen(("ip netns exec " + name_ + " sh -c '" + cmd + "' 2>&1").c_str(), "r")) {
      char buf[4096];
      for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
      ::pclose(p);
    }
    return out;
  }

 private:
  static std::string make_name() {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    char rnd[9];
    std::snprintf(rnd, sizeof rnd, "%08x", rd());
    return "pn-t-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + rnd;
  }
  void remove() {
    ns_.reset();  // the last fd to the namespace must go, or it outlives the unmount
    if (auto s = netlink::delete_named_netns(name_); !s)
      ADD_FAILURE() << "ScopedNetns: " << s.error().message();
  }

  std::string name_;
  std::optional<netlink::NetNs> ns_;
};

// Checks that the calling thread ends the scope in the namespace it started in, and puts it back
// there if not, so one broken test cannot run the next ones in a stray namespace.
class NetnsGuard {
 public:
  NetnsGuard() : origin_(netlink::NetNs::current()), inode_(current_inode()) {
    if (!origin_) ADD_FAILURE() << "NetnsGuard: " << origin_.error().message();
  }
  ~NetnsGuard() {
    if (!moved()) return;
    ADD_FAILURE() << "thread left in another network namespace";
    if (origin_) ::setns(origin_->fd(), CLONE_NEWNET);
  }
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

  bool moved() const { return current_inode() != inode_; }

  // Identity of the calling thread's network namespace.
  static ino_t current_inode() {
    struct stat st {};
    return ::stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
  }
  static ino_t inode_of(const netlink::NetNs& ns) {
    struct stat st {};
    return ::fstat(ns.fd(), &st) == 0 ? st.st_ino : 0;
  }

 private:
  Result<netlink::NetNs> origin_;
  ino_t inode_;
};

}  // namespace podnet::testing
