// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// `podnet trace --live`'s drop witness: a raw tracepoint program on skb:kfree_skb (this kernel has
// no kprobes) that reports the skbs of ONE probe connection the kernel frees as dropped, with the
// kernel's drop reason, the freeing function's address, the device and its network namespace.
// The probe is told apart by its source address and fresh source port (the forward direction) or
// the same as destination (the reply); a VXLAN-encapsulated probe is matched on its inner headers.
// Loaded only while a probe is armed (drop_watch.h), then detached and freed.
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/types.h>

// libbpf's headers need the kernel's types above first.
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "drop_watch_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// Just the fields read here; CO-RE relocates them against the running kernel's BTF.
struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));
struct net {
  struct ns_common ns;
} __attribute__((preserve_access_index));
typedef struct {
  struct net* net;
} possible_net_t;
struct net_device {
  int ifindex;
  char name[16];
  possible_net_t nd_net;
} __attribute__((preserve_access_index));
struct sk_buff {
  struct net_device* dev;
  unsigned char* head;
  __u16 transport_header;
  __u16 network_header;
} __attribute__((preserve_access_index));

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct pn_drop_filter);
} pn_drop_filter SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, PN_DROP_RING_BYTES);
} pn_drop_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} pn_drop_lost SEC(".maps");

struct ports {
  __be16 src, dst;
};

// 1: forward, 2: reply, 0: not the probe.
static __always_inline int match(const struct pn_drop_filter* f, const struct iphdr* ip,
                                 const struct ports* p) {
  if (ip->protocol != f->proto) return 0;
  if (ip->saddr == f->saddr && p->src == f->sport) return 1;
  if (ip->daddr == f->saddr && p->dst == f->sport) return 2;
  return 0;
}

SEC("raw_tp/kfree_skb")
int pn_drop_watch(struct bpf_raw_tracepoint_args* ctx) {
  __u32 zero = 0;
  const struct pn_drop_filter* f = bpf_map_lookup_elem(&pn_drop_filter, &zero);
  if (!f || !f->saddr) return 0;
  struct sk_buff* skb = (struct sk_buff*)ctx->args[0];
  unsigned char* head = BPF_CORE_READ(skb, head);
  __u16 nh = BPF_CORE_READ(skb, network_header);
  if (!head || nh == (__u16)~0U) return 0;
  struct iphdr ip;
  if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) != 0 || ip.version != 4) return 0;
  unsigned char* l4 = head + nh + ip.ihl * 4;
  struct ports p;
  if (bpf_probe_read_kernel(&p, sizeof(p), l4) != 0) return 0;
  int dir = match(f, &ip, &p);
  __u8 encap = 0;
  if (!dir && ip.protocol == IPPROTO_UDP && f->vxlan_port && p.dst == f->vxlan_port) {
    // UDP 8 + VXLAN 8 + inner Ethernet 14, then the inner IPv4 header.
    unsigned char* inner = l4 + 30;
    if (bpf_probe_read_kernel(&ip, sizeof(ip), inner) != 0 || ip.version != 4) return 0;
    if (bpf_probe_read_kernel(&p, sizeof(p), inner + ip.ihl * 4) != 0) return 0;
    dir = match(f, &ip, &p);
    encap = 1;
  }
  if (!dir) return 0;
  struct pn_drop_event* ev = bpf_ringbuf_reserve(&pn_drop_events, sizeof(*ev), 0);
  if (!ev) {
    __u64* lost = bpf_map_lookup_elem(&pn_drop_lost, &zero);
    if (lost) __sync_fetch_and_add(lost, 1);
    return 0;
  }
  __builtin_memset(ev, 0, sizeof(*ev));
  ev->ts_ns = bpf_ktime_get_ns();
  ev->location = ctx->args[1];
  ev->reason = (__u32)ctx->args[2];
  ev->saddr = ip.saddr;
  ev->daddr = ip.daddr;
  ev->sport = p.src;
  ev->dport = p.dst;
  ev->proto = ip.protocol;
  ev->reply = dir == 2;
  ev->encap = encap;
  struct net_device* dev = BPF_CORE_READ(skb, dev);
  if (dev) {
    ev->ifindex = BPF_CORE_READ(dev, ifindex);
    BPF_CORE_READ_STR_INTO(&ev->dev, dev, name);
    if (bpf_core_field_exists(dev->nd_net.net->ns.inum)) ev->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
  }
  bpf_ringbuf_submit(ev, 0);
  return 0;
}
