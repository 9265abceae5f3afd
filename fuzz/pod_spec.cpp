// The agent's reading of a Pod bound to its node: decode_pod (containers, env, ports, probes,
// grace periods), the identity fallback it reports refusals with, deletion fields, and the probe
// ports it would dial.
#include "runtime/pod_spec.h"

#include <boost/json.hpp>

#include "fuzz_target.h"

namespace json = boost::json;
using namespace podnet::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  boost::system::error_code ec;
  json::value pod = json::parse(podnet::fuzz::as_text(data, size), ec);
  if (ec) return 0;
  (void)decode_deletion(pod);
  (void)decode_pod_identity(pod);
  auto spec = decode_pod(pod);
  if (!spec) return 0;
  (void)valid_pod_uid(spec->uid);
  for (const auto* list : {&spec->containers, &spec->init_containers})
    for (const auto& c : *list)
      for (const auto* probe : {&c.readiness, &c.liveness, &c.startup})
        if (*probe) (void)probe_port(**probe, c);
  return 0;
}
