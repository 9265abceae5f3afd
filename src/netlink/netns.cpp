#include "netlink/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <thread>

namespace podnet::netlink {
namespace {

constexpr const char* kNetnsDir = "/var/run/netns";

std::string named_path(const std::string& name) {
  return std::string(kNetnsDir) + "/" + name;
}

std::string file_kind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    default:
      return "a file";
  }
}

std::string namespace_kind(int type) {
  switch (type) {
    case CLONE_NEWNS:
      return "a mount";
    case CLONE_NEWUTS:
      return "a UTS";
    case CLONE_NEWIPC:
      return "an IPC";
    case CLONE_NEWUSER:
      return "a user";
    case CLONE_NEWPID:
      return "a PID";
    case CLONE_NEWCGROUP:
      return "a cgroup";
    default:
      return "another";
  }
}

bool valid_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

Result<NetNs> NetNs::open(const std::string& path) {
  // O_PATH opens any file without touching it: a FIFO would block a plain open, a device could
  // act on it. Only a file of the namespace filesystem is then opened for real.
  UniqueFd probe(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!probe.valid()) return fail("open netns " + path);
  struct statfs fs {};
  if (::fstatfs(probe.get(), &fs) != 0) return fail("open netns " + path);
  if (fs.f_type != NSFS_MAGIC) {
    struct stat st {};
    (void)::fstat(probe.get(), &st);
    return fail("open netns " + path + ": " + file_kind(st.st_mode) + ", not a network namespace", EINVAL);
  }
  UniqueFd fd(::open(("/proc/self/fd/" + std::to_string(probe.get())).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return fail("open netns " + path);
  int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
  if (type < 0) return fail("open netns " + path + ": namespace type");
  if (type != CLONE_NEWNET)
    return fail("open netns " + path + ": " + namespace_kind(type) + " namespace, not a network namespace",
                EINVAL);
  return NetNs(std::move(fd), path);
}

// /proc/self would name the thread-group leader's namespace, not this thread's.
Result<NetNs> NetNs::current() {
  return open("/proc/thread-self/ns/net");
}

Status NetNs::enter() const {
  if (::setns(fd_.get(), CLONE_NEWNET) != 0) return fail("enter netns " + path_);
  return {};
}

namespace {

// As iproute2 does before its first `ip netns add`: /run/netns becomes a mount point of its own
// (a recursive bind onto itself) with shared propagation, so namespace mounts made in other
// mount namespaces show up here and unmount everywhere. Without it, a later `ip netns add` makes
// that bind itself and hides the mounts podnet made below it: they can then neither be
// unmounted nor unlinked (EBUSY).
Status ensure_netns_dir() {
  // Already a mount point (made so by us or by iproute2, both shared): nothing to do. Asking again
  // for MS_SHARED|MS_REC walks every namespace bind below it under the kernel's mount lock, which
  // every pod start did: O(pods) work in a lock that all mounts and unshares of the machine share.
  struct statx stx {};
  if (::statx(AT_FDCWD, kNetnsDir, AT_NO_AUTOMOUNT, 0, &stx) == 0 &&
      (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
    return {};
  if (::mkdir(kNetnsDir, 0755) != 0 && errno != EEXIST) return fail(std::string("mkdir ") + kNetnsDir);
  if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return {};
  if (errno != EINVAL) return fail(std::string("make ") + kNetnsDir + " shared");
  // EINVAL: not a mount point yet.
  if (::mount(kNetnsDir, kNetnsDir, "none", MS_BIND | MS_REC, nullptr) != 0)
    return fail(std::string("bind-mount ") + kNetnsDir + " onto itself");
  if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) != 0)
    return fail(std::string("make ") + kNetnsDir + " shared");
  return {};
}

}  // namespace

Result<NetNs> create_named_netns(const std::string& name) {
  if (!valid_name(name)) return fail("create netns \"" + name + "\": invalid name", EINVAL);
  if (auto dir = ensure_netns_dir(); !dir) return std::unexpected(dir.error());
  std::string path = named_path(name);
  {
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
    if (!file.valid()) return fail("create netns file " + path);
  }

  // A throwaway thread unshares, so the caller's thread never leaves its namespace; the bind mount
  // keeps the new namespace alive after the thread exits.
  std::string step;
  int err = 0;
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      err = errno, step = "unshare";
    } else if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      err = errno, step = "bind-mount";
    }
  }).join();
  if (err != 0) {
    ::unlink(path.c_str());
    return fail("create netns " + name + ": " + step, err);
  }
  return NetNs::open(path);
}

Status delete_named_netns(const std::string& name) {
  if (!valid_name(name)) return fail("delete netns \"" + name + "\": invalid name", EINVAL);
  std::string path = named_path(name);
  // EINVAL: the file exists but nothing is mounted on it (half-created); still remove the file.
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != ENOENT && errno != EINVAL)
    return fail("unmount netns " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail("remove netns file " + path);
  return {};
}

}  // namespace podnet::netlink
