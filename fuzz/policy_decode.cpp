// What the agent's NetworkPolicy engine reads from the API (any cluster's, so untrusted): the
// input decoded as a NetworkPolicy, a Pod and a Namespace, then planned together with a fixed
// local pod (selectors, ipBlock intervals, port segments, named ports all run on it), through the
// incremental update path.
#include <boost/json/parse.hpp>

#include "fuzz_target.h"
#include "policy/planner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(podnet::fuzz::as_text(data, size), ec);
  if (ec) return 0;
  using namespace podnet::policy;
  std::map<std::string, Pod> pods;
  std::map<std::string, Namespace> namespaces;
  std::map<std::string, NetworkPolicy> policies;
  Pod local{.namespace_ = "default", .name = "local", .node = "n1", .labels = {{"app", "web"}}};
  local.ips.push_back(podnet::parse_ip("10.244.1.2").value());
  local.ports.push_back({"http", Protocol::kTcp, 80});
  pods[local.key()] = local;
  if (auto p = decode_pod(v)) pods[p->key()] = *p;
  if (auto n = decode_namespace(v)) namespaces[n->name] = *n;
  if (auto np = decode_network_policy(v)) {
    // Also as a policy of the local pod's namespace selecting it.
    NetworkPolicy here = *np;
    here.namespace_ = "default";
    here.name = "fuzz-local";
    policies[np->key()] = *np;
    policies[here.key()] = here;
  }
  // Planned whole without the fuzzed objects, then updated incrementally with them.
  std::map<std::string, Pod> local_only{{local.key(), local}};
  std::map<std::string, Namespace> no_namespaces;
  std::map<std::string, NetworkPolicy> no_policies;
  PlannerInput in{.node = "n1",
                  .own_ranges = {podnet::parse_prefix("10.244.1.0/24").value()},
                  .pods = &local_only,
                  .namespaces = &no_namespaces,
                  .policies = &no_policies};
  Planner planner;
  (void)planner.rebuild(in);
  PlanChanges changes;
  for (const auto& [k, _] : pods) changes.pods.insert(k);
  for (const auto& [k, _] : namespaces) changes.namespaces.insert(k);
  for (const auto& [k, _] : policies) changes.policies.insert(k);
  in.pods = &pods;
  in.namespaces = &namespaces;
  in.policies = &policies;
  (void)planner.update(in, changes);
  return 0;
}
