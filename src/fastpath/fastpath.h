// The node agent's side of the eBPF fast path (fastpath.bpf.c): loads the programs and maps into a
// bpffs directory, or opens what an earlier run pinned there (a restarted agent changes nothing in
// the data path), writes the node's facts and the VXLAN tunnels, and attaches pn_from_node. The
// per-pod part (pn_from_pod on the pod's veth, its pn_pods entry) is podnet-cni's (pod_attach.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/ip.h"
#include "fastpath/pins.h"
#include "netlink/link.h"

namespace podnet::fastpath {

// The compiled fastpath.bpf.c (an ELF object with BTF), embedded at build time.
std::span<const unsigned char> object_file();

struct VxlanConfig {
  uint16_t port = 4789;
  uint32_t vni = 1;
  netlink::Mac vtep_mac{};  // this node's VXLAN device
  bool operator==(const VxlanConfig&) const = default;
};

struct NodeConfig {
  IpPrefix cluster;  // the cluster's IPv4 pod range
  int bridge_ifindex = 0;
  netlink::Mac bridge_mac{};
  IpAddress node_ip;
  int uplink_ifindex = 0;
  std::optional<VxlanConfig> vxlan;  // none: host-gw (the FIB picks the next node)
  bool operator==(const NodeConfig&) const = default;
};

struct Tunnel {
  IpPrefix pod_cidr;  // a remote node's IPv4 pod range
  IpAddress node_ip;
  netlink::Mac vtep_mac{};
  bool operator==(const Tunnel&) const = default;
};

struct Stats {
  uint64_t to_local_pod = 0, to_remote_node = 0, conntrack = 0, stack = 0, encap = 0, decap = 0;
};

// Link indexes (attach_node, attach_pods, forget_missing_pods) are those of the calling thread's
// network namespace: the node's.
class FastPath {
 public:
  // Makes `bpf_dir` a bpffs (mounting a private instance there when it is not on one), then opens
  // the programs and maps pinned there, or loads and pins them. Pinned maps of another layout
  // (another podnet version) are an error naming `podnet agent --cleanup`.
  static Result<FastPath> open(const std::string& bpf_dir);

  Status configure(const NodeConfig& cfg);
  // Makes pn_tunnels hold exactly `tunnels` (IPv4 ones; others are skipped).
  Status set_tunnels(const std::vector<Tunnel>& tunnels);
  // Attaches pn_from_node at tc ingress of `ifindex` (already attached: nothing to do).
  Status attach_node(int ifindex);
  // Attaches pn_from_pod to every pod veth in pn_pods (podnet-cni's entries) that `attached`
  // (ifindex -> pod MAC, the caller's memory of earlier calls) does not have. Returns how many.
  Result<size_t> attach_pods(std::map<int, netlink::Mac>& attached);
  // Deletes the pn_pods entries whose veth no longer exists (a pod removed without CNI DEL).
  // Returns how many.
  Result<size_t> forget_missing_pods();
  // Rewrites the flags (PN_POD_*) of every pn_pods entry: `flags` by address (network order),
  // `others` for entries not named there. Returns how many changed.
  Result<size_t> set_pod_flags(const std::map<uint32_t, uint16_t>& flags, uint16_t others);
  Result<Stats> stats() const;
  const std::string& dir() const { return dir_; }

 private:
  Status attach(int prog_fd, const char* name, int ifindex);

  std::string dir_;
  UniqueFd from_pod_, from_node_, pods_, config_, tunnels_, stats_;
};

// Removes what open() made in `bpf_dir`: the pins, and the bpffs instance when it mounted one
// there (the programs stay attached to links until those go; the maps live as long as they do).
// A directory that is not there is not an error.
Status remove_pins(const std::string& bpf_dir);

// The id of the program podnet attached at tc ingress of `ifindex` (a cls_bpf filter at podnet's
// priority and handle), 0 when none.
Result<uint32_t> attached_program(int ifindex);

// Detaches pn_from_node and pn_from_pod from every link of the current namespace
// (`podnet agent --cleanup`).
Status detach_all();

// A flow report of pn_from_pod (fastpath_abi.h: pn_flow_event), host byte order for ports.
struct FlowEvent {
  uint64_t ts_ns = 0;             // CLOCK_MONOTONIC
  uint32_t saddr = 0, daddr = 0;  // network order
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  uint32_t packets = 0, bytes = 0;  // since the flow's previous report
  uint8_t path = 0;                 // PN_FLOW_*
  uint8_t tcp_flags = 0;
};

// The reader of the pn_events ring buffer pinned in a bpffs directory (libbpf's ring_buffer), and
// of pn_events_lost, the reports the ring had no room for. One thread polls it.
class FlowEvents {
 public:
  struct Ring;
  static Result<FlowEvents> open(const std::string& bpf_dir);
  FlowEvents(FlowEvents&&) noexcept;
  FlowEvents& operator=(FlowEvents&&) noexcept;
  ~FlowEvents();
  // Waits timeout_ms (less when the ring is half full), then fn for each report queued. Returns how many.
  Result<size_t> poll(int timeout_ms, const std::function<void(const FlowEvent&)>& fn);
  Result<uint64_t> lost() const;  // summed over CPUs, since the map was made

 private:
  FlowEvents();
  std::unique_ptr<Ring> ring_;
};

// Reads the per-CPU counters of the pn_stats map pinned in `bpf_dir` (tests, `podnet status`).
Result<Stats> read_stats(const std::string& bpf_dir);

}  // namespace podnet::fastpath
