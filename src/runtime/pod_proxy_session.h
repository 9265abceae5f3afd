// The node side of pods/proxy and services/proxy: the API server has no route to pods, so it asks
// the agent of the pod's node, `GET /podProxy/<ns>/<pod>/<ip>/<port>` on the log server (with the
// API server's client certificate, like exec), to connect from the node to the pod's address. The
// agent checks that the pod runs here, is not on the host network and has that address, and that
// the address is a global unicast one (never loopback, link-local, multicast or unspecified); then it
// connects from the node's network namespace, answers 101 and relays bytes both ways. What the API
// server sends on it (one HTTP request) and what it reads back is the API server's business.
//
// The relay ends when the pod closes its side, when the API server hangs up, after the idle
// timeout, or when the agent stops.
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

#include "common/error.h"
#include "common/fd.h"
#include "netlink/netns.h"
#include "runtime/exec_session.h"

namespace podnet::runtime {

struct PodProxyRequest {
  std::string ns, pod;
  std::string ip;  // the address as the request named it, checked to be an IP literal
  uint16_t port = 0;
};
// Pure and non-throwing (a fuzz target's entry point). The target has no query.
std::expected<PodProxyRequest, ExecRequestError> parse_pod_proxy_request(std::string_view target);

// The addresses of a pod running on this node and not on the host network; nullopt otherwise.
using PodAddressResolver =
    std::function<std::optional<std::vector<std::string>>(const std::string& ns, const std::string& pod)>;

// Checks `req` against the pod's addresses (400 with kube's "address not allowed" for any address
// that is not global unicast, 403 for one the pod does not have).
std::expected<void, ExecRequestError> check_pod_proxy_address(const PodProxyRequest& req,
                                                              const std::vector<std::string>& pod_ips);

// A TCP connection to ip:port from `netns` (null: the caller's), within `timeout`. Errors read
// like Go's dialer ("dial tcp 10.244.0.5:81: connect: connection refused").
Result<UniqueFd> dial_pod(const netlink::NetNs* netns, const std::string& ip, uint16_t port,
                          std::chrono::milliseconds timeout);

// Relays bytes between the upgraded connection (`ssl` over `fd`) and `pod` until one side ends.
void run_pod_proxy_session(SSL* ssl, int fd, UniqueFd pod, const ExecOptions& options,
                           const std::atomic<bool>& stopping);

}  // namespace podnet::runtime
