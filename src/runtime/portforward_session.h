// The node side of port-forward over the stream framing (common/stream_frames.h): the log server
// answers `GET|POST /portForward/<ns>/<pod>?port=8080&port=9090` (kubelet's path and parameter)
// from the API server with 101 and connects to localhost:<port> inside the pod's network
// namespace (found from a running container's pid, checked against its start time), one TCP
// connection per port. Channels are v4 portforward's: 2i carries port i's data, 2i+1 its errors,
// and each starts with the port number (2 bytes, little endian), as kubelet's WebSocket
// port-forward does. A close frame (channel 255) naming data channel 2i says the client sends no
// more on it: once what it sent is written, the socket's write side is shut (a half-close, as
// kubelet's SPDY port-forward passes on the client's FIN). The session ends when the API server hangs up,
// when every connection has closed, after the idle timeout, or when the agent stops; its sockets close with
// it.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/container_process.h"
#include "runtime/exec_session.h"

namespace podnet::runtime {

struct PortForwardRequest {
  std::string ns, pod;
  std::vector<uint16_t> ports;
};
// Pure and non-throwing (a fuzz target's entry point). `port` repeats or holds a comma list.
std::expected<PortForwardRequest, ExecRequestError> parse_portforward_request(std::string_view target);

// At most this many ports per session (the cap on streams per connection).
inline constexpr size_t kMaxForwardedPorts = 64;

void run_portforward_session(SSL* ssl, int fd, const PortForwardRequest& req, const ProcessId& pod_process,
                             const ExecOptions& options, const std::atomic<bool>& stopping);

}  // namespace podnet::runtime
