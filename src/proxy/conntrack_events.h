// Conntrack events (ctnetlink NEW and DESTROY) of the caller's network namespace, for the flow
// log: a connection through the stack (Service DNAT, masquerade, policy-selected pods) as its
// original and reply tuples, which show the NAT. libnl-nf, as the conntrack cleanup beside it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "common/error.h"
#include "common/ip.h"

namespace podnet::proxy {

struct ConntrackTuple {
  IpAddress src, dst;
  uint16_t sport = 0, dport = 0;  // 0 for protocols without ports
  bool operator==(const ConntrackTuple&) const = default;
};

struct ConntrackEvent {
  bool destroyed = false;  // DESTROY (the entry ended), else NEW (its first packet was confirmed)
  uint8_t proto = 0;
  ConntrackTuple original;  // as the opener sent it (dst: a Service IP before DNAT)
  ConntrackTuple reply;     // as the answer comes back (src: the endpoint after DNAT; dst: after SNAT)
  // Counters, only with net.netfilter.nf_conntrack_acct=1 (else zero).
  uint64_t packets = 0, bytes = 0, reply_packets = 0, reply_bytes = 0;
};

// One ctnetlink socket subscribed to NEW and DESTROY. Reads are non-blocking.
class ConntrackEvents {
 public:
  static Result<ConntrackEvents> open();
  ConntrackEvents(ConntrackEvents&&) noexcept;
  ConntrackEvents& operator=(ConntrackEvents&&) noexcept;
  ~ConntrackEvents();

  int fd() const;
  // Everything queued now; `fn` for each event decoded. Returns how many messages were read.
  // ENOBUFS (the kernel dropped events: the socket buffer was full) is counted, not an error.
  Result<size_t> read(const std::function<void(const ConntrackEvent&)>& fn);
  uint64_t overruns() const { return overruns_; }

 private:
  struct Sock;
  explicit ConntrackEvents(std::unique_ptr<Sock> s);
  std::unique_ptr<Sock> sock_;
  uint64_t overruns_ = 0;
};

}  // namespace podnet::proxy
