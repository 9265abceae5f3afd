// The node API's probe requests (`podnet trace --live`): `GET /podnet/v1/probe/{arm,send,collect}`
// with the source pod named in every one (`namespace`, `pod`), so the API server can require the
// caller's right to exec into that pod before it relays any of them. Parsing is pure, bounded and
// non-throwing: the fuzz target's entry point.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "agent/node_query.h"
#include "common/ip.h"

namespace podnet::agent {

inline constexpr std::string_view kProbePrefix = "/podnet/v1/probe/";

enum class ProbeStep {
  kArm,      // start the evidence collectors for the probe's tuple on this node; returns an id
  kSend,     // send the probe from the source pod's network namespace (its node only)
  kCollect,  // the evidence gathered since arm; removes the collectors
};

struct ProbeQuery {
  ProbeStep step = ProbeStep::kArm;
  std::string ns, pod;           // the source pod (every step)
  std::optional<IpAddress> src;  // arm: the source pod's IPv4 address
  std::optional<IpAddress> dst;  // send: where to
  uint16_t sport = 0;            // arm, send: the probe's fresh source port (1024..65535)
  uint16_t dport = 0;            // send
  uint8_t proto = 6;             // tcp (6) or udp (17)
  int ttl_ms = 5000;             // arm: the collectors are removed after this even if never collected
  int timeout_ms = 1000;         // send: how long to wait for the answer
  std::string id;                // collect: arm's answer
};

std::expected<ProbeQuery, NodeQueryError> parse_probe_query(std::string_view target);

}  // namespace podnet::agent
