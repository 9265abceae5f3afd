// `podnet trace --live` on a node: the node API's probe steps (probe_query.h). arm starts, for one
// probe's tuple, the node's evidence collectors: nftables trace events (probe_nftrace.h), the
// kernel's drops of that tuple (fastpath/drop_watch.h, skb:kfree_skb) and, read at collect time,
// the flow log's reports of it (the fast path's per-flow ring events, conntrack's DNAT). send
// connects (TCP) or sends one datagram (UDP) from the source pod's network namespace with the fresh
// source port. collect returns what was seen and removes the collectors; a reaper removes armed
// collectors nobody collects after their ttl, so a client that dies leaves nothing behind.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/probe_query.h"
#include "common/error.h"

namespace podnet::agent {

class FlowLog;

// The network namespace of a pod running on this node ("/proc/PID/ns/net" of one of its
// containers, checked alive), nullopt when it does not run here or uses the host network.
using PodNetnsResolver =
    std::function<std::optional<std::string>(const std::string& ns, const std::string& pod)>;

class ProbeSessions {
 public:
  static constexpr size_t kMaxArmed = 4;  // probes armed at once on a node

  // Starts the reaper thread in the calling thread's network namespace (the node's), where every
  // collector is made and removed. Removes probe tables a dead agent left.
  explicit ProbeSessions(std::shared_ptr<const FlowLog> flows, uint16_t vxlan_port);
  ~ProbeSessions();

  // {"id"} or an error (status, message).
  std::pair<int, boost::json::value> arm(const ProbeQuery& q);
  std::pair<int, boost::json::value> collect(const ProbeQuery& q);
  size_t armed() const;
  // The kernel ids of the armed probes' drop-watch programs (for tests and `bpftool`).
  std::vector<uint32_t> drop_programs() const;

  struct Session;

 private:
  void reap();
  std::shared_ptr<const FlowLog> flows_;
  uint16_t vxlan_port_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  std::thread reaper_;
};

// The probe itself, from inside `netns_path`: {"result": "connected"|"refused"|"timeout"|
// "unreachable"|"sent"|"answered", "errno", "ms", "local": "ip:port"}.
boost::json::value send_probe(const std::string& netns_path, const ProbeQuery& q);

// The node API's answer (status, JSON body) to a probe request target (kProbePrefix...). `sessions`
// null or `pod_netns` empty: probes are not served on this node (404).
std::pair<int, std::string> answer_probe(ProbeSessions* sessions, const PodNetnsResolver& pod_netns,
                                         std::string_view target);

}  // namespace podnet::agent
