// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// podnet's pod-to-pod fast path: tc programs that carry IPv4 TCP/UDP between pods past the node's
// bridge and IP forwarding, the way Cilium's "BPF host routing" does.
//
//   pn_from_pod   tcx ingress of each pod's host-side veth (attached by podnet-cni at ADD)
//   pn_from_node  tcx ingress of the overlay device (VXLAN) or, with host-gw, the node's uplink
//
// A packet to a pod of this node goes straight into the pod's namespace with bpf_redirect_peer();
// one to a pod of another node goes straight out of the device the FIB names (the VXLAN device or
// the uplink), with the next hop's MAC from the neighbour table. Everything else, and any packet of
// a connection that conntrack knows in this node's namespace, takes the normal path (TC_ACT_OK).
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

// Per-CPU packet counters, indexed by enum pn_stat (read by `podnet` and the tests).
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PN_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} pn_stats SEC(".maps");

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

static __always_inline void count(__u32 what) {
  __u64* n = bpf_map_lookup_elem(&pn_stats, &what);
  if (n) *n += 1;
}

static __always_inline void decrement_ttl(struct iphdr* ip) {
  // As the kernel's ip_decrease_ttl(): the checksum adjusted for the one byte that changes.
  __u32 check = ip->check;
  check += bpf_htons(0x0100);
  ip->check = (__u16)(check + (check >= 0xFFFF));
  ip->ttl--;
}

static __always_inline int forward(struct __sk_buff* skb, int from_node) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr* ip = (void*)(eth + 1);
  if ((void*)(ip + 1) > end) return TC_ACT_OK;
  // Options, fragments, TTL about to expire, anything but TCP and UDP: the stack's business.
  if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)) || ip->ttl <= 1) return TC_ACT_OK;
  if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP) return TC_ACT_OK;
  __be16* ports = (void*)(ip + 1);
  if ((void*)(ports + 2) > end) return TC_ACT_OK;

  __u32 zero = 0;
  struct pn_config* cfg = bpf_map_lookup_elem(&pn_config, &zero);
  if (!cfg || !cfg->cluster_mask) return TC_ACT_OK;
  __u32 daddr = ip->daddr;
  struct pn_pod* pod = bpf_map_lookup_elem(&pn_pods, &daddr);
  if (!pod && (from_node || (daddr & cfg->cluster_mask) != cfg->cluster_net)) return TC_ACT_OK;

  struct bpf_sock_tuple tuple = {};
  tuple.ipv4.saddr = ip->saddr;
  tuple.ipv4.daddr = daddr;
  tuple.ipv4.sport = ports[0];
  tuple.ipv4.dport = ports[1];
  struct bpf_ct_opts___pn opts = {.netns_id = -1 /* BPF_F_CURRENT_NETNS */, .l4proto = ip->protocol};
  struct nf_conn* ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
  if (ct) {
    bpf_ct_release(ct);
    count(PN_STAT_CONNTRACK);
    return TC_ACT_OK;
  }

  // The kfunc call ends the verifier's knowledge of the packet pointers: take them again.
  data = (void*)(long)skb->data;
  end = (void*)(long)skb->data_end;
  eth = data;
  ip = (void*)(eth + 1);
  if ((void*)(ip + 1) > end) return TC_ACT_OK;

  if (pod) {
    __builtin_memcpy(eth->h_dest, pod->mac, ETH_ALEN);
    if (from_node) {  // routed in: from the gateway, one hop less
      __builtin_memcpy(eth->h_source, cfg->bridge_mac, ETH_ALEN);
      decrement_ttl(ip);
    }
    count(PN_STAT_TO_LOCAL_POD);
    return bpf_redirect_peer(pod->ifindex, 0);
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
  return bpf_redirect(fib.ifindex, 0);
}

SEC("tc")
int pn_from_pod(struct __sk_buff* skb) { return forward(skb, 0); }

SEC("tc")
int pn_from_node(struct __sk_buff* skb) { return forward(skb, 1); }
