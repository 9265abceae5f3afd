#include "cni/config.h"

#include <boost/json.hpp>

#include "cni/env.h"
#include "cni/version.h"

namespace podnet::cni {
namespace json = boost::json;
namespace {

// Typed getters that name the offending key in the error.
CniResult<std::string> get_string(const json::object& o, std::string_view key, std::string_view where) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::string{};
  if (!v->is_string())
    return cni_fail(kInvalidConfig, std::string(where) + std::string(key) + " must be a string");
  return std::string(v->as_string());
}

CniResult<bool> get_bool(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return false;
  if (!v->is_bool()) return cni_fail(kInvalidConfig, std::string(key) + " must be a boolean");
  return v->as_bool();
}

CniResult<int64_t> get_int(const json::object& o, std::string_view key, int64_t lo, int64_t hi) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return 0;
  int64_t n = 0;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64()) {
    n = static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
  } else if (v->is_double() && v->as_double() == static_cast<double>(static_cast<int64_t>(v->as_double()))) {
    n = static_cast<int64_t>(v->as_double());
  } else {
    return cni_fail(kInvalidConfig, std::string(key) + " must be an integer");
  }
  if (n < lo || n > hi)
    return cni_fail(kInvalidConfig, std::string(key) + " " + std::to_string(n) + " out of range [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return n;
}

CniResult<IpAddress> ip_field(const json::object& o, std::string_view key, std::string_view where) {
  PODNET_TRY(s, get_string(o, key, where));
  auto a = parse_ip(s);
  if (!a)
    return cni_fail(kInvalidConfig,
                    std::string(where) + std::string(key) + ": invalid IP address \"" + s + "\"");
  return *a;
}

CniResult<ipam::Range> parse_range(const json::object& o, std::string_view where) {
  ipam::Range r;
  PODNET_TRY(subnet, get_string(o, "subnet", where));
  if (subnet.empty()) return cni_fail(kInvalidConfig, std::string(where) + "subnet is required");
  auto p = parse_prefix(subnet);
  if (!p) return cni_fail(kInvalidConfig, std::string(where) + "subnet: " + p.error().message());
  r.subnet = p->network();
  for (auto [key, field] : {std::pair{"rangeStart", &r.range_start}, std::pair{"rangeEnd", &r.range_end},
                            std::pair{"gateway", &r.gateway}}) {
    if (!o.if_contains(key) || o.at(key).is_null()) continue;
    PODNET_TRY(a, ip_field(o, key, where));
    *field = a;
  }
  if (auto s = r.canonicalize(); !s)
    return cni_fail(kInvalidConfig, std::string(where) + s.error().message());
  return r;
}

CniStatus parse_ipam(const json::object& ipam, NetConf& conf) {
  conf.ipam.network = conf.name;
  PODNET_TRY(data_dir, get_string(ipam, "dataDir", "ipam."));
  if (!data_dir.empty()) conf.ipam.data_dir = data_dir;
  if (auto* ranges = ipam.if_contains("ranges")) {
    if (!ranges->is_array()) return cni_fail(kInvalidConfig, "ipam.ranges must be an array of range sets");
    size_t i = 0;
    for (const auto& set : ranges->as_array()) {
      if (!set.is_array() || set.as_array().empty())
        return cni_fail(kInvalidConfig,
                        "ipam.ranges[" + std::to_string(i) + "] must be a non-empty array of ranges");
      ipam::RangeSet rs;
      size_t j = 0;
      for (const auto& r : set.as_array()) {
        std::string where = "ipam.ranges[" + std::to_string(i) + "][" + std::to_string(j++) + "].";
        if (!r.is_object()) return cni_fail(kInvalidConfig, where + " must be an object");
        PODNET_TRY(range, parse_range(r.as_object(), where));
        if (!rs.empty() && rs.front().subnet.is_v4() != range.subnet.is_v4())
          return cni_fail(kInvalidConfig, where + "subnet: mixed address families in one range set");
        for (const auto& other : rs)
          if (other.subnet.contains(range.subnet.addr) || range.subnet.contains(other.subnet.addr))
            return cni_fail(kInvalidConfig,
                            where + "subnet " + range.subnet.str() + " overlaps " + other.subnet.str());
        rs.push_back(range);
      }
      conf.ipam.ranges.push_back(std::move(rs));
      ++i;
    }
  } else if (ipam.if_contains("subnet")) {
    // host-local's older single-range form.
    PODNET_TRY(range, parse_range(ipam, "ipam."));
    conf.ipam.ranges.push_back({range});
  }
  if (conf.ipam.ranges.empty()) return cni_fail(kInvalidConfig, "ipam: no IP ranges specified (ipam.ranges)");
  if (auto* routes = ipam.if_contains("routes")) {
    if (!routes->is_array()) return cni_fail(kInvalidConfig, "ipam.routes must be an array");
    size_t i = 0;
    for (const auto& r : routes->as_array()) {
      std::string where = "ipam.routes[" + std::to_string(i++) + "].";
      if (!r.is_object()) return cni_fail(kInvalidConfig, where + " must be an object");
      PODNET_TRY(dst, get_string(r.as_object(), "dst", where));
      auto p = parse_prefix(dst);
      if (!p) return cni_fail(kInvalidConfig, where + "dst: " + p.error().message());
      ipam::RouteEntry e{p->network(), std::nullopt};
      if (r.as_object().if_contains("gw")) {
        PODNET_TRY(gw, ip_field(r.as_object(), "gw", where));
        e.gw = gw;
      }
      conf.ipam.routes.push_back(e);
    }
  }
  return {};
}

CniStatus parse_port_mappings(const json::value& v, NetConf& conf) {
  if (!v.is_array()) return cni_fail(kInvalidConfig, "runtimeConfig.portMappings must be an array");
  size_t i = 0;
  for (const auto& m : v.as_array()) {
    std::string where = "runtimeConfig.portMappings[" + std::to_string(i++) + "].";
    if (!m.is_object()) return cni_fail(kInvalidConfig, where + " must be an object");
    const auto& o = m.as_object();
    nft::PortMapping pm;
    PODNET_TRY(hp, get_int(o, "hostPort", 1, 65535));
    PODNET_TRY(cp, get_int(o, "containerPort", 1, 65535));
    if (hp == 0 || cp == 0)
      return cni_fail(kInvalidConfig, where + "hostPort and containerPort are required (1-65535)");
    pm.host_port = static_cast<uint16_t>(hp);
    pm.container_port = static_cast<uint16_t>(cp);
    PODNET_TRY(proto, get_string(o, "protocol", where));
    for (auto& c : proto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (proto.empty()) proto = "tcp";
    if (proto != "tcp" && proto != "udp" && proto != "sctp")
      return cni_fail(kInvalidConfig, where + "protocol \"" + proto + "\" is not tcp, udp or sctp");
    pm.protocol = proto;
    PODNET_TRY(hip, get_string(o, "hostIP", where));
    if (!hip.empty() && hip != "0.0.0.0" && hip != "::") {
      auto a = parse_ip(hip);
      if (!a) return cni_fail(kInvalidConfig, where + "hostIP: invalid IP address \"" + hip + "\"");
      pm.host_ip = *a;
    }
    conf.port_mappings.push_back(pm);
  }
  return {};
}

CniStatus add_requested_ips(const json::value& v, std::string_view where, NetConf& conf) {
  if (!v.is_array())
    return cni_fail(kInvalidConfig, std::string(where) + " must be an array of IP addresses");
  for (const auto& ip : v.as_array()) {
    if (!ip.is_string()) return cni_fail(kInvalidConfig, std::string(where) + " must be an array of strings");
    std::string s(ip.as_string());
    // Accept "10.1.0.5" and "10.1.0.5/24" like host-local.
    auto slash = s.find('/');
    auto a = parse_ip(s.substr(0, slash));
    if (!a) return cni_fail(kInvalidConfig, std::string(where) + ": invalid IP address \"" + s + "\"");
    conf.requested_ips.push_back(*a);
  }
  return {};
}

CniStatus parse_valid_attachments(const json::value& v, NetConf& conf) {
  if (!v.is_array()) return cni_fail(kInvalidConfig, "cni.dev/valid-attachments must be an array");
  for (const auto& a : v.as_array()) {
    if (!a.is_object()) return cni_fail(kInvalidConfig, "cni.dev/valid-attachments entries must be objects");
    PODNET_TRY(id, get_string(a.as_object(), "containerID", "cni.dev/valid-attachments[]."));
    PODNET_TRY(ifname, get_string(a.as_object(), "ifname", "cni.dev/valid-attachments[]."));
    conf.valid_attachments.insert({id, ifname});
  }
  return {};
}

}  // namespace

CniResult<NetConf> parse_netconf(std::string_view stdin_json) {
  NetConf conf;
  conf.raw = std::string(stdin_json);
  boost::system::error_code ec;
  json::value root = json::parse(stdin_json, ec);
  if (ec) return cni_fail(kDecodeFailure, "error parsing network configuration: " + ec.message());
  if (!root.is_object()) return cni_fail(kDecodeFailure, "network configuration must be a JSON object");
  const auto& o = root.as_object();

  PODNET_TRY(version, get_string(o, "cniVersion", ""));
  conf.cni_version = version;
  if (!is_supported_version(version)) {
    std::string list;
    for (auto v : supported_versions()) list += (list.empty() ? "" : ", ") + std::string(v);
    return cni_fail(kIncompatibleVersion, "incompatible CNI versions",
                    "config is \"" + version + "\", plugin supports [" + list + "]");
  }
  PODNET_TRY(name, get_string(o, "name", ""));
  if (name.empty()) return cni_fail(kInvalidConfig, "missing network name (\"name\")");
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    return cni_fail(kInvalidConfig, "invalid network name \"" + name + "\"");
  conf.name = name;
  PODNET_TRY(type, get_string(o, "type", ""));
  conf.type = type;

  PODNET_TRY(state_dir, get_string(o, "stateDir", ""));
  if (!state_dir.empty()) conf.state_dir = state_dir;
  if (auto* fp = o.if_contains("fastPath"); fp && !fp->is_null()) {
    if (!fp->is_object()) return cni_fail(kInvalidConfig, "fastPath must be an object");
    PODNET_TRY(bpf_dir, get_string(fp->as_object(), "bpfDir", "fastPath."));
    if (bpf_dir.empty())
      return cni_fail(kInvalidConfig, "fastPath.bpfDir is required (the agent's bpffs directory)");
    if (bpf_dir.front() != '/')
      return cni_fail(kInvalidConfig, "fastPath.bpfDir \"" + bpf_dir + "\" must be an absolute path");
    conf.fastpath_bpf_dir = bpf_dir;
    if (auto* pol = fp->as_object().if_contains("policy"); pol && !pol->is_null()) {
      if (!pol->is_bool()) return cni_fail(kInvalidConfig, "fastPath.policy must be a boolean");
      conf.fastpath_policy = pol->get_bool();
    }
  }
  PODNET_TRY(bridge, get_string(o, "bridge", ""));
  if (!bridge.empty()) conf.bridge = bridge;
  if (conf.bridge.size() > 15)
    return cni_fail(kInvalidConfig, "bridge name \"" + conf.bridge + "\" is longer than 15 characters");
  PODNET_TRY(is_gw, get_bool(o, "isGateway"));
  PODNET_TRY(is_def_gw, get_bool(o, "isDefaultGateway"));
  PODNET_TRY(force, get_bool(o, "forceAddress"));
  PODNET_TRY(masq, get_bool(o, "ipMasq"));
  PODNET_TRY(hairpin, get_bool(o, "hairpinMode"));
  PODNET_TRY(promisc, get_bool(o, "promiscMode"));
  PODNET_TRY(dad, get_bool(o, "enabledad"));
  PODNET_TRY(spoof, get_bool(o, "macspoofchk"));
  PODNET_TRY(mtu, get_int(o, "mtu", 0, 65535));
  conf.is_default_gateway = is_def_gw;
  conf.is_gateway = is_gw || is_def_gw;  // like the reference plugin: a default gateway is a gateway
  conf.force_address = force;
  conf.ip_masq = masq;
  conf.hairpin_mode = hairpin;
  conf.promisc_mode = promisc;
  conf.enable_dad = dad;
  conf.macspoofchk = spoof;
  if (mtu != 0 && mtu < 68)
    return cni_fail(kInvalidConfig, "mtu " + std::to_string(mtu) + " is below the minimum of 68");
  conf.mtu = static_cast<unsigned>(mtu);
  // Keys of the reference plugin that podnet does not implement: refuse rather than ignore them.
  PODNET_TRY(vlan, get_int(o, "vlan", 0, 4094));
  if (vlan != 0)
    return cni_fail(kUnsupportedField, "unsupported field: vlan", "podnet does not implement VLAN tagging");
  if (auto* trunk = o.if_contains("vlanTrunk"); trunk && !trunk->is_null())
    return cni_fail(kUnsupportedField, "unsupported field: vlanTrunk",
                    "podnet does not implement VLAN trunks");

  if (auto* ipam = o.if_contains("ipam"); ipam && !ipam->is_null()) {
    if (!ipam->is_object()) return cni_fail(kInvalidConfig, "ipam must be an object");
    PODNET_TRY(ipam_type, get_string(ipam->as_object(), "type", "ipam."));
    conf.ipam_type = ipam_type;
    if (ipam_type == "podnet") {
      if (auto s = parse_ipam(ipam->as_object(), conf); !s) return std::unexpected(s.error());
    } else if (ipam_type.find('/') != std::string::npos) {
      return cni_fail(kInvalidConfig, "ipam.type \"" + ipam_type + "\" must be a plugin name, not a path");
    }
  }
  if (auto* dns = o.if_contains("dns")) conf.dns = *dns;

  if (auto* rc = o.if_contains("runtimeConfig"); rc && rc->is_object()) {
    const auto& r = rc->as_object();
    if (auto* pm = r.if_contains("portMappings"); pm && !pm->is_null())
      if (auto s = parse_port_mappings(*pm, conf); !s) return std::unexpected(s.error());
    if (auto* ips = r.if_contains("ips"); ips && !ips->is_null())
      if (auto s = add_requested_ips(*ips, "runtimeConfig.ips", conf); !s) return std::unexpected(s.error());
    if (auto* mac = r.if_contains("mac"); mac && mac->is_string()) conf.mac = std::string(mac->as_string());
  }
  if (auto* args = o.if_contains("args"); args && args->is_object()) {
    if (auto* c = args->as_object().if_contains("cni"); c && c->is_object())
      if (auto* ips = c->as_object().if_contains("ips"); ips && !ips->is_null())
        if (auto s = add_requested_ips(*ips, "args.cni.ips", conf); !s) return std::unexpected(s.error());
  }
  for (auto key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
    if (auto* v = o.if_contains(key); v && !v->is_null())
      if (auto s = parse_valid_attachments(*v, conf); !s) return std::unexpected(s.error());
  }
  if (auto* prev = o.if_contains("prevResult")) conf.prev_result = *prev;
  return conf;
}

CniStatus apply_cni_args(NetConf& conf, const std::string& cni_args) {
  auto pairs = parse_cni_args(cni_args);
  if (!pairs) return std::unexpected(pairs.error());
  for (const auto& [k, v] : *pairs) {
    if (k != "IP") continue;  // K8S_POD_NAME and friends are informational
    size_t pos = 0;
    while (pos <= v.size()) {
      auto end = v.find(',', pos);
      if (end == std::string::npos) end = v.size();
      auto one = v.substr(pos, end - pos);
      auto a = parse_ip(one.substr(0, one.find('/')));
      if (!a) return cni_fail(kInvalidEnvironment, "CNI_ARGS IP: invalid IP address \"" + one + "\"");
      conf.requested_ips.push_back(*a);
      pos = end + 1;
    }
  }
  return {};
}

}  // namespace podnet::cni
