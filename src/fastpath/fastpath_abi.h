// The layout shared by the eBPF fast path (fastpath.bpf.c) and the C++ that fills its maps. Plain C,
// fixed-width fields only: it is compiled by clang for the BPF target and by g++ for the host.
#pragma once

#include <linux/types.h>

// pn_pods: IPv4 address of a pod on this node (network byte order) -> where it lives.
struct pn_pod {
  __u32 ifindex;  // the host end of the pod's veth; bpf_redirect_peer() delivers into its peer
  __u8 mac[6];    // the pod's eth0, written as the frame's destination
  __u16 flags;    // PN_POD_*: any bit set and the fast path steps aside for the pod (datapath.md 3)
};
#define PN_POD_INGRESS_ISOLATED 0x1  // selected by a NetworkPolicy with Ingress
#define PN_POD_EGRESS_ISOLATED 0x2   // ... with Egress
#define PN_POD_PENDING 0x4           // not programmed by the agent yet (podnet-cni writes it at ADD)

// pn_config[0]: this node's facts, written by the agent. Addresses in network byte order.
struct pn_config {
  __u32 cluster_net;     // the cluster's pod range: only destinations inside it are taken past the
  __u32 cluster_mask;    //   stack (everything else may need masquerade)
  __u32 bridge_ifindex;  // the pod bridge: a FIB answer through it means "a local pod not in pn_pods"
  __u8 bridge_mac[6];    // the pods' gateway MAC: the source of frames routed into a pod
  __u16 vxlan_port;      // UDP port of the VXLAN overlay (network order); 0: no VXLAN in the program
  __u32 node_ip;         // this node's IP: the outer source, and the outer destination to decapsulate
  __u32 vni;             // the overlay's VNI (host order)
  __u32 uplink_ifindex;  // the node's interface towards the other nodes (outer FIB lookups)
  __u8 vtep_mac[6];      // this node's VXLAN device MAC: the inner source of encapsulated frames
  __u8 pad[2];
};

// pn_tunnels: longest-prefix match on a remote node's pod range -> that node's VTEP. Filled only
// with the VXLAN overlay; the program then encapsulates itself, as the VXLAN device would.
struct pn_tunnel_key {
  __u32 prefixlen;
  __u32 addr;  // network order
};
struct pn_tunnel {
  __u32 node_ip;     // outer destination
  __u8 vtep_mac[6];  // the remote VXLAN device's MAC: the inner destination
  __u8 pad[2];
};
#define PN_TUNNELS_MAX 4096

#define PN_PODS_MAX 65536

// pn_stats indices.
enum pn_stat {
  PN_STAT_TO_LOCAL_POD = 0,    // redirected into a pod of this node
  PN_STAT_TO_REMOTE_NODE = 1,  // redirected out towards another node
  PN_STAT_CONNTRACK = 2,       // left to the stack: conntrack knows the connection here
  PN_STAT_STACK = 3,           // left to the stack: the FIB gave no direct answer
  PN_STAT_ENCAP = 4,           // of TO_REMOTE_NODE: encapsulated in VXLAN by the program
  PN_STAT_DECAP = 5,           // of TO_LOCAL_POD: a VXLAN packet decapsulated by the program
  PN_STAT_MAX = 6,
};

// Flow events (`podnet flows`): pn_from_pod reports each connection it carries into the pn_events
// ring buffer: at its first packet, then at most once a second per flow (with the packets and
// bytes since the last report), and at once for a TCP FIN or RST. pn_flows remembers, per
// direction of a connection, what is not reported yet (LRU: the oldest flows make room).
// A report the ring has no room for is counted in pn_events_lost (per CPU), never waited for.
enum pn_flow_path {
  PN_FLOW_TO_LOCAL_POD = 1,  // redirected into a pod of this node
  PN_FLOW_ENCAP = 2,         // encapsulated in VXLAN towards another node
  PN_FLOW_ROUTED = 3,        // routed out towards another node (host-gw, or no tunnel entry)
};
struct pn_flow_key {
  __u32 saddr, daddr;  // network order
  __u16 sport, dport;  // network order
  __u8 proto;
  __u8 pad[3];
};
struct pn_flow_state {
  __u64 last_report_ns;
  __u64 packets;  // not reported yet
  __u64 bytes;
};
struct pn_flow_event {
  __u64 ts_ns;  // bpf_ktime_get_ns() (CLOCK_MONOTONIC)
  struct pn_flow_key key;
  __u32 packets;  // since the flow's last report
  __u32 bytes;
  __u8 path;       // enum pn_flow_path
  __u8 tcp_flags;  // of the packet that sent the report
  __u8 pad[6];
};
#define PN_FLOWS_MAX 65536
#define PN_EVENTS_BYTES (1 << 20)  // 1 MiB: ~26,000 reports waiting for the agent
#define PN_FLOW_REPORT_NS 1000000000ULL
#define PN_TCP_FIN 0x01
#define PN_TCP_SYN 0x02
#define PN_TCP_RST 0x04
#define PN_TCP_ACK 0x10
