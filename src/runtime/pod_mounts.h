// A pod's mount namespace: a copy of the node's (propagation made slave first, so mounts made in it
// never reach the node, while the node's later mounts and unmounts still reach it), in which the
// pod's own /etc/resolv.conf and /etc/hosts are bind-mounted; the rest of the node's filesystem
// stays visible. Like a named netns, it is kept alive by a bind mount of its nsfs file, here
// <dir>/<name>, where <dir> is a private mount of its own (a mount namespace file can only be
// bound where the mount does not propagate). Containers and exec probes join it with setns.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/fd.h"

namespace podnet::runtime {

struct BindFile {
  std::string source;  // a file of the node (the pod's directory)
  std::string target;  // where the pod sees it: /etc/resolv.conf, /etc/hosts (must exist)
};

// Makes the namespace, bound at dir/name (dir is created and made a private mount if needed).
// Returns an fd of it, for setns(fd, CLONE_NEWNS).
Result<UniqueFd> create_pod_mount_ns(const std::string& dir, const std::string& name,
                                     const std::vector<BindFile>& binds);
// An fd of a namespace made earlier; fails (EINVAL) when path is not a bound mount namespace.
Result<UniqueFd> open_pod_mount_ns(const std::string& path);
// Unbinds and removes dir/name; missing is fine. Its processes keep the namespace until they end.
Status remove_pod_mount_ns(const std::string& path);

// The node's run dir (PodManagerOptions::run_dir, the agent's --run-dir) on a tmpfs: creates dir
// and mounts a tmpfs there (mode 0700, at most `size_bytes`) unless it is a tmpfs already (a
// directory under a tmpfs /run, or one mounted before an agent restart). What lives there dies with
// the machine, as the pods' sandboxes do.
Status ensure_tmpfs(const std::string& dir, uint64_t size_bytes);

}  // namespace podnet::runtime
