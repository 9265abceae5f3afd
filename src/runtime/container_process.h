// Containers as detached processes. A launch execs podnet-shim (shim.h), which starts the container
// (own process group, the pod's netns, working dir, stdio to pipes), copies the container's output
// into the log file in CRI format and writes its exit code to a file. The agent can die and come
// back: the shim and container live on, and pid + start time (from /proc/<pid>/stat) tell a
// re-adopted process from a reused pid.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"

namespace podnet::runtime {

struct ProcessId {
  pid_t pid = 0;
  uint64_t start_time = 0;  // clock ticks since boot, field 22 of /proc/<pid>/stat
  bool operator==(const ProcessId&) const = default;
};

// 0 when the process does not exist.
uint64_t proc_start_time(pid_t pid);
// The same process still exists and has not exited (a zombie counts as gone).
bool process_alive(const ProcessId& id);

struct ContainerLaunch {
  std::string shim_path;   // podnet-shim
  std::string executable;  // absolute path (resolve_executable)
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value"
  std::string working_dir;       // empty: /
  int netns_fd = -1;             // the pod's network namespace; -1: the caller's
  int mntns_fd = -1;             // the pod's mount namespace (pod_mounts.h); -1: the caller's
  std::string hostname;          // non-empty: a private UTS namespace with this hostname
  std::string log_path, exit_path;
  // The shim's attach socket (shim.h); empty: none. stdin/stdin_once/tty: the container's spec.
  std::string attach_path;
  bool stdin = false, stdin_once = false, tty = false;
};

struct LaunchedContainer {
  ProcessId container, shim;
  int64_t started_unix_ns = 0;
};

// Fails when the executable cannot be started (the shim then records exit code 127 and leaves).
Result<LaunchedContainer> launch_container(const ContainerLaunch& launch);

struct ExitRecord {
  int exit_code = 0;  // 128+N when killed by signal N
  int64_t finished_unix_ns = 0;
};
std::optional<ExitRecord> read_exit_record(const std::string& path);

// `name` with a '/' as is; otherwise searched in the ':'-separated `path_var`.
Result<std::string> resolve_executable(const std::string& name, const std::string& path_var);

// A pidfd (readable once the process exits), or an invalid fd when the process is gone.
UniqueFd open_pidfd(const ProcessId& id);
// Collects an exited child of ours; harmless for adopted processes (not our children).
void reap(pid_t pid);
// Signals the container's process group (the container may have forked).
void signal_container(const ProcessId& id, int sig);

int64_t unix_now_ns();

}  // namespace podnet::runtime
