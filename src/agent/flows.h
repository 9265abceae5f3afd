// The node's flow log for `podnet flows`: connections the fast path carried (its pn_events ring
// buffer, fastpath::FlowEvents), connections through the stack (conntrack NEW/DESTROY events:
// Service DNAT, masquerade, policy-selected pods) and packets NetworkPolicy dropped (the policy's
// denied-connection log), aggregated per connection in a bounded table (least recently seen evicted first),
// served through the node API (`/podnet/v1/flows?since=SECONDS`). Addresses only: `podnet flows` names them
// from the API. Thread-safe.
#pragma once

#include <atomic>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/ip.h"
#include "proxy/conntrack_events.h"

namespace podnet::fastpath {
struct FlowEvent;
}

namespace podnet::agent {

struct FlowKey {
  IpAddress src, dst;  // src: the side that opened the connection (its SYN), else the first seen
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const;
};

struct Flow {
  FlowKey key;
  std::string verdict;  // "forwarded" or "dropped"
  // forwarded: "fastpath-local", "fastpath-vxlan", "fastpath-routed" or "stack" (conntrack); dropped:
  // "policy"
  std::string path;
  std::string direction;            // dropped: "ingress" or "egress" (the policy direction that denied it)
  std::string policies;             // dropped: the policies selecting the local pod ("ns/name,...")
  uint64_t packets = 0, bytes = 0;  // src -> dst, as reported
  uint64_t reply_packets = 0, reply_bytes = 0;  // dst -> src
  uint8_t tcp_flags = 0;                        // every flag seen (PN_TCP_*)
  int64_t first_ms = 0, last_ms = 0;            // wall clock, unix ms
  // path "stack": the conntrack reply tuple (its src differs from key.dst after DNAT, its dst from
  // key.src after SNAT), and whether the entry was destroyed.
  std::optional<proxy::ConntrackTuple> reply;
  bool ended = false;
};

struct FlowLogStats {
  uint64_t events = 0;              // fast-path reports read
  uint64_t lost = 0;                // fast-path reports the ring had no room for (pn_events_lost)
  uint64_t drops_logged = 0;        // policy drops read from the denied-connection log
  uint64_t evicted = 0;             // connections pushed out of the full table
  bool fastpath = false;            // the ring buffer is being read
  uint64_t conntrack_events = 0;    // conntrack NEW/DESTROY events taken (inside the cluster's ranges)
  uint64_t conntrack_overruns = 0;  // times the kernel dropped events (ENOBUFS on the socket)
  bool conntrack = false;           // conntrack events are being read
  bool conntrack_acct = false;      // net.netfilter.nf_conntrack_acct is on: stack flows have counters
};

class FlowLog {
 public:
  explicit FlowLog(size_t max_flows = 16384) : max_(max_flows) {}

  // One fast-path report / one logged policy drop, seen at now_ms.
  void add_carried(const fastpath::FlowEvent& e, int64_t now_ms);
  void add_dropped(const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t sport, uint16_t dport,
                   const std::string& direction, const std::string& policies, int64_t now_ms);
  // One conntrack event (a connection through the stack).
  void add_stack(const proxy::ConntrackEvent& e, int64_t now_ms);

  // {"flows":[...], "events", "lost", "drops_logged", "evicted", "capacity", "fastpath",
  //  "conntrack", "conntrack_events", "conntrack_overruns", "conntrack_acct", "now_ms"}: the
  // connections last seen at or after since_ms, most recent last, at most `limit`.
  boost::json::value snapshot(int64_t since_ms, size_t limit = 16384) const;

  // Reads the fast path's ring buffer in `bpf_dir` until stop() (opening it again once a second
  // while the agent has not pinned it yet).
  void run_fastpath(const std::string& bpf_dir);
  // Reads the conntrack events of the calling thread's network namespace until stop(), keeping
  // those with an address in `ranges` (the cluster's pod ranges: the node's own connections, e.g.
  // to the API server, are not flows of the model); empty: all but loopback. Turns
  // nf_conntrack_acct on in that namespace when it is off (counters for stack flows).
  void run_conntrack(std::vector<IpPrefix> ranges);
  void stop() { stop_ = true; }
  FlowLogStats stats() const;

 private:
  Flow& touch(const FlowKey& k, int64_t now_ms, bool& reversed, bool opener_known);

  const size_t max_;
  mutable std::mutex mu_;
  std::list<Flow> lru_;  // least recently seen first
  std::unordered_map<FlowKey, std::list<Flow>::iterator, FlowKeyHash> index_;
  FlowLogStats stats_;
  std::atomic<bool> stop_{false};
};

int64_t unix_ms_now();

}  // namespace podnet::agent
