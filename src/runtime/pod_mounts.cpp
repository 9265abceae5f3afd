#include "runtime/pod_mounts.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <thread>

#include "common/files.h"

namespace podnet::runtime {
namespace {

// dir becomes a mount point of its own with private propagation. A shared mount there would try to
// propagate each namespace bind into the peers, which the kernel refuses for mount namespace files.
Status ensure_private_dir(const std::string& dir) {
  if (auto s = make_dirs(dir); !s) return s;
  if (::mount("", dir.c_str(), nullptr, MS_PRIVATE, nullptr) == 0) return {};
  if (errno != EINVAL) return fail("make " + dir + " a private mount");
  // EINVAL: not a mount point yet.
  if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return fail("bind-mount " + dir + " onto itself");
  if (::mount("", dir.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)
    return fail("make " + dir + " a private mount");
  return {};
}

}  // namespace

Result<UniqueFd> create_pod_mount_ns(const std::string& dir, const std::string& name,
                                     const std::vector<BindFile>& binds) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return fail("pod mount namespace \"" + name + "\": invalid name", EINVAL);
  if (auto s = ensure_private_dir(dir); !s) return std::unexpected(s.error());
  std::string path = dir + "/" + name;
  (void)remove_pod_mount_ns(path);  // a half-made one from before
  {
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
    if (!file.valid()) return fail("create " + path);
  }
  // A throwaway thread unshares (its own fs context, so the caller's thread stays where it is),
  // mounts, and leaves an fd; the caller binds that from the node's namespace (a namespace cannot
  // bind itself).
  std::string step;
  int err = 0;
  UniqueFd ns;
  std::thread([&] {
    if (::unshare(CLONE_NEWNS) != 0) {
      err = errno, step = "unshare";
      return;
    }
    // Slave before anything is mounted: nothing below reaches the node.
    if (::mount("", "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
      err = errno, step = "make / a slave mount";
      return;
    }
    // The copy of the node's mount table holds a bind of every other pod's mount namespace (under
    // `dir`, a private mount: unmounting the node's bind would never reach this copy, so it would
    // keep a deleted pod's mount namespace alive as long as this pod lives) and of every pod's
    // netns file (under /run/netns, shared: every later pod's netns would propagate into every pod,
    // O(pods^2) mounts). A pod needs neither: detach both here (lazily; they may be busy, and the
    // node's own mounts are untouched: this copy is a slave). Not mounts here: nothing to do.
    for (const std::string& shadowed : {dir, std::string("/run/netns")})
      if (::umount2(shadowed.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        err = errno, step = "detach " + shadowed;
        return;
      }
    for (const auto& b : binds)
      if (::mount(b.source.c_str(), b.target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        err = errno, step = "bind-mount " + b.source + " on " + b.target;
        return;
      }
    ns = UniqueFd(::open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) err = errno, step = "open the namespace";
  }).join();
  if (err == 0 && ::mount(("/proc/self/fd/" + std::to_string(ns.get())).c_str(), path.c_str(), nullptr,
                          MS_BIND, nullptr) != 0)
    err = errno, step = "bind-mount the namespace on " + path;
  if (err != 0) {
    ::unlink(path.c_str());
    return fail("pod mount namespace " + name + ": " + step, err);
  }
  return ns;
}

Result<UniqueFd> open_pod_mount_ns(const std::string& path) {
  UniqueFd probe(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!probe.valid()) return fail("open mount namespace " + path);
  struct statfs fs {};
  if (::fstatfs(probe.get(), &fs) != 0) return fail("open mount namespace " + path);
  if (fs.f_type != NSFS_MAGIC) return fail("open mount namespace " + path + ": not a namespace", EINVAL);
  UniqueFd fd(::open(("/proc/self/fd/" + std::to_string(probe.get())).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return fail("open mount namespace " + path);
  if (::ioctl(fd.get(), NS_GET_NSTYPE) != CLONE_NEWNS)
    return fail("open mount namespace " + path + ": not a mount namespace", EINVAL);
  return fd;
}

Status ensure_tmpfs(const std::string& dir, uint64_t size_bytes) {
  if (auto s = make_dirs(dir, 0700); !s) return s;
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return fail("statfs " + dir);
  if (fs.f_type == TMPFS_MAGIC) return {};
  std::string options = "mode=0700,size=" + std::to_string(size_bytes);
  if (::mount("podnet-run", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.c_str()) != 0)
    return fail("mount a tmpfs on " + dir);
  return {};
}

Status remove_pod_mount_ns(const std::string& path) {
  // EINVAL: the file is there but nothing is mounted on it.
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != ENOENT && errno != EINVAL)
    return fail("unmount " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail("remove " + path);
  return {};
}

}  // namespace podnet::runtime
