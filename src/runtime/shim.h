// The container shim, `podnet-shim`: a small static program the agent execs (vfork + exec, so the
// agent's address space is never copied) once per container start. It calls setsid, starts the
// container (own process group, the pod's netns and mount namespace, a private UTS namespace with
// the pod's hostname, the working dir, stdio to pipes), reports the container's pid (or the exec's errno) on
// a pipe, copies the container's output into the log file in CRI format ("<RFC3339Nano> stdout|stderr F|P
// <line>"), waits for it and writes its exit code and time to the exit file. Shim and container outlive the
// agent.
//
// Its command line (shim_command builds it, shim_main reads it), env = the container's env:
//   podnet-shim LOG_FD REPORT_FD NETNS_FD|-1 MNTNS_FD|-1 EXIT_PATH HOSTNAME|"" WORKDIR|"" EXECUTABLE
//               ARGV0 [ARG...]
// The report is two int32s on REPORT_FD: {container pid, exec errno} ({0, errno} when the shim
// itself could not start the container).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace podnet::runtime {

struct ShimCommand {
  int log_fd = -1, report_fd = -1, netns_fd = -1, mntns_fd = -1;
  std::string exit_path, hostname, working_dir, executable;
  std::vector<std::string> argv;  // the container's, argv[0] included
};

// argv for execve of `shim_path` (argv[0] = shim_path).
std::vector<std::string> shim_command(const std::string& shim_path, const ShimCommand& c);
// The inverse; false when the command line is not one shim_command made.
bool parse_shim_command(int argc, char** argv, ShimCommand& out);

// podnet-shim's main: never returns.
[[noreturn]] void shim_main(int argc, char** argv, char** envp);

// CLOCK_REALTIME in ns; async-signal-safe.
int64_t realtime_ns();

}  // namespace podnet::runtime
