/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What drop_watch.bpf.c and drop_watch.cpp share: the probe's filter and a drop report. */
#ifndef PODNET_DROP_WATCH_ABI_H
#define PODNET_DROP_WATCH_ABI_H

#include <linux/types.h>

#define PN_DROP_RING_BYTES 16384 /* about 200 reports: one probe's drops, bounded */

struct pn_drop_filter {
  __be32 saddr;      /* the probe's source address; 0: off */
  __be16 sport;      /* its fresh source port */
  __be16 vxlan_port; /* also match inside VXLAN to this UDP port; 0: no */
  __u8 proto;        /* IPPROTO_TCP or IPPROTO_UDP */
  __u8 pad[3];
};

struct pn_drop_event {
  __u64 ts_ns;    /* CLOCK_MONOTONIC */
  __u64 location; /* the kernel address that freed the skb */
  __u32 reason;   /* enum skb_drop_reason */
  __s32 ifindex;  /* skb->dev, 0 when none */
  __u32 netns;    /* skb->dev's network namespace inode, 0 when unknown */
  __be32 saddr, daddr;
  __be16 sport, dport;
  __u8 proto;
  __u8 reply; /* the reply direction (to the probe's source) */
  __u8 encap; /* matched inside a VXLAN packet */
  __u8 pad;
  char dev[16];
};

#endif
