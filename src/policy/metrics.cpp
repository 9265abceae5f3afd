#include "policy/metrics.h"

#include <boost/json/parse.hpp>
#include <cstdio>

namespace podnet::policy {
namespace json = boost::json;

Result<DeniedCounters> denied_from_json(std::string_view listing) {
  boost::system::error_code ec;
  json::value v = json::parse(listing, ec);
  if (ec || !v.is_object()) return fail_msg("nft listing: not JSON");
  DeniedCounters d;
  auto* arr = v.get_object().if_contains("nftables");
  if (!arr || !arr->is_array()) return d;
  for (const auto& item : arr->get_array()) {
    if (!item.is_object()) continue;
    auto* rule = item.get_object().if_contains("rule");
    if (!rule || !rule->is_object()) continue;
    auto* chain = rule->get_object().if_contains("chain");
    auto* expr = rule->get_object().if_contains("expr");
    if (!chain || !chain->is_string() || !expr || !expr->is_array()) continue;
    uint64_t packets = 0;
    bool drop = false, accept = false;
    for (const auto& e : expr->get_array()) {
      if (!e.is_object()) continue;
      if (e.get_object().contains("drop")) drop = true;
      if (e.get_object().contains("accept")) accept = true;
      if (auto* c = e.get_object().if_contains("counter"); c && c->is_object())
        if (auto* p = c->get_object().if_contains("packets"); p && p->is_number())
          packets += p->to_number<uint64_t>();
    }
    std::string_view name = chain->get_string();
    if (accept && (name.starts_with("ic-") || name.starts_with("ec-") || name.starts_with("en-"))) {
      d.allowed[std::string(name)] += packets;
      continue;
    }
    if (!drop) continue;
    if (name == "ingress")
      d.ingress += packets;
    else if (name == "egress")
      d.egress += packets;
    else
      d.pending += packets;
  }
  return d;
}

std::vector<PodClassCounter> pod_counters(const TableState& t, const DeniedCounters& d,
                                          const std::string& ip) {
  std::map<std::string, PodClassCounter> by_chain;
  bool v6 = ip.find(':') != std::string::npos;
  for (const char* set : {"in-ports", "in-any", "out-ports", "out-any", "out-named"}) {
    auto it = t.sets.find(std::string(set) + (v6 ? "6" : ""));
    if (it == t.sets.end()) continue;
    const auto& elements = it->second.elements;
    // Keys start with the pod address: "ip" or "ip . proto . ports".
    for (auto e = elements.lower_bound(ip); e != elements.end() && e->first.starts_with(ip); ++e) {
      if (e->first.size() != ip.size() && !e->first.starts_with(ip + " ")) continue;
      if (!e->second.starts_with("jump ")) continue;  // accept: any peer, no class
      std::string chain = e->second.substr(5);
      PodClassCounter& c = by_chain[chain];
      c.direction = set[0] == 'i' ? "ingress" : "egress";
      c.chain = chain;
      if (auto p = t.chain_policies.find(chain); p != t.chain_policies.end()) c.policies = p->second;
      if (auto n = d.allowed.find(chain); n != d.allowed.end()) c.packets = n->second;
    }
  }
  std::vector<PodClassCounter> out;
  for (auto& [_, c] : by_chain) out.push_back(std::move(c));
  return out;
}

Result<DeniedCounters> read_denied(nft::Nft& nft) {
  auto listing = nft.query(std::string("list table inet ") + kTable);
  if (!listing) return DeniedCounters{};  // no table (yet)
  return denied_from_json(*listing);
}

std::string prometheus_text(const EnforcerMetrics& m, const DeniedCounters& d, const AdmitMetrics& a,
                            const std::map<std::string, std::set<std::string>>& chain_policies) {
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
  line(
      "# HELP podnet_network_policy_allowed_packets_total New connections' packets accepted by an allow "
      "class (the rules naming the same peers), with the policies whose rules use it.");
  line("# TYPE podnet_network_policy_allowed_packets_total counter");
  for (const auto& [chain, packets] : d.allowed) {
    std::string policies;
    if (auto it = chain_policies.find(chain); it != chain_policies.end()) {
      size_t n = 0;
      for (const auto& p : it->second) {
        if (++n > 8) {  // bounded label: a class shared by many policies
          policies += ",+" + std::to_string(it->second.size() - 8) + " more";
          break;
        }
        policies += (policies.empty() ? "" : ",") + p;
      }
    }
    std::string dir = chain.starts_with("ic-") ? "ingress" : "egress";
    line("podnet_network_policy_allowed_packets_total{class=\"" + chain + "\",direction=\"" + dir +
         "\",policies=\"" + policies + "\"} " + std::to_string(packets));
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
