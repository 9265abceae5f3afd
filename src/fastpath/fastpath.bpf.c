// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// podnet's pod-to-pod fast path: tc programs that carry IPv4 TCP/UDP between pods past the nodes'
// bridges, IP forwarding and (with VXLAN) the VXLAN device, the way Cilium's "BPF host routing"
// and Calico's eBPF data plane do.
//
//   pn_from_pod   tc ingress (clsact) of each pod's host-side veth (attached by the agent to the
//                 veths podnet-cni lists in pn_pods)
//   pn_from_node  tc ingress of the node's uplink and of the VXLAN device (attached by the agent)
//
// A packet to a pod of this node goes straight into the pod's namespace with bpf_redirect_peer().
// One to a pod of another node leaves straight through the uplink: in VXLAN, wrapped here in the
// same outer headers the VXLAN device would write (so either end may be the kernel's VXLAN device);
// in host-gw, or without a tunnel entry, towards the next hop the FIB names, with its MAC from the
// neighbour table. A VXLAN packet for a pod of this node is unwrapped on the uplink and goes
// straight into the pod. Everything else takes the normal path (TC_ACT_OK), and so does any packet
// of a connection conntrack knows in this node's namespace.
//
// Only packets from a pod address to a pod address (both in the cluster's pod range) are carried:
// their replies are pod-to-pod too, so neither direction is ever masqueraded. A node's or an
// outside client's packet to a pod takes the stack, which sees the reply leave as well.
//
// Why the conntrack test keeps NAT right: a connection is NATed (Service DNAT, NodePort, hostPort,
// masquerade) only by a node whose stack saw its first packet, which leaves an entry there for the
// connection's life. Every later packet of it, either direction, finds that entry on that node and
// goes through the stack, where conntrack translates it. A connection between pod IPs is fast from
// its first packet, so no node ever makes an entry for it and it stays fast.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

// libbpf's headers need the kernel's types above first.
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fastpath_abi.h"

#ifndef AF_INET
#define AF_INET 2
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, PN_PODS_MAX);
  __type(key, __u32);
  __type(value, struct pn_pod);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} pn_pods SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct pn_config);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} pn_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, PN_TUNNELS_MAX);
  __type(key, struct pn_tunnel_key);
  __type(value, struct pn_tunnel);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} pn_tunnels SEC(".maps");

// Per-CPU packet counters, indexed by enum pn_stat (read by the agent and the tests).
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PN_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} pn_stats SEC(".maps");

// Flow reports for `podnet flows` (fastpath_abi.h).
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, PN_FLOWS_MAX);
  __type(key, struct pn_flow_key);
  __type(value, struct pn_flow_state);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} pn_flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, PN_EVENTS_BYTES);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} pn_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} pn_events_lost SEC(".maps");

// The conntrack lookup kfunc (net/netfilter/nf_conntrack_bpf.c). The 12-byte opts layout is the
// one every kernel since 6.0 accepts.
struct nf_conn {  // opaque here; a complete type, as libbpf's kfunc signature check wants
  int unused;
};
struct bpf_ct_opts___pn {
  __s32 netns_id;
  __s32 error;
  __u8 l4proto;
  __u8 dir;
  __u8 reserved[2];
};
extern struct nf_conn* bpf_skb_ct_lookup(struct __sk_buff* skb, struct bpf_sock_tuple* tuple, __u32 tuple_sz,
                                         struct bpf_ct_opts___pn* opts, __u32 opts_sz) __ksym;
extern void bpf_ct_release(struct nf_conn* ct) __ksym;

struct vxlan_hdr {
  __be32 flags;  // 0x08000000: "VNI present"
  __be32 vni;    // VNI << 8
};

#define PN_VXLAN_FLAGS 0x08000000
// Outer IPv4 + UDP + VXLAN + inner Ethernet: what VXLAN adds after the outer Ethernet header.
#define PN_ENCAP_LEN (sizeof(struct iphdr) + sizeof(struct udphdr) + sizeof(struct vxlan_hdr) + ETH_HLEN)
// Everything up to and including the inner L4 ports of a VXLAN packet.
#define PN_VXLAN_HEADERS (ETH_HLEN + PN_ENCAP_LEN + sizeof(struct iphdr) + 4)

static __always_inline void count(__u32 what) {
  __u64* n = bpf_map_lookup_elem(&pn_stats, &what);
  if (n) *n += 1;
}

// The flow of a carriable packet (ports read while the packet pointers are still checked).
struct flow_seen {
  struct pn_flow_key key;
  __u8 tcp_flags;
};

static __always_inline void flow_of(struct iphdr* ip, void* end, struct flow_seen* f) {
  __be16* ports = (void*)(ip + 1);
  f->key.saddr = ip->saddr;
  f->key.daddr = ip->daddr;
  f->key.sport = ports[0];
  f->key.dport = ports[1];
  f->key.proto = ip->protocol;
  __u8* l4 = (void*)(ip + 1);
  if (ip->protocol == IPPROTO_TCP && (void*)(l4 + 14) <= end) f->tcp_flags = l4[13];
}

static __always_inline void report(struct flow_seen* f, __u64 now, __u64 packets, __u64 bytes, __u8 path) {
  struct pn_flow_event* ev = bpf_ringbuf_reserve(&pn_events, sizeof(*ev), 0);
  if (!ev) {
    __u32 zero = 0;
    __u64* lost = bpf_map_lookup_elem(&pn_events_lost, &zero);
    if (lost) *lost += 1;
    return;
  }
  ev->ts_ns = now;
  ev->key = f->key;
  ev->packets = (__u32)packets;
  ev->bytes = (__u32)bytes;
  ev->path = path;
  ev->tcp_flags = f->tcp_flags;
  __builtin_memset(ev->pad, 0, sizeof(ev->pad));
  // No wakeup per report (an epoll wakeup each cost the agent more than the report): the agent
  // reads the ring every 100 ms, and is woken early only once the ring is half full.
  __u64 queued = bpf_ringbuf_query(&pn_events, BPF_RB_AVAIL_DATA);
  bpf_ringbuf_submit(ev, queued > PN_EVENTS_BYTES / 2 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

// Counts a carried packet in its flow and reports the flow when it is new, ends (FIN, RST) or was
// last reported over a second ago.
static __always_inline void flow_carried(struct flow_seen* f, __u32 len, __u8 path) {
  __u64 now = bpf_ktime_get_ns();
  struct pn_flow_state* st = bpf_map_lookup_elem(&pn_flows, &f->key);
  if (!st) {
    struct pn_flow_state init = {.last_report_ns = now};
    bpf_map_update_elem(&pn_flows, &f->key, &init, BPF_ANY);
    report(f, now, 1, len, path);
    return;
  }
  __sync_fetch_and_add(&st->packets, 1);
  __sync_fetch_and_add(&st->bytes, len);
  if (now - st->last_report_ns < PN_FLOW_REPORT_NS && !(f->tcp_flags & (PN_TCP_FIN | PN_TCP_RST))) return;
  st->last_report_ns = now;
  __u64 packets = st->packets, bytes = st->bytes;
  // Subtracted, not zeroed: packets other CPUs count meanwhile stay for the next report.
  __sync_fetch_and_add(&st->packets, -packets);
  __sync_fetch_and_add(&st->bytes, -bytes);
  report(f, now, packets, bytes, path);
}

static __always_inline void decrement_ttl(struct iphdr* ip) {
  // As the kernel's ip_decrease_ttl(): the checksum adjusted for the one byte that changes.
  __u32 check = ip->check;
  check += bpf_htons(0x0100);
  ip->check = (__u16)(check + (check >= 0xFFFF));
  ip->ttl--;
}

// True when the inner packet at ip is one the fast path may carry: IPv4 without options or
// fragmentation, TTL left to route it, TCP or UDP with its ports in the linear data.
static __always_inline int in_cluster(struct pn_config* cfg, __u32 addr) {
  return (addr & cfg->cluster_mask) == cfg->cluster_net;
}

static __always_inline int carriable(struct iphdr* ip, void* end) {
  if ((void*)(ip + 1) + 4 > end) return 0;
  if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)) || ip->ttl <= 1) return 0;
  return ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP;
}

// True when conntrack in this namespace has an entry for the packet's connection (see the top).
static __always_inline int conntrack_knows(struct __sk_buff* skb, struct iphdr* ip) {
  __be16* ports = (void*)(ip + 1);
  struct bpf_sock_tuple tuple = {};
  tuple.ipv4.saddr = ip->saddr;
  tuple.ipv4.daddr = ip->daddr;
  tuple.ipv4.sport = ports[0];
  tuple.ipv4.dport = ports[1];
  struct bpf_ct_opts___pn opts = {.netns_id = -1 /* BPF_F_CURRENT_NETNS */, .l4proto = ip->protocol};
  struct nf_conn* ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
  if (!ct) return 0;
  bpf_ct_release(ct);
  count(PN_STAT_CONNTRACK);
  return 1;
}

// The Ethernet and IPv4 headers at the start of the packet, read again after a call that ends the
// verifier's knowledge of packet pointers (a kfunc, bpf_skb_adjust_room). NULL when too short.
static __always_inline struct iphdr* headers(struct __sk_buff* skb, struct ethhdr** eth) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  *eth = data;
  struct iphdr* ip = (void*)(*eth + 1);
  if ((void*)(ip + 1) > end) return 0;
  return ip;
}

// The headers of a VXLAN packet, outer Ethernet to inner IPv4.
struct vxlan_packet {
  struct ethhdr* eth;
  struct iphdr* oip;
  struct udphdr* udp;
  struct vxlan_hdr* vx;
  struct ethhdr* ieth;
  struct iphdr* iip;
};

// Points p at the packet's headers; 0 when the linear data ends before the inner IPv4 header and
// `extra` bytes after it.
static __always_inline int vxlan_headers(struct __sk_buff* skb, struct vxlan_packet* p, __u32 extra) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  p->eth = data;
  p->oip = (void*)(p->eth + 1);
  p->udp = (void*)(p->oip + 1);
  p->vx = (void*)(p->udp + 1);
  p->ieth = (void*)(p->vx + 1);
  p->iip = (void*)(p->ieth + 1);
  return (void*)(p->iip + 1) + extra <= end;
}

static __always_inline __u16 fold_csum(__u64 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

// Wraps the frame in VXLAN towards tun and sends it out of the uplink. TC_ACT_OK (unchanged
// packet) when the outer next hop is not resolved yet or the result would be too long.
static __always_inline int encapsulate(struct __sk_buff* skb, struct pn_config* cfg, struct pn_tunnel* tun) {
  if (skb->len - ETH_HLEN + PN_ENCAP_LEN > 0xFFFF) return TC_ACT_OK;
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.ifindex = cfg->uplink_ifindex;
  fib.ipv4_src = cfg->node_ip;
  fib.ipv4_dst = tun->node_ip;
  if (bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT) != BPF_FIB_LKUP_RET_SUCCESS)
    return TC_ACT_OK;
  // The source port spreads flows over the underlay's paths, as the VXLAN device does.
  __u16 sport = 32768 + (__u16)(bpf_get_hash_recalc(skb) % 28232);
  __u32 outer_len = skb->len - ETH_HLEN + PN_ENCAP_LEN;

  // FIXED_GSO: the pod's MTU already leaves room for the 50 bytes, so the segment size stays.
  __u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
                BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN);
  if (bpf_skb_adjust_room(skb, PN_ENCAP_LEN, BPF_ADJ_ROOM_MAC, flags)) return TC_ACT_OK;

  struct vxlan_packet p;
  if (!vxlan_headers(skb, &p, 0)) return TC_ACT_SHOT;  // cannot happen: the headers were there before

  struct iphdr h = {};
  h.version = 4;
  h.ihl = 5;
  h.tot_len = bpf_htons(outer_len);
  h.ttl = 64;
  h.protocol = IPPROTO_UDP;
  h.saddr = cfg->node_ip;
  h.daddr = tun->node_ip;
  h.check = fold_csum(bpf_csum_diff(0, 0, (__be32*)&h, sizeof(h), 0));
  __builtin_memcpy(p.oip, &h, sizeof(h));
  p.udp->source = bpf_htons(sport);
  p.udp->dest = cfg->vxlan_port;
  p.udp->len = bpf_htons(outer_len - sizeof(struct iphdr));
  p.udp->check = 0;  // allowed over IPv4, and what the VXLAN device sends by default
  p.vx->flags = bpf_htonl(PN_VXLAN_FLAGS);
  p.vx->vni = bpf_htonl(cfg->vni << 8);
  __builtin_memcpy(p.ieth->h_dest, tun->vtep_mac, ETH_ALEN);
  __builtin_memcpy(p.ieth->h_source, cfg->vtep_mac, ETH_ALEN);
  p.ieth->h_proto = bpf_htons(ETH_P_IP);
  __builtin_memcpy(p.eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(p.eth->h_source, fib.smac, ETH_ALEN);
  decrement_ttl(p.iip);  // this node routed the inner packet
  count(PN_STAT_TO_REMOTE_NODE);
  count(PN_STAT_ENCAP);
  return bpf_redirect(fib.ifindex, 0);
}

SEC("tc")
int pn_from_pod(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr* ip = (void*)(eth + 1);
  if (!carriable(ip, end)) return TC_ACT_OK;

  __u32 zero = 0;
  struct pn_config* cfg = bpf_map_lookup_elem(&pn_config, &zero);
  if (!cfg || !cfg->cluster_mask) return TC_ACT_OK;
  __u32 daddr = ip->daddr;
  if (!in_cluster(cfg, ip->saddr) || !in_cluster(cfg, daddr)) return TC_ACT_OK;
  // Source validation, and the step aside for pods NetworkPolicy selects or the agent has not
  // programmed: the stack judges their traffic (datapath.md section 3).
  __u32 saddr = ip->saddr;
  struct pn_pod* src = bpf_map_lookup_elem(&pn_pods, &saddr);
  if (!src || src->ifindex != skb->ingress_ifindex || src->flags) return TC_ACT_OK;
  struct pn_pod* pod = bpf_map_lookup_elem(&pn_pods, &daddr);
  if (pod && pod->flags) return TC_ACT_OK;
  struct flow_seen flow = {};
  flow_of(ip, end, &flow);
  __u32 len = skb->len;
  if (conntrack_knows(skb, ip)) return TC_ACT_OK;
  if (!(ip = headers(skb, &eth))) return TC_ACT_OK;

  if (pod) {  // same node: bridged, so no TTL change
    __builtin_memcpy(eth->h_dest, pod->mac, ETH_ALEN);
    count(PN_STAT_TO_LOCAL_POD);
    flow_carried(&flow, len, PN_FLOW_TO_LOCAL_POD);
    return bpf_redirect_peer(pod->ifindex, 0);
  }

  if (cfg->vxlan_port) {
    struct pn_tunnel_key key = {.prefixlen = 32, .addr = daddr};
    struct pn_tunnel* tun = bpf_map_lookup_elem(&pn_tunnels, &key);
    if (tun) {
      int rc = encapsulate(skb, cfg, tun);
      if (rc == TC_ACT_OK)
        count(PN_STAT_STACK);
      else if (rc != TC_ACT_SHOT)
        flow_carried(&flow, len, PN_FLOW_ENCAP);
      return rc;
    }
  }

  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.tos = ip->tos;
  fib.l4_protocol = ip->protocol;
  // tot_len 0: the helper then tests the skb against the egress MTU the GSO-aware way; a nonzero
  // tot_len would be compared as is, and a 64 KB TSO packet would read as "fragmentation needed".
  fib.tot_len = 0;
  fib.ifindex = skb->ingress_ifindex;
  fib.ipv4_src = ip->saddr;
  fib.ipv4_dst = daddr;
  long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
  // No route, no neighbour yet, MTU exceeded, or a local pod the map does not know: the stack
  // resolves, reports or delivers it.
  if (rc != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex == cfg->bridge_ifindex) {
    count(PN_STAT_STACK);
    return TC_ACT_OK;
  }
  decrement_ttl(ip);
  __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
  count(PN_STAT_TO_REMOTE_NODE);
  flow_carried(&flow, len, PN_FLOW_ROUTED);
  return bpf_redirect(fib.ifindex, 0);
}

// A VXLAN packet for a pod of this node, on the uplink: unwrapped and delivered into the pod.
static __always_inline int decapsulate(struct __sk_buff* skb, struct pn_config* cfg) {
  struct vxlan_packet p;
  if (!vxlan_headers(skb, &p, 4)) {
    // A NIC may leave headers in page fragments: bring them into the linear part.
    if (skb->len < PN_VXLAN_HEADERS || bpf_skb_pull_data(skb, PN_VXLAN_HEADERS)) return TC_ACT_OK;
    if (!vxlan_headers(skb, &p, 4)) return TC_ACT_OK;
  }
  void* end = (void*)(long)skb->data_end;
  struct iphdr* oip = p.oip;
  struct iphdr* iip = p.iip;
  if (oip->ihl != 5 || oip->protocol != IPPROTO_UDP || oip->daddr != cfg->node_ip ||
      (oip->frag_off & bpf_htons(0x3fff)) || p.udp->dest != cfg->vxlan_port)
    return TC_ACT_OK;
  if (p.vx->flags != bpf_htonl(PN_VXLAN_FLAGS) || p.vx->vni != bpf_htonl(cfg->vni << 8) ||
      p.ieth->h_proto != bpf_htons(ETH_P_IP) || !carriable(iip, end))
    return TC_ACT_OK;
  __u32 daddr = iip->daddr;
  if (!in_cluster(cfg, iip->saddr)) return TC_ACT_OK;
  struct pn_pod* pod = bpf_map_lookup_elem(&pn_pods, &daddr);
  if (!pod || pod->flags || conntrack_knows(skb, iip)) return TC_ACT_OK;  // the VXLAN device takes it
  __u32 ifindex = pod->ifindex;
  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, pod->mac, ETH_ALEN);

  if (bpf_skb_adjust_room(skb, -(__s32)PN_ENCAP_LEN, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
    return TC_ACT_OK;
  struct ethhdr* eth;
  struct iphdr* ip = headers(skb, &eth);
  if (!ip) return TC_ACT_SHOT;  // cannot happen: the inner header was there
  __builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, cfg->bridge_mac, ETH_ALEN);
  eth->h_proto = bpf_htons(ETH_P_IP);
  decrement_ttl(ip);
  count(PN_STAT_TO_LOCAL_POD);
  count(PN_STAT_DECAP);
  return bpf_redirect_peer(ifindex, 0);
}

SEC("tc")
int pn_from_node(struct __sk_buff* skb) {
  __u32 zero = 0;
  struct pn_config* cfg = bpf_map_lookup_elem(&pn_config, &zero);
  if (!cfg || !cfg->cluster_mask) return TC_ACT_OK;

  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr* ip = (void*)(eth + 1);
  if ((void*)(ip + 1) > end) return TC_ACT_OK;
  if (cfg->vxlan_port && ip->protocol == IPPROTO_UDP && ip->daddr == cfg->node_ip)
    return decapsulate(skb, cfg);

  // Routed in (host-gw, or already unwrapped by the VXLAN device): a pod of this node.
  if (!carriable(ip, end) || !in_cluster(cfg, ip->saddr)) return TC_ACT_OK;
  __u32 daddr = ip->daddr;
  struct pn_pod* pod = bpf_map_lookup_elem(&pn_pods, &daddr);
  if (!pod || pod->flags) return TC_ACT_OK;
  __u32 ifindex = pod->ifindex;
  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, pod->mac, ETH_ALEN);
  if (conntrack_knows(skb, ip) || !(ip = headers(skb, &eth))) return TC_ACT_OK;
  __builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, cfg->bridge_mac, ETH_ALEN);
  decrement_ttl(ip);
  count(PN_STAT_TO_LOCAL_POD);
  return bpf_redirect_peer(ifindex, 0);
}
