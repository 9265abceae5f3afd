// The kubelet's log endpoint: `GET /containerLogs/<ns>/<pod>/<container>?follow=&tailLines=&
// timestamps=&limitBytes=&sinceSeconds=&sinceTime=` over HTTPS with client certificates, reading the
// CRI-format log files the container shims write. The API server proxies `pods/<name>/log` here,
// presenting its kubelet client certificate; nobody else (not pods, not node credentials) may read.
// One thread per connection: followers are few and long-lived. HTTP/1.1 keep-alive: a request
// answered in full leaves the connection open (LogServerTls::idle_timeout) for the next one. The same
// listener serves exec (exec_session.h), attach (attach_session.h), port-forward (portforward_session.h) and
// the pod proxy (pod_proxy_session.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "netlink/netns.h"
#include "runtime/attach_session.h"
#include "runtime/exec_session.h"
#include "runtime/pod_proxy_session.h"

namespace podnet::runtime {

struct LogSource {
  std::string path;
  std::function<bool()> running;  // follow ends once this is false and the file is drained
};
using LogResolver = std::function<std::optional<LogSource>(const std::string& ns, const std::string& pod,
                                                           const std::string& container)>;

// Turns CRI log lines into what `kubectl logs` prints. Exposed for tests.
struct LogQuery {
  bool follow = false, timestamps = false;
  int64_t tail_lines = -1;   // -1: all
  int64_t limit_bytes = -1;  // -1: no limit
  int64_t since_unix_ns = 0;
};
std::string render_cri_log(const std::string& text, const LogQuery& q);

// A parsed request target. Pure and non-throwing: the fuzz target's entry point.
struct LogRequest {
  std::string ns, pod, container;
  LogQuery query;             // since_unix_ns from sinceTime only
  int64_t since_seconds = 0;  // 0: not given; the server turns it into since_unix_ns
};
struct LogRequestError {
  int status;  // 400 or 404
  std::string message;
};
std::expected<LogRequest, LogRequestError> parse_log_request(std::string_view target);

// Who may connect, and with what the server identifies itself (kubelet's --tls-cert-file,
// --tls-private-key-file and --client-ca-file).
struct LogServerTls {
  std::string cert_pem, key_pem;  // the node's serving certificate (chain allowed) and key
  std::string client_ca_pem;      // clients must present a certificate this CA signed
  // A verified client is authorized when its CN is one of `users` or an O one of `groups`.
  std::vector<std::string> users{"kube-apiserver-kubelet-client"};
  std::vector<std::string> groups{"system:masters"};
  // How long a kept-alive connection may wait for its next request before the server closes it
  // (below Go's client default of 90 s, so a pooling client sees the close on an idle connection
  // and dials anew rather than the other way round).
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
};

// GET /podnet/... : the agent's read-only node API (agent/node_api.h), behind the same client
// certificate check as logs and exec. The handler answers with a status and a JSON body.
struct NodeApiAnswer {
  int status = 200;
  std::string body;
};
using NodeApiHandler = std::function<NodeApiAnswer(std::string_view target)>;

class LogServer {
 public:
  // `netns`: where to listen (the node's); null: the caller's. port 0: any free port.
  static Result<std::unique_ptr<LogServer>> start(const std::string& address, uint16_t port,
                                                  const netlink::NetNs* netns, LogServerTls tls,
                                                  LogResolver resolver, ExecResolver exec = {},
                                                  ExecOptions exec_options = {}, NodeApiHandler node_api = {},
                                                  PodAddressResolver pod_addresses = {},
                                                  AttachResolver attach = {});
  ~LogServer();
  uint16_t port() const;

  struct Impl;

 private:
  explicit LogServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::runtime
