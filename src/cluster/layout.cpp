#include "cluster/layout.h"

#include <unistd.h>

#include <boost/json.hpp>

#include "common/files.h"

namespace podnet::cluster {
namespace {

// Host numbers within the underlay: gateway 1, node i at 10 + i, the LB pool at 240/28, so nodes
// must end below the pool.
constexpr int kFirstNodeOffset = 10;
constexpr int kLbPoolOffset = 240;
constexpr int kMaxNodes = kLbPoolOffset - kFirstNodeOffset - 1;

IpAddress base(const IpPrefix& underlay) {
  return underlay.network().addr;
}

bool valid_cid(const std::string& cid) {
  if (cid.size() != 4) return false;
  for (char c : cid)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

bool overlaps(const IpPrefix& a, const IpPrefix& b) {
  if (a.is_v4() != b.is_v4()) return false;
  return a.network().contains(b.network().addr) || b.network().contains(a.network().addr);
}

Status validate(const ClusterSpec& spec) {
  if (!valid_cid(spec.cid)) return fail_msg("cluster id \"" + spec.cid + "\": want 4 hex digits");
  if (!spec.underlay.is_v4() || spec.underlay.len > 24 || spec.underlay.len < 8)
    return fail_msg("underlay " + spec.underlay.str() + ": want an IPv4 prefix of length 8 to 24");
  if (spec.nodes < 1 || spec.nodes > kMaxNodes)
    return fail_msg("--nodes " + std::to_string(spec.nodes) + ": want 1 to " + std::to_string(kMaxNodes));
  if (spec.overlay != "vxlan" && spec.overlay != "host-gw")
    return fail_msg("--overlay " + spec.overlay + ": want vxlan or host-gw");
  if (!spec.state_dir.starts_with("/")) return fail_msg("state dir must be absolute");
  PODNET_TRY(pods, parse_prefix(spec.cluster_cidr));
  PODNET_TRY(services, parse_prefix(spec.service_cidr));
  for (const auto& [name, p] : {std::pair{"cluster CIDR", pods}, std::pair{"service CIDR", services}})
    if (overlaps(spec.underlay, p))
      return fail_msg("underlay " + spec.underlay.str() + " overlaps the " + name + " " + p.str());
  if (overlaps(pods, services))
    return fail_msg("cluster CIDR " + pods.str() + " overlaps service CIDR " + services.str());
  return {};
}

IpPrefix Layout::gateway() const {
  return IpPrefix{ip_add(base(spec_.underlay), 1), spec_.underlay.len};
}

IpAddress Layout::cluster_dns() const {
  auto range = parse_prefix(spec_.service_cidr);  // validate() has accepted it
  return range ? ip_add(range->network().addr, 10) : IpAddress();
}

IpPrefix Layout::lb_pool() const {
  return IpPrefix{ip_add(base(spec_.underlay), kLbPoolOffset), 28};
}

IpPrefix Layout::node_ip(int i) const {
  return IpPrefix{ip_add(base(spec_.underlay), kFirstNodeOffset + i), spec_.underlay.len};
}

std::string Layout::server_url() const {
  return "https://" + gateway().addr.to_string() + ":" + std::to_string(spec_.api_port);
}

std::vector<std::string> Layout::daemons() const {
  std::vector<std::string> out{"server"};
  for (int i = 1; spec_.agents && i <= spec_.nodes; ++i) out.push_back(agent_daemon(node_name(i)));
  return out;
}

std::string to_json(const ClusterSpec& spec) {
  boost::json::object o{
      {"stateDir", spec.state_dir},
      {"clusterID", spec.cid},
      {"underlay", spec.underlay.str()},
      {"nodes", spec.nodes},
      {"overlay", spec.overlay},
      {"apiPort", spec.api_port},
      {"clusterCIDR", spec.cluster_cidr},
      {"serviceCIDR", spec.service_cidr},
      {"fastPath", spec.fast_path},
      {"agents", spec.agents},
      {"dns", spec.dns},
  };
  return boost::json::serialize(o) + "\n";
}

Result<ClusterSpec> spec_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return fail_msg("cluster record: not a JSON object");
  const auto& o = v.as_object();
  auto str = [&](const char* key) -> Result<std::string> {
    auto* f = o.if_contains(key);
    if (!f || !f->is_string()) return fail_msg(std::string("cluster record: no string \"") + key + "\"");
    return std::string(f->as_string());
  };
  auto num = [&](const char* key) -> Result<int64_t> {
    auto* f = o.if_contains(key);
    if (!f || !f->is_int64()) return fail_msg(std::string("cluster record: no number \"") + key + "\"");
    return f->as_int64();
  };
  ClusterSpec s;
  PODNET_TRY(dir, str("stateDir"));
  PODNET_TRY(cid, str("clusterID"));
  PODNET_TRY(underlay, str("underlay"));
  PODNET_TRY(nodes, num("nodes"));
  PODNET_TRY(overlay, str("overlay"));
  PODNET_TRY(port, num("apiPort"));
  PODNET_TRY(pods, str("clusterCIDR"));
  PODNET_TRY(services, str("serviceCIDR"));
  PODNET_TRY(prefix, parse_prefix(underlay));
  if (port < 1 || port > 65535) return fail_msg("cluster record: bad apiPort");
  s.state_dir = dir;
  s.cid = cid;
  s.underlay = prefix;
  s.nodes = static_cast<int>(nodes);
  s.overlay = overlay;
  s.api_port = static_cast<uint16_t>(port);
  s.cluster_cidr = pods;
  s.service_cidr = services;
  // Records written before the fast path existed lack the key.
  if (auto* f = o.if_contains("fastPath")) {
    if (!f->is_bool()) return fail_msg("cluster record: \"fastPath\" is not a boolean");
    s.fast_path = f->as_bool();
  }
  // Records written before `up` could restore a cluster lack the key; they had agents unless made
  // with --no-agents, which nothing recorded.
  if (auto* f = o.if_contains("agents")) {
    if (!f->is_bool()) return fail_msg("cluster record: \"agents\" is not a boolean");
    s.agents = f->as_bool();
  }
  // Records written before `up --no-dns` lack the key: their clusters had DNS.
  if (auto* f = o.if_contains("dns")) {
    if (!f->is_bool()) return fail_msg("cluster record: \"dns\" is not a boolean");
    s.dns = f->as_bool();
  }
  if (auto st = validate(s); !st) return std::unexpected(wrap(st.error(), "cluster record"));
  return s;
}

Status write_record_exclusive(const Layout& layout) {
  const std::string path = layout.record_path();
  const std::string tmp = path + ".new-" + std::to_string(::getpid());
  if (auto s = write_file_atomic(tmp, to_json(layout.spec()), 0644, /*sync=*/true); !s) return s;
  // link() fails with EEXIST instead of replacing, unlike rename().
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) return fail("create " + path, err);
  return {};
}

Result<std::optional<ClusterSpec>> load_record(const std::string& state_dir) {
  const std::string path = state_dir + "/cluster.json";
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ENOENT) return std::optional<ClusterSpec>{};
    return std::unexpected(text.error());
  }
  auto spec = spec_from_json(*text);
  if (!spec) return std::unexpected(wrap(spec.error(), path));
  return std::optional<ClusterSpec>(std::move(*spec));
}

}  // namespace podnet::cluster
