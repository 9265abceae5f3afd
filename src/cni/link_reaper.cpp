#include "cni/link_reaper.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/files.h"
#include "netlink/link.h"

namespace podnet::cni {

std::string LinkReaper::marker(const netlink::NetNs& ns, const std::string& ifname) const {
  struct stat st {};
  ::fstat(ns.fd(), &st);
  return dir_ + "/" + std::to_string(st.st_dev) + "-" + std::to_string(st.st_ino) + "-" + ifname;
}

Result<int> LinkReaper::find(const netlink::NetNs& ns, const std::string& ifname) const {
  return ns.run([&]() -> Result<int> {
    PODNET_TRY(nl, netlink::Netlink::open());
    PODNET_TRY(link, nl.find_link(ifname));
    return link ? link->index : 0;
  });
}

Status LinkReaper::teardown_detached(const netlink::NetNs* ns, const std::string& ifname, int index) const {
  std::string mark;
  if (ns && index > 0) {
    if (auto s = make_dirs(dir_); !s) return s;
    mark = marker(*ns, ifname);
    if (auto s = write_file_atomic(mark, std::to_string(index)); !s) return s;
  }
  pid_t child = ::fork();
  if (child < 0) {
    if (!mark.empty()) ::unlink(mark.c_str());
    return fail("fork to tear down " + ifname);
  }
  if (child == 0) {
    // Double fork: the grandchild belongs to init (or the runtime's subreaper), not to us.
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    int devnull = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) ::dup2(devnull, fd);
    int rc = 0;
    if (!mark.empty()) {
      rc = 1;
      if (::setns(ns->fd(), CLONE_NEWNET) == 0) {
        if (auto nl = netlink::Netlink::open()) {
          auto s = nl->delete_link(index);
          rc = s || s.error().code == ENODEV ? 0 : 1;
        }
      }
      ::unlink(mark.c_str());
    }
    ::_exit(rc);  // closes the inherited descriptors: the slow socket releases happen here
  }
  int st = 0;
  while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
  }
  return {};
}

void LinkReaper::wait_pending(const netlink::NetNs& ns, const std::string& ifname,
                              std::chrono::milliseconds limit) const {
  std::string mark = marker(ns, ifname);
  struct stat st {};
  if (::stat(mark.c_str(), &st) != 0) return;  // the common case: one stat, nothing pending
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline && ::stat(mark.c_str(), &st) == 0) {
    auto gone = ns.run([&]() -> Result<bool> {
      PODNET_TRY(nl, netlink::Netlink::open());
      PODNET_TRY(link, nl.find_link(ifname));
      return !link.has_value();
    });
    if (gone && *gone) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::unlink(mark.c_str());
}

}  // namespace podnet::cni
