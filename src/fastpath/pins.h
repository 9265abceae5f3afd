// The names the fast path's objects are pinned under in the agent's bpffs directory.
#pragma once

namespace podnet::fastpath {

inline constexpr const char* kFromPodProgram = "pn_from_pod";    // tcx ingress of pods' host veths
inline constexpr const char* kFromNodeProgram = "pn_from_node";  // tcx ingress of uplink and VXLAN
inline constexpr const char* kPodsMap = "pn_pods";               // written by podnet-cni
inline constexpr const char* kConfigMap = "pn_config";
inline constexpr const char* kTunnelsMap = "pn_tunnels";
inline constexpr const char* kStatsMap = "pn_stats";
inline constexpr const char* kFlowsMap = "pn_flows";             // per-flow report state
inline constexpr const char* kEventsMap = "pn_events";           // flow reports (ring buffer)
inline constexpr const char* kEventsLostMap = "pn_events_lost";  // reports the ring had no room for

}  // namespace podnet::fastpath
