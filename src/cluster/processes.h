// The processes of a `podnet up` cluster: starting detached daemons (optionally inside a network
// namespace: fork, setns, exec), running one-shot commands, pid files, and finding and stopping
// processes by recorded pid or by the network namespace they live in. Only /proc and syscalls.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace podnet::cluster {

struct DaemonSpec {
  std::vector<std::string> argv;  // argv[0] is the executable's path
  std::string netns_path;         // empty: the caller's namespace
  std::string log_path;           // stdout and stderr, appended
  std::string pid_path;           // written once the exec succeeded
};

// Starts the daemon in its own session (no terminal, signals unblocked, stdin /dev/null). Returns
// once exec succeeded, with an error naming the step when it did not. The caller may reap it with
// waitpid; once the caller exits, init does.
Result<pid_t> spawn_daemon(const DaemonSpec& spec);

// Runs argv to completion with stdout+stderr appended to log_path; the exit status (128+signal
// when killed).
Result<int> run_command(const std::vector<std::string>& argv, const std::string& log_path);

// Runs argv and returns its stdout (stderr discarded) and exit status.
Result<std::pair<int, std::string>> capture_command(const std::vector<std::string>& argv);

enum class ProcState { kRunning, kExited, kAbsent };
// kExited only for the caller's own children (reaped here, with *status set); kAbsent when no
// such process exists or it is a zombie of someone else.
ProcState probe(pid_t pid, int* status = nullptr);

// The pid in a pid file; ENOENT when there is none.
Result<pid_t> read_pid_file(const std::string& path);
// True when /proc/PID/cmdline mentions `needle` (guards against a recycled pid).
bool cmdline_contains(pid_t pid, const std::string& needle);
// The last `lines` lines of a file ("" if unreadable), for error messages about a dead daemon.
std::string tail_file(const std::string& path, int lines);

// Identity of a network namespace: device and inode of its nsfs file.
using NsId = std::pair<dev_t, ino_t>;
Result<NsId> netns_id(const std::string& path);
// Processes any of whose threads is in one of `namespaces` (the caller excluded).
std::vector<pid_t> pids_in_netns(const std::set<NsId>& namespaces, const std::string& proc = "/proc");

// SIGTERM, then SIGKILL to what is left after `grace`; waits until all are gone (reaping the
// caller's children). Pids already gone are fine.
void stop_processes(const std::vector<pid_t>& pids, std::chrono::milliseconds grace);

}  // namespace podnet::cluster
