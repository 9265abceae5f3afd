#include "agent/probe_query.h"

#include <cctype>
#include <charconv>
#include <set>

#include "common/query.h"

namespace podnet::agent {
namespace {

NodeQueryError bad(std::string message) {
  return {400, std::move(message)};
}

// A DNS-1123 label or subdomain, as pod and namespace names are.
bool valid_object_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (unsigned char c : s)
    if (!std::islower(c) && !std::isdigit(c) && c != '-' && c != '.') return false;
  return true;
}

bool parse_int(std::string_view v, int lo, int hi, int& out) {
  int x = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size() || x < lo || x > hi) return false;
  out = x;
  return true;
}

}  // namespace

std::expected<ProbeQuery, NodeQueryError> parse_probe_query(std::string_view target) {
  if (target.size() > kMaxNodeQueryTarget)
    return std::unexpected(bad("request target over " + std::to_string(kMaxNodeQueryTarget) + " bytes"));
  if (!target.starts_with(kProbePrefix)) return std::unexpected(NodeQueryError{404, "not a probe path"});
  std::string_view rest = target.substr(kProbePrefix.size());
  size_t q = rest.find('?');
  std::string_view what = rest.substr(0, q);
  std::string_view params = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  ProbeQuery out;
  std::set<std::string> allowed{"namespace", "pod"}, required{"namespace", "pod"};
  if (what == "arm") {
    out.step = ProbeStep::kArm;
    allowed.insert({"src", "sport", "proto", "ttl"});
    required.insert({"src", "sport"});
  } else if (what == "send") {
    out.step = ProbeStep::kSend;
    allowed.insert({"dst", "dport", "sport", "proto", "wait"});
    required.insert({"dst", "dport", "sport"});
  } else if (what == "collect") {
    out.step = ProbeStep::kCollect;
    allowed.insert("id");
    required.insert("id");
  } else {
    return std::unexpected(NodeQueryError{
        404, "unknown probe step \"" + std::string(what.substr(0, 32)) + "\": want arm, send or collect"});
  }
  auto pairs = target::parse_query(params, 32);
  if (!pairs) return std::unexpected(bad(pairs.error()));
  std::set<std::string> seen;
  for (const auto& [key, value] : *pairs) {
    if (!allowed.contains(key))
      return std::unexpected(
          bad("unknown parameter \"" + key.substr(0, 32) + "\" for probe/" + std::string(what)));
    if (!seen.insert(key).second) return std::unexpected(bad("parameter \"" + key + "\" given twice"));
    int n = 0;
    if (key == "namespace" || key == "pod") {
      if (!valid_object_name(value)) return std::unexpected(bad(key + ": not a valid name"));
      (key == "pod" ? out.pod : out.ns) = value;
    } else if (key == "src" || key == "dst") {
      auto ip = parse_ip(value);
      if (!ip || !ip->is_v4()) return std::unexpected(bad(key + ": want an IPv4 address"));
      (key == "src" ? out.src : out.dst) = *ip;
    } else if (key == "sport") {
      if (!parse_int(value, 1024, 65535, n)) return std::unexpected(bad("sport: want 1024 to 65535"));
      out.sport = static_cast<uint16_t>(n);
    } else if (key == "dport") {
      if (!parse_int(value, 1, 65535, n)) return std::unexpected(bad("dport: want 1 to 65535"));
      out.dport = static_cast<uint16_t>(n);
    } else if (key == "proto") {
      if (value != "tcp" && value != "udp") return std::unexpected(bad("proto: want tcp or udp"));
      out.proto = value == "tcp" ? 6 : 17;
    } else if (key == "ttl") {
      if (!parse_int(value, 100, 10000, n)) return std::unexpected(bad("ttl: want 100 to 10000 ms"));
      out.ttl_ms = n;
    } else if (key == "wait") {
      // Not "timeout": the API server keeps that parameter for itself (kubectl --request-timeout).
      if (!parse_int(value, 50, 5000, n)) return std::unexpected(bad("wait: want 50 to 5000 ms"));
      out.timeout_ms = n;
    } else if (key == "id") {
      if (value.empty() || value.size() > 32) return std::unexpected(bad("id: want arm's answer"));
      for (unsigned char c : value)
        if (!std::isxdigit(c)) return std::unexpected(bad("id: want arm's answer"));
      out.id = value;
    }
  }
  for (const auto& key : required)
    if (!seen.contains(key))
      return std::unexpected(bad("probe/" + std::string(what) + ": parameter \"" + key + "\" is required"));
  return out;
}

}  // namespace podnet::agent
