// The node side of `kubectl attach`: the log server (:10250) answers `POST|GET /attach/<ns>/<pod>/
// <container>?input=1&output=1&error=1&tty=1` (kubelet's parameters) from the API server with 101
// and joins the container's stdio through its shim's attach socket (shim.h): the client's stdin
// and resize frames go to the shim, the container's output from then on comes back as stream frames
// (common/stream_frames.h), and when the container exits the session ends with a Success Status on
// the error channel, as kubelet's attach does.
//
// A session ends when the container exits, when the API server hangs up (the container runs on:
// detaching never stops it), when nothing moved either way for the idle timeout, or when the agent
// stops. It never outlives the agent; the shim, and the container, do.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "runtime/exec_session.h"

namespace podnet::runtime {

struct AttachRequest {
  std::string ns, pod, container;
  bool stdin = false, stdout = false, stderr = false, tty = false;
};
// Pure and non-throwing (a fuzz target's entry point): the target of an attach request.
std::expected<AttachRequest, ExecRequestError> parse_attach_request(std::string_view target);

// The attach socket of a container running on this node; nullopt when it does not run here.
using AttachResolver = std::function<std::optional<std::string>(const std::string& ns, const std::string& pod,
                                                                const std::string& container)>;

// A resize frame's TTY size JSON ({"Width":..,"Height":..}) as the shim's 4-byte payload; nullopt
// when it is not one.
std::optional<std::string> attach_resize_payload(std::string_view json);

// Runs one session on a connection whose request was `req` and that was answered 101 already;
// `shim` is connected to the container's attach socket.
void run_attach_session(SSL* ssl, int fd, const AttachRequest& req, UniqueFd shim, const ExecOptions& options,
                        const std::atomic<bool>& stopping);

}  // namespace podnet::runtime
