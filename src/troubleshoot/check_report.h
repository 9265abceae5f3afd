// `podnet check`'s plan and verdicts, apart from the API work so they are tested without a cluster:
// which targets each probe pod gets, how the probe results become rows (path, from, to, result,
// latency), and which hop a failure points at, reasoned from the other rows (a cross-node path
// failing while the same node works points at the route or tunnel between the two nodes, a
// ClusterIP failing while the pods behind it answer points at the service proxy, ...).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "troubleshoot/probe.h"

namespace podnet::troubleshoot {

inline constexpr uint16_t kServerPort = 8080;  // the check's servers; allowed by its policy
inline constexpr uint16_t kDeniedPort = 8081;  // the same servers; denied by its policy
inline constexpr uint16_t kPeerPort = 9090;    // the second container of each client pod, on 127.0.0.1
inline constexpr uint16_t kServicePort = 80;

struct CheckNode {
  std::string name, ip;  // ip: the node's InternalIP
};

// A feature the check found absent: why it was skipped, and how that was detected.
struct Availability {
  bool available = true;
  std::string why_not;
};

// What the check set up, as the probes and the verdicts need it.
struct CheckPlan {
  std::string ns;
  std::vector<CheckNode> nodes;
  std::map<std::string, std::string> server_ip;  // node -> its server pod's IP
  std::map<std::string, std::string> client_ip;  // node -> its client pod's IP
  std::string cluster_ip;                        // of Service "cip"
  std::string cluster_domain = "cluster.local";
  Availability dns, policy, outside, lb;
  std::string outside_addr;  // this machine, where pods' egress probes go ("ip:port")
  uint16_t node_port = 0, local_node_port = 0;
  std::string lb_ip;
  int connections_per_client = 0;  // to the ClusterIP, per client pod (0: 4 per node)
};

// The targets of the client pod on `node`, of the hostNetwork pod on `node`, and of this machine.
std::vector<ProbeTarget> client_targets(const CheckPlan& plan, const std::string& node);
std::vector<ProbeTarget> node_targets(const CheckPlan& plan, const std::string& node);
std::vector<ProbeTarget> outside_targets(const CheckPlan& plan);

enum class Verdict { kPass, kFail, kSkip };
const char* verdict_name(Verdict v);

struct CheckRow {
  std::string path, from, to;
  Verdict verdict = Verdict::kPass;
  double latency_ms = -1;  // < 0: none
  std::string detail;      // what was seen
  std::string hop, cause;  // failures only: where, and the likely reason
};

// What came back. A source with no results (its pod never reported) has an entry in `missing`.
struct CheckResults {
  std::map<std::string, std::vector<ProbeResult>> client, node;  // by node name
  std::vector<ProbeResult> outside;
  std::string outside_local_addr;              // this machine's address toward the nodes
  std::map<std::string, std::string> missing;  // "client/<node>", "node/<node>" -> why
};

std::vector<CheckRow> judge(const CheckPlan& plan, const CheckResults& results);
// Fills hop and cause of every failed row from the pattern of failures.
void diagnose(const CheckPlan& plan, std::vector<CheckRow>& rows);

std::string format_table(const std::vector<CheckRow>& rows);
std::string format_json(const CheckPlan& plan, const std::vector<CheckRow>& rows, double seconds);

}  // namespace podnet::troubleshoot
