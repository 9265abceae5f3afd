// The node side of `kubectl exec`: the log server (:10250) answers `POST|GET /exec/<ns>/<pod>/
// <container>?command=..&command=..&input=1&output=1&error=1&tty=1` (kubelet's parameters) from
// the API server with 101 and then runs the command inside the container's namespaces (network,
// UTS, and mount when the container has its own), with the container's environment and working
// directory (read from /proc/<pid> of the container's process, checked against its start time),
// relaying stdin/stdout/stderr as stream frames (common/stream_frames.h) and ending with one
// Status on the error channel that carries the exit code as kube's remotecommand does.
//
// A session ends when the command has exited and its output is drained, when the API server hangs
// up (the command's process group is killed), when nothing moved either way for the idle timeout,
// or when the agent stops (the command is killed; PR_SET_PDEATHSIG also kills it when the agent
// dies without stopping). A session never outlives the agent that serves it.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/container_process.h"

namespace podnet::runtime {

struct ExecRequest {
  std::string ns, pod, container;
  std::vector<std::string> command;
  bool stdin = false, stdout = false, stderr = false, tty = false;
};
struct ExecRequestError {
  int status;  // 400 or 404
  std::string message;
};
// Pure and non-throwing (a fuzz target's entry point): the target of an exec request.
std::expected<ExecRequest, ExecRequestError> parse_exec_request(std::string_view target);

// What exec and attach targets share: `/<kind>/<namespace>/<pod>/<container>?query` with the three
// names decoded and checked, and the query's pairs (at most `max_params`). Pure and non-throwing.
struct ContainerTarget {
  std::string ns, pod, container;
  std::vector<std::pair<std::string, std::string>> params;
};
std::expected<ContainerTarget, ExecRequestError> parse_container_target(std::string_view target,
                                                                        std::string_view kind,
                                                                        size_t max_params);

// The running container process a request names; nullopt when it is not running on this node.
using ExecResolver = std::function<std::optional<ProcessId>(const std::string& ns, const std::string& pod,
                                                            const std::string& container)>;

struct ExecOptions {
  // kubelet's --streaming-connection-idle-timeout default.
  std::chrono::milliseconds idle_timeout = std::chrono::hours(4);
};

// What the container's process gives an exec'd command, read while the process is the one named.
struct ContainerContext {
  std::vector<std::string> env;  // NAME=value, from /proc/<pid>/environ
  std::string path_var;          // PATH from env (the default when unset)
};

// Runs one session on a connection whose request was `req` and that was answered 101 already.
// `fd` is the connection's socket (for poll); `stopping` turns true when the agent stops.
void run_exec_session(SSL* ssl, int fd, const ExecRequest& req, const ProcessId& target,
                      const ExecOptions& options, const std::atomic<bool>& stopping);

// The v4/v5 Status JSON for an exit code (Success for 0, NonZeroExitCode with an ExitCode cause
// otherwise), as kube's remotecommand server writes it.
std::string exit_status_json(const std::vector<std::string>& command, int exit_code);
std::string failure_status_json(const std::string& message, const std::string& reason = "InternalError",
                                int code = 500);

}  // namespace podnet::runtime
