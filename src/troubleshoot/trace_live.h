// `podnet trace --live`: one real probe, sent as the source pod, and evidence about THAT probe
// from every node on the computed path, through each node's probe API (agent/probe.h) behind the
// API server's nodes/proxy and the right to exec into the source pod. The probe is a TCP connect
// (or one UDP datagram) from a fresh source port; each node reports the nftables trace events of
// that tuple, the fast path's flow reports of it, and the kernel's drops of it (skb:kfree_skb with
// the drop reason). Each computed hop is marked seen or not with its evidence; a lost probe is
// reported at the first hop it was not seen at, with the last hop that saw it and the drop reason.
#pragma once

#include <boost/json/value.hpp>

#include "common/error.h"
#include "troubleshoot/trace.h"

namespace podnet::troubleshoot {

struct LiveProbeOptions {
  int timeout_ms = 1000;  // the probe's connect (or answer) wait
  int ttl_ms = 5000;      // collectors left armed at most this long if the CLI dies
};

// Adds the live part to `computed` (compute_trace's answer for `request`): each hop gets
// "live": {"seen", "evidence": [...]}, the top level "live": {"probe", "nodes", "last_seen", ...}
// and "result"/"lost_at"/"reason" become the probe's ("computed" keeps the computed ones).
Result<boost::json::value> live_trace(const ApiGet& get, const TraceRequest& request,
                                      boost::json::value computed, const LiveProbeOptions& options = {});

// Picks the hop the probe was lost at from what each hop saw (pure: the unit tests' entry point).
// `hops` as in the trace JSON, each with "live" set; returns {lost_at, last_seen} ("" when none).
std::pair<std::string, std::string> lost_hop(const boost::json::array& hops);

std::string format_live_trace(const boost::json::value& trace);

// The CLI's `podnet trace --live`: 0 delivered, 1 lost, 2 bad input or API errors.
int run_trace_live(const TraceOptions& opts, const LiveProbeOptions& live = {});

}  // namespace podnet::troubleshoot
