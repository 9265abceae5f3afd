#include "cni/link_reaper.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

#include "common/files.h"
#include "netlink/link.h"

namespace podnet::cni {

// One marker per deletion, "<netns dev>-<netns inode>-<ifname>@<ifindex>": two DELs of the same
// interface in a row (DEL, ADD, DEL) never share a marker, so a slow reaper cannot remove the
// marker of a later one.
std::string LinkReaper::marker_prefix(const netlink::NetNs& ns, const std::string& ifname) const {
  struct stat st {};
  ::fstat(ns.fd(), &st);
  return std::to_string(st.st_dev) + "-" + std::to_string(st.st_ino) + "-" + ifname + "@";
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
    mark = dir_ + "/" + marker_prefix(*ns, ifname) + std::to_string(index);
    if (auto s = write_file_atomic(mark, std::to_string(index)); !s) return s;
  }
  pid_t child = ::fork();
  if (child < 0) {
    if (!mark.empty()) ::unlink(mark.c_str());
    return fail("fork to tear down " + ifname);
  }
  if (child == 0) {
    // Let go of stdio before the grandchild exists: the runtime reads our stdout until EOF, and a
    // grandchild still holding it (not yet scheduled, on a busy node) would delay that EOF.
    int devnull = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) ::dup2(devnull, fd);
    // Double fork: the grandchild belongs to init (or the runtime's subreaper), not to us.
    ::setsid();
    if (::fork() != 0) ::_exit(0);
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

bool LinkReaper::wait_pending(const netlink::NetNs& ns, const std::string& ifname,
                              std::chrono::milliseconds limit) const {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return false;  // no DEL ever deferred anything here
  std::string prefix = marker_prefix(ns, ifname);
  std::vector<std::string> pending;
  while (dirent* e = ::readdir(d)) {
    if (std::string_view(e->d_name).starts_with(prefix)) pending.emplace_back(e->d_name);
  }
  ::closedir(d);
  if (pending.empty()) return false;

  auto deadline = std::chrono::steady_clock::now() + limit;
  for (const auto& name : pending) {
    int index = std::atoi(name.c_str() + prefix.size());
    std::string path = dir_ + "/" + name;
    struct stat st {};
    while (std::chrono::steady_clock::now() < deadline && ::stat(path.c_str(), &st) == 0) {
      auto gone = ns.run([&]() -> Result<bool> {
        PODNET_TRY(nl, netlink::Netlink::open());
        auto link = nl.get_link(index);
        if (!link && link.error().code == ENODEV) return true;
        if (!link) return std::unexpected(link.error());
        return false;
      });
      if (!gone || *gone) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::unlink(path.c_str());
  }
  return true;
}

}  // namespace podnet::cni
