#include "policy/metrics.h"

#include <linux/netfilter.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>

#include "nft/counters.h"

namespace podnet::policy {
namespace json = boost::json;
namespace {

// A Prometheus label value: API names need no escaping, but an object from a real cluster may be odd.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Result<DeniedCounters> denied_from_json(std::string_view listing) {
  boost::system::error_code ec;
  json::value v = json::parse(listing, ec);
  if (ec || !v.is_object()) return fail_msg("nft listing: not JSON");
  DeniedCounters d;
  auto* arr = v.get_object().if_contains("nftables");
  if (!arr || !arr->is_array()) return d;
  auto number = [](const json::object& o, const char* key) -> uint64_t {
    auto* n = o.if_contains(key);
    return n && n->is_number() ? n->to_number<uint64_t>() : 0;
  };
  for (const auto& item : arr->get_array()) {
    if (!item.is_object()) continue;
    auto* counter = item.get_object().if_contains("counter");
    if (!counter || !counter->is_object()) continue;
    const json::object& c = counter->get_object();
    auto* name = c.if_contains("name");
    if (!name || !name->is_string()) continue;
    std::string_view n = name->get_string();
    uint64_t packets = number(c, "packets");
    if (n == "deny-ingress")
      d.ingress += packets;
    else if (n == "deny-egress")
      d.egress += packets;
    else if (n == "deny-pending")
      d.pending += packets;
    else if (n.starts_with("r-"))
      d.rules[std::string(n)] = {packets, number(c, "bytes")};
  }
  return d;
}

std::vector<RuleCounter> rule_counters(const std::map<std::string, RuleRef>& counters,
                                       const DeniedCounters& d, std::string_view ns, std::string_view name) {
  std::string want = ns.empty() ? std::string() : std::string(ns) + "/" + std::string(name);
  std::vector<RuleCounter> out;
  for (const auto& [counter, rule] : counters) {
    if (!ns.empty() && (name.empty() ? !rule.policy.starts_with(want) : rule.policy != want)) continue;
    RuleCounter rc{rule};
    if (auto it = d.rules.find(counter); it != d.rules.end()) {
      rc.packets = it->second.packets;
      rc.bytes = it->second.bytes;
    }
    out.push_back(std::move(rc));
  }
  std::sort(out.begin(), out.end(),
            [](const RuleCounter& a, const RuleCounter& b) { return a.rule < b.rule; });
  return out;
}

std::vector<RuleCounter> pod_counters(const TableState& t, const DeniedCounters& d, const std::string& ip) {
  auto sel = t.selected_by.find(ip);
  if (sel == t.selected_by.end()) return {};
  std::set<std::string> policies(sel->second.begin(), sel->second.end());
  std::vector<RuleCounter> out;
  for (const auto& rc : rule_counters(t.counters, d))
    if (policies.contains(rc.rule.policy)) out.push_back(rc);
  return out;
}

std::string rule_counters_json(const std::vector<RuleCounter>& counters) {
  json::array list;
  for (const auto& c : counters) {
    size_t slash = c.rule.policy.find('/');
    list.push_back(json::object{{"namespace", c.rule.policy.substr(0, slash)},
                                {"policy", slash == std::string::npos ? "" : c.rule.policy.substr(slash + 1)},
                                {"direction", c.rule.direction},
                                {"rule", c.rule.rule},
                                {"packets", c.packets},
                                {"bytes", c.bytes}});
  }
  return json::serialize(json::object{{"counters", std::move(list)}});
}

Result<DeniedCounters> read_denied(nft::Nft&) {
  // One dump of the table's counter objects: `list counters table` read the whole ruleset first
  // (seconds on a loaded node with the proxy's shards; nft/counters.h).
  PODNET_TRY(counters, nft::read_counter_objects(NFPROTO_INET, kTable));
  DeniedCounters d;
  for (const auto& [name, c] : counters) {
    if (name == "deny-ingress")
      d.ingress += c.packets;
    else if (name == "deny-egress")
      d.egress += c.packets;
    else if (name == "deny-pending")
      d.pending += c.packets;
    else if (name.starts_with("r-"))
      d.rules[name] = {c.packets, c.bytes};
  }
  return d;
}

std::string prometheus_text(const EnforcerMetrics& m, const DeniedCounters& d, const AdmitMetrics& a,
                            const std::map<std::string, RuleRef>& counters) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  char buf[64];
  auto num = [&](double x) {
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return std::string(buf);
  };
  line("# HELP podnet_network_policy_sync_duration_seconds NetworkPolicy sync latency (plan and write).");
  line("# TYPE podnet_network_policy_sync_duration_seconds summary");
  line("podnet_network_policy_sync_duration_seconds_sum " + num(m.sync_seconds_sum));
  line("podnet_network_policy_sync_duration_seconds_count " + std::to_string(m.syncs));
  line("# HELP podnet_network_policy_last_sync_duration_seconds The last sync's duration.");
  line("# TYPE podnet_network_policy_last_sync_duration_seconds gauge");
  line("podnet_network_policy_last_sync_duration_seconds " + num(m.last_sync_seconds));
  line("# HELP podnet_network_policy_syncs_total NetworkPolicy syncs by result.");
  line("# TYPE podnet_network_policy_syncs_total counter");
  line("podnet_network_policy_syncs_total{result=\"full\"} " + std::to_string(m.full_syncs));
  line("podnet_network_policy_syncs_total{result=\"partial\"} " + std::to_string(m.syncs - m.full_syncs));
  line("podnet_network_policy_syncs_total{result=\"failed\"} " + std::to_string(m.failed_syncs));
  line(
      "# HELP podnet_network_policy_skipped_objects_total Objects skipped because they could not be "
      "decoded.");
  line("# TYPE podnet_network_policy_skipped_objects_total counter");
  line("podnet_network_policy_skipped_objects_total " + std::to_string(m.skipped_objects));
  line("# HELP podnet_network_policy_policies NetworkPolicies known.");
  line("# TYPE podnet_network_policy_policies gauge");
  line("podnet_network_policy_policies " + std::to_string(m.policies));
  line("# HELP podnet_network_policy_local_pods Local pod addresses programmed.");
  line("# TYPE podnet_network_policy_local_pods gauge");
  line("podnet_network_policy_local_pods " + std::to_string(m.local_pods));
  line("# HELP podnet_network_policy_nftables_elements Elements in table inet podnet-policy.");
  line("# TYPE podnet_network_policy_nftables_elements gauge");
  line("podnet_network_policy_nftables_elements " + std::to_string(m.elements));
  line("# HELP podnet_network_policy_denied_packets_total Packets dropped by NetworkPolicy, by reason.");
  line("# TYPE podnet_network_policy_denied_packets_total counter");
  line("podnet_network_policy_denied_packets_total{direction=\"ingress\"} " + std::to_string(d.ingress));
  line("podnet_network_policy_denied_packets_total{direction=\"egress\"} " + std::to_string(d.egress));
  line("podnet_network_policy_denied_packets_total{direction=\"pending\"} " + std::to_string(d.pending));
  // One series per rule with a counter on this node: bounded by the rules of the policies that
  // select a local pod (label values are API names: no quoting needed beyond what they allow).
  line(
      "# HELP podnet_network_policy_rule_allowed_packets_total Packets of new connections a NetworkPolicy "
      "rule was the first to allow, for the pods it selects on this node.");
  line("# TYPE podnet_network_policy_rule_allowed_packets_total counter");
  for (const auto& rc : rule_counters(counters, d)) {
    size_t slash = rc.rule.policy.find('/');
    line("podnet_network_policy_rule_allowed_packets_total{namespace=\"" +
         label(rc.rule.policy.substr(0, slash)) + "\",policy=\"" +
         label(slash == std::string::npos ? "" : rc.rule.policy.substr(slash + 1)) + "\",direction=\"" +
         rc.rule.direction + "\",rule=\"" + std::to_string(rc.rule.rule) + "\"} " +
         std::to_string(rc.packets));
  }
  line(
      "# HELP podnet_network_policy_pod_admission_duration_seconds How long a new pod's first container "
      "waited for its rules to be in the kernel.");
  line("# TYPE podnet_network_policy_pod_admission_duration_seconds histogram");
  for (size_t i = 0; i < std::size(AdmitMetrics::kBuckets); ++i)
    line("podnet_network_policy_pod_admission_duration_seconds_bucket{le=\"" +
         num(AdmitMetrics::kBuckets[i]) + "\"} " + std::to_string(a.buckets[i]));
  line("podnet_network_policy_pod_admission_duration_seconds_bucket{le=\"+Inf\"} " +
       std::to_string(a.admits));
  line("podnet_network_policy_pod_admission_duration_seconds_sum " + num(a.seconds_sum));
  line("podnet_network_policy_pod_admission_duration_seconds_count " + std::to_string(a.admits));
  line("# HELP podnet_network_policy_pod_admission_max_seconds The longest such wait.");
  line("# TYPE podnet_network_policy_pod_admission_max_seconds gauge");
  line("podnet_network_policy_pod_admission_max_seconds " + num(a.max_seconds));
  line("# HELP podnet_network_policy_pod_admission_timeouts_total Pods started before their rules were in.");
  line("# TYPE podnet_network_policy_pod_admission_timeouts_total counter");
  line("podnet_network_policy_pod_admission_timeouts_total " + std::to_string(a.timeouts));
  line(
      "# HELP podnet_network_policy_pod_admission_syncs_total Syncs that wrote waiting new pods (pods "
      "starting together share one).");
  line("# TYPE podnet_network_policy_pod_admission_syncs_total counter");
  line("podnet_network_policy_pod_admission_syncs_total " + std::to_string(a.syncs));
  line("# HELP podnet_network_policy_denials_logged_total Denied packets logged (NFLOG, rate-limited).");
  line("# TYPE podnet_network_policy_denials_logged_total counter");
  line("podnet_network_policy_denials_logged_total " + std::to_string(a.denials_logged));
  line("# HELP podnet_network_policy_log_overruns_total Times the kernel dropped denial log messages.");
  line("# TYPE podnet_network_policy_log_overruns_total counter");
  line("podnet_network_policy_log_overruns_total " + std::to_string(a.log_overruns));
  return out;
}

}  // namespace podnet::policy
