// The agent's reading of a Pod bound to its node: decode_pod (containers, env, ports, probes,
// grace periods, DNS settings), the identity fallback it reports refusals with, deletion fields, and the
// probe ports it would dial.
#include "runtime/pod_spec.h"

#include <boost/json.hpp>

#include "fuzz_target.h"
#include "runtime/pod_dns.h"

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
  // What the pod's /etc/resolv.conf and /etc/hosts would say: every accepted value must stay one word
  // of its line.
  NodeDns node{
      {"10.96.0.10"}, "cluster.local", parse_resolv_conf("search example.com\nnameserver 10.0.0.2\n")};
  std::string resolv = format_resolv_conf(pod_resolv_conf(*spec, node).conf);
  std::string hosts = pod_hosts_file(*spec, {"10.244.0.5"}, "cluster.local", "127.0.0.1\tlocalhost\n");
  for (const std::string* text : {&resolv, &hosts})
    for (char ch : *text)
      if (ch == '\0' || ch == '\r') __builtin_trap();
  return 0;
}
