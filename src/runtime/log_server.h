// The kubelet's log endpoint: `GET /containerLogs/<ns>/<pod>/<container>?follow=&tailLines=&
// timestamps=&limitBytes=&sinceSeconds=` over plain HTTP (Boost.Beast), reading the CRI-format log
// files the container shims write. The API server proxies `pods/<name>/log` here. One thread per
// connection: followers are few and long-lived.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "netlink/netns.h"

namespace podnet::runtime {

struct LogSource {
  std::string path;
  std::function<bool()> running;  // follow ends once this is false and the file is drained
};
using LogResolver =
    std::function<std::optional<LogSource>(const std::string& ns, const std::string& pod, const std::string& container)>;

// Turns CRI log lines into what `kubectl logs` prints. Exposed for tests.
struct LogQuery {
  bool follow = false, timestamps = false;
  int64_t tail_lines = -1;   // -1: all
  int64_t limit_bytes = -1;  // -1: no limit
  int64_t since_unix_ns = 0;
};
std::string render_cri_log(const std::string& text, const LogQuery& q);

class LogServer {
 public:
  // `netns`: where to listen (the node's); null: the caller's. port 0: any free port.
  static Result<std::unique_ptr<LogServer>> start(const std::string& address, uint16_t port,
                                                  const netlink::NetNs* netns, LogResolver resolver);
  ~LogServer();
  uint16_t port() const;

  struct Impl;

 private:
  explicit LogServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::runtime
