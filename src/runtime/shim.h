// The container shim, `podnet-shim`: a small static program the agent execs (vfork + exec, so the
// agent's address space is never copied) once per container start. It calls setsid, starts the
// container (own process group, the pod's netns and mount namespace, a private UTS namespace with
// the pod's hostname, the working dir, stdio to pipes), reports the container's pid (or the exec's errno) on
// a pipe, copies the container's output into the log file in CRI format ("<RFC3339Nano> stdout|stderr F|P
// <line>"), waits for it and writes its exit code and time to the exit file. Shim and container outlive the
// agent.
//
// Its command line (shim_command builds it, shim_main reads it), env = the container's env:
//   podnet-shim LOG_FD REPORT_FD NETNS_FD|-1 MNTNS_FD|-1 EXIT_PATH HOSTNAME|"" WORKDIR|"" ATTACH|""
//               EXECUTABLE ARGV0 [ARG...]
// The report is two int32s on REPORT_FD: {container pid, exec errno} ({0, errno} when the shim
// itself could not start the container).
//
// Attach (kubelet's `pods/attach`): ATTACH is "[i][o][t]:SOCKET_PATH" (i: the container's spec has
// stdin, o: stdinOnce, t: tty). The shim then keeps the container's stdin (a pipe, or with t a
// terminal whose master it holds; the container gets the terminal as stdin, stdout and stderr and
// as its controlling terminal) and listens on a unix socket at SOCKET_PATH (mode 0600, root peers
// only, at most kMaxAttachClients at once). An attach client (the agent's attach_session.h) speaks
// stream frames (common/stream_frames.h): it sends kAttachHello first (payload "i": this client
// writes stdin), then stdin (0), resize (4; payload: width and height as two big-endian uint16) and
// close (255, payload 0: its input ended); the shim sends the container's output from then on as
// stdout (1) and stderr (2) (a terminal's on 1), the same bytes it writes to the log. A client that
// ends its input closes the container's stdin when the container has stdinOnce and no terminal, and
// otherwise ends that attach (containerd's rules); a client that leaves or falls 4 MiB behind is
// dropped, and the container runs on. When the container exits the shim sends what is left, closes
// the clients and removes the socket before it writes the exit file.
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
  std::string attach_path;        // empty: no attach socket (and stdin is /dev/null)
  bool stdin = false, stdin_once = false, tty = false;
};

// The attach protocol's first frame from a client (see above).
inline constexpr uint8_t kAttachHello = 0xFE;
inline constexpr size_t kMaxAttachClients = 16;

// A unix socket bound (listening) or connected at `path` of any length: the address goes through
// /proc/self/fd/<the directory's fd>, so the 108-byte sun_path limit does not apply. -1 + errno on
// failure; the sockets are close-on-exec, the listening one non-blocking.
int listen_attach_socket(const std::string& path);
int connect_attach_socket(const std::string& path);

// argv for execve of `shim_path` (argv[0] = shim_path).
std::vector<std::string> shim_command(const std::string& shim_path, const ShimCommand& c);
// The inverse; false when the command line is not one shim_command made.
bool parse_shim_command(int argc, char** argv, ShimCommand& out);

// podnet-shim's main: never returns.
[[noreturn]] void shim_main(int argc, char** argv, char** envp);

// CLOCK_REALTIME in ns; async-signal-safe.
int64_t realtime_ns();

}  // namespace podnet::runtime
