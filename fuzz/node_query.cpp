// The node API's request targets (agent/node_query.h): what the API server relays from a user
// allowed nodes/proxy, so untrusted, and the probe steps of `trace --live` (agent/probe_query.h).
// Every line is a target; so is the whole input.
#include "agent/node_query.h"

#include <string_view>

#include "agent/probe_query.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  std::string_view text = podnet::fuzz::as_text(data, size);
  auto check = [](std::string_view t) {
    auto q = podnet::agent::parse_node_query(t);
    if (!q && q.error().status != 400 && q.error().status != 404) __builtin_trap();
    if (q && q->kind == podnet::agent::NodeQueryKind::kNft &&
        (q->table.empty() || !q->table.starts_with("podnet") || q->family.empty()))
      __builtin_trap();  // only podnet's own tables may ever be listed
    auto p = podnet::agent::parse_probe_query(t);
    if (!p && p.error().status != 400 && p.error().status != 404) __builtin_trap();
    // Every probe step names its source pod (the API server's exec check), and a probe always
    // has its fresh source port outside the privileged range.
    if (p && (p->ns.empty() || p->pod.empty())) __builtin_trap();
    if (p && p->step != podnet::agent::ProbeStep::kCollect && p->sport < 1024) __builtin_trap();
  };
  check(text);
  while (!text.empty()) {
    size_t nl = text.find('\n');
    check(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return 0;
}
