#include "agent/node_query.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "common/query.h"

namespace podnet::agent {
namespace {

// nft's identifiers as podnet names them; the table must be one of podnet's own.
bool valid_name(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '-' && c != '_') return false;
  return true;
}

NodeQueryError bad(std::string message) {
  return {400, std::move(message)};
}

}  // namespace

std::expected<NodeQuery, NodeQueryError> parse_node_query(std::string_view target) {
  if (target.size() > kMaxNodeQueryTarget)
    return std::unexpected(bad("request target over " + std::to_string(kMaxNodeQueryTarget) + " bytes"));
  if (!target.starts_with(kNodeApiPrefix)) return std::unexpected(NodeQueryError{404, "not a node API path"});
  std::string_view rest = target.substr(kNodeApiPrefix.size());
  size_t q = rest.find('?');
  std::string_view what = rest.substr(0, q);
  std::string_view params = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);

  NodeQuery out;
  std::set<std::string> allowed;
  if (what == "routes") {
    out.kind = NodeQueryKind::kRoutes;
    allowed = {"dst"};
  } else if (what == "fdb") {
    out.kind = NodeQueryKind::kFdb;
  } else if (what == "nft") {
    out.kind = NodeQueryKind::kNft;
    allowed = {"family", "table", "set"};
  } else if (what == "fastpath") {
    out.kind = NodeQueryKind::kFastPath;
    allowed = {"dst"};
  } else if (what == "flows") {
    out.kind = NodeQueryKind::kFlows;
    allowed = {"since"};
  } else if (what == "service") {
    out.kind = NodeQueryKind::kService;
    allowed = {"dst", "proto", "port", "service"};
  } else if (what == "policy") {
    out.kind = NodeQueryKind::kPolicy;
    allowed = {"namespace", "name"};
  } else {
    return std::unexpected(NodeQueryError{404, "unknown node API path \"" + std::string(what.substr(0, 64)) +
                                                   "\": want routes, fdb, nft, fastpath, flows, service or policy"});
  }
  std::set<std::string> seen;
  auto pairs = target::parse_query(params);
  if (!pairs) return std::unexpected(bad(pairs.error()));
  for (const auto& [key, value] : *pairs) {
    if (!allowed.contains(key))
      return std::unexpected(bad("unknown parameter \"" + key.substr(0, 32) + "\" for " + std::string(what)));
    if (!seen.insert(key).second) return std::unexpected(bad("parameter \"" + key + "\" given twice"));
    if (key == "dst") {
      auto ip = parse_ip(value);
      if (!ip) return std::unexpected(bad("dst: not an IP address"));
      out.dst = *ip;
    } else if (key == "family") {
      if (value != "ip" && value != "ip6" && value != "inet")
        return std::unexpected(bad("family: want ip, ip6 or inet"));
      out.family = value;
    } else if (key == "table") {
      if (!valid_name(value, 64) || !(value == "podnet" || value.starts_with("podnet-")))
        return std::unexpected(bad("table: only podnet's own tables (podnet-...) may be read"));
      out.table = value;
    } else if (key == "since") {
      int v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || end != value.data() + value.size() || v < 0 || v > 86400)
        return std::unexpected(bad("since: want whole seconds, 0 to 86400"));
      out.since_seconds = v;
    } else if (key == "proto") {
      if (value != "tcp" && value != "udp" && value != "sctp")
        return std::unexpected(bad("proto: want tcp, udp or sctp"));
      out.proto = value;
    } else if (key == "port") {
      int v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || end != value.data() + value.size() || v < 1 || v > 65535)
        return std::unexpected(bad("port: want 1 to 65535"));
      out.port = v;
    } else if (key == "service") {
      // NS/NAME: two DNS labels or subdomains.
      size_t slash = value.find('/');
      bool ok = slash != std::string::npos && slash > 0 && slash + 1 < value.size() && value.size() <= 317 &&
                value.find('/', slash + 1) == std::string::npos;
      for (unsigned char c : value)
        ok = ok && (std::islower(c) || std::isdigit(c) || c == '-' || c == '.' || c == '/');
      if (!ok) return std::unexpected(bad("service: want NAMESPACE/NAME"));
      out.service = value;
    } else if (key == "namespace" || key == "name") {
      // Kubernetes object names: DNS subdomains, at most 253 characters.
      bool dns_name = !value.empty() && value.size() <= 253 &&
                      std::all_of(value.begin(), value.end(), [](unsigned char c) {
                        return std::islower(c) || std::isdigit(c) || c == '-' || c == '.';
                      });
      if (!dns_name)
        return std::unexpected(bad(key + ": want a Kubernetes name (lowercase letters, digits, - and .)"));
      (key == "namespace" ? out.namespace_ : out.name) = value;
    } else if (key == "set") {
      if (!valid_name(value, 64))
        return std::unexpected(bad("set: want a set or map name (letters, digits, - and _)"));
      out.set = value;
    }
  }
  if (out.kind == NodeQueryKind::kService && (!out.dst || out.port == 0))
    return std::unexpected(bad("service: dst and port are required"));
  if (out.kind == NodeQueryKind::kService && out.proto.empty()) out.proto = "tcp";
  if (out.kind == NodeQueryKind::kPolicy && !out.name.empty() && out.namespace_.empty())
    return std::unexpected(bad("policy: name needs namespace"));
  if (out.kind == NodeQueryKind::kNft) {
    if (out.table.empty()) return std::unexpected(bad("nft: table is required"));
    if (out.family.empty()) out.family = "ip";
  }
  return out;
}

}  // namespace podnet::agent
