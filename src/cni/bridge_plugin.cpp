#include "cni/bridge_plugin.h"

#include <linux/if_addr.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <boost/json.hpp>
#include <cstdio>
#include <functional>

#include "cni/delegate.h"
#include "cni/link_reaper.h"
#include "cni/result.h"
#include "cni/version.h"
#include "fastpath/fastpath_abi.h"
#include "fastpath/pod_attach.h"
#include "netlink/link.h"
#include "netlink/netns.h"
#include "nft/portmap.h"

namespace podnet::cni {
namespace {

using netlink::LinkInfo;
using netlink::Netlink;
using netlink::NetNs;

constexpr int kContainerIfIndex = 2;  // position of the container interface in result.interfaces

// Undo actions run in reverse order unless the ADD completes.
class Rollback {
 public:
  void push(std::function<void()> f) { steps_.push_back(std::move(f)); }
  void commit() { steps_.clear(); }
  ~Rollback() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }

 private:
  std::vector<std::function<void()>> steps_;
};

std::unexpected<CniError> kernel_fail(const Error& e) {
  return cni_fail(kKernelFailure, e);
}

std::string random_veth_name() {
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint32_t>(::getpid()) * 2654435761u;
  char buf[16];
  std::snprintf(buf, sizeof buf, "veth%08x", r);
  return buf;
}

ipam::Attachment attachment(const Env& env) {
  return {env.container_id, env.ifname};
}
nft::AttachmentKey portmap_key(const Env& env) {
  return {env.container_id, env.ifname};
}
nft::PortmapStore portmap_store(const NetConf& conf) {
  return {conf.state_dir + "/portmap"};
}
LinkReaper link_reaper(const NetConf& conf) {
  return LinkReaper(conf.state_dir + "/pending-delete");
}
constexpr std::chrono::milliseconds kPendingDeleteWait{2000};

// IPAM: the built-in allocator or a delegated plugin, as one result of ips and routes.
CniResult<NetResult> ipam_add(const Env& env, const NetConf& conf) {
  NetResult r;
  if (conf.ipam_type.empty()) return r;
  if (conf.ipam_type != "podnet") {
    PODNET_TRY(out, exec_plugin(conf.ipam_type, "ADD", env, conf.raw));
    boost::system::error_code ec;
    auto v = boost::json::parse(out, ec);
    if (ec)
      return cni_fail(kDecodeFailure,
                      "IPAM plugin " + conf.ipam_type + " returned invalid JSON: " + ec.message());
    return decode_result(v);
  }
  auto allocs = ipam::allocate(conf.ipam, attachment(env), conf.requested_ips);
  if (!allocs) {
    const auto& e = allocs.error();
    switch (e.kind) {
      case ipam::ErrorKind::kExhausted:
        return cni_fail(kPoolExhausted, e.error.message());
      case ipam::ErrorKind::kRequestedUnavailable:
      case ipam::ErrorKind::kRequestedOutOfRange:
        return cni_fail(kAddressUnavailable, e.error.message());
      case ipam::ErrorKind::kAlreadyAllocated:
        return cni_fail(kAlreadyAllocated, e.error.message());
      case ipam::ErrorKind::kInvalidConfig:
        return cni_fail(kInvalidConfig, e.error.message());
      default:
        return cni_fail(kIoFailure, e.error.message());
    }
  }
  for (const auto& a : *allocs) r.ips.push_back({a.address, a.gateway, std::nullopt});
  for (const auto& rt : conf.ipam.routes) r.routes.push_back({rt.dst, rt.gw});
  return r;
}

CniStatus ipam_del(const Env& env, const NetConf& conf) {
  if (conf.ipam_type.empty()) return {};
  if (conf.ipam_type != "podnet") {
    auto r = exec_plugin(conf.ipam_type, "DEL", env, conf.raw);
    if (!r) return std::unexpected(r.error());
    return {};
  }
  if (auto s = ipam::release(conf.ipam, attachment(env)); !s) return cni_fail(kIoFailure, s.error());
  return {};
}

// Puts the gateway address on the bridge like the reference plugin's ensureAddr: an existing
// different address of the same family is an error unless forceAddress replaces it.
Status ensure_bridge_address(Netlink& nl, const LinkInfo& br, const IpPrefix& gw, bool force) {
  PODNET_TRY(addrs, nl.list_addresses(br.index, gw.is_v4() ? AF_INET : AF_INET6));
  for (const auto& a : addrs) {
    if (a == gw) return {};
    if (!gw.is_v4() && !a.contains(gw.addr) && !gw.contains(a.addr)) continue;
    if (!gw.is_v4() && a.addr.to_v6().is_link_local()) continue;
    if (!force) return fail_msg("\"" + br.name + "\" already has an IP address different from " + gw.str());
    if (auto s = nl.delete_address(br.index, a); !s) return s;
  }
  auto s = nl.add_address(br.index, gw, gw.is_v4() ? 0 : IFA_F_NODAD);
  if (!s && s.error().code == EEXIST) return {};
  return s;
}

// Everything inside the container's namespace: addresses, link and lo up, routes.
Status configure_container(const std::string& ifname, const NetResult& r, bool nodad) {
  PODNET_TRY(nl, Netlink::open());
  PODNET_TRY(index, nl.index_of(ifname));
  for (const auto& ip : r.ips) {
    if (auto s = nl.add_address(index, ip.address, nodad ? IFA_F_NODAD : 0); !s) return s;
  }
  if (auto s = nl.set_up(index); !s) return s;
  // Loopback is always ifindex 1 in a network namespace; setting it up again is harmless.
  constexpr int kLoopbackIndex = 1;
  if (auto s = nl.set_up(kLoopbackIndex); !s) return s;
  for (const auto& rt : r.routes) {
    netlink::RouteSpec spec;
    spec.dst = rt.dst;
    spec.oif = index;
    spec.gateway = rt.gw;
    if (!spec.gateway) {
      // Like the reference plugins: a route without gw goes via the gateway of its family.
      for (const auto& ip : r.ips)
        if (ip.gateway && ip.address.is_v4() == rt.dst.is_v4()) spec.gateway = ip.gateway;
    }
    if (auto s = nl.add_route(spec); !s && s.error().code != EEXIST) return s;
  }
  return {};
}

Status delete_container_link(const std::string& ifname) {
  PODNET_TRY(nl, Netlink::open());
  auto s = nl.delete_link(ifname);
  if (!s && s.error().code == ENODEV) return {};
  return s;
}

std::vector<IpAddress> addresses(const NetResult& r) {
  std::vector<IpAddress> out;
  for (const auto& ip : r.ips) out.push_back(ip.address.addr);
  return out;
}

// The pod's addresses for DEL: the built-in IPAM still holds them; a delegated IPAM's are only
// known from prevResult. Neither: nothing to remove.
CniResult<std::vector<IpAddress>> addresses_for_del(const Env& env, const NetConf& conf) {
  if (conf.ipam_type == "podnet") {
    auto held = ipam::addresses_of(conf.ipam, attachment(env));
    if (!held && held.error().code == ENOENT) return std::vector<IpAddress>{};
    if (!held) return cni_fail(kIoFailure, held.error());
    return *held;
  }
  if (conf.prev_result.is_object()) {
    if (auto prev = decode_result(conf.prev_result)) return addresses(*prev);
  }
  return std::vector<IpAddress>{};
}

}  // namespace

CniResult<std::string> cmd_add(const Env& env, const NetConf& conf) {
  auto ns = NetNs::open(env.netns);
  if (!ns) return cni_fail(kInvalidEnvironment, "CNI_NETNS: " + ns.error().message());
  CNI_TRY(host, Netlink::open(), kKernelFailure);

  auto br = host.ensure_bridge({conf.bridge, conf.mtu, conf.promisc_mode, false});
  if (!br) return cni_fail(br.error().code == EEXIST ? kBridgeConflict : kKernelFailure, br.error());

  Rollback undo;
  PODNET_TRY(result, ipam_add(env, conf));
  undo.push([&] { (void)ipam_del(env, conf); });
  if (!conf.ipam_type.empty() && result.ips.empty())
    return cni_fail(kInvalidConfig, "IPAM plugin returned no IP configuration");

  // The veth: container end created directly in the pod namespace under CNI_IFNAME, the host end
  // up, MACs chosen here, so no message is spent on bringing it up or reading MACs back.
  const netlink::Mac host_mac = netlink::random_mac();
  netlink::Mac cont_mac = netlink::random_mac();
  if (conf.mac) {
    auto m = netlink::parse_mac(*conf.mac);
    if (!m) return cni_fail(kInvalidConfig, "runtimeConfig.mac: " + m.error().message());
    cont_mac = *m;
  }
  std::string host_if;
  bool waited_for_del = false;
  // With the fast path, the host end gets its tc hook (clsact) while still down, then goes up: on
  // an up link, adding the qdisc drops what the link sends for an RCU grace period (measured: a
  // pod's first readiness probe, whose SYN the agent's later attach dropped, waited out a 1 s
  // retransmit). Attaching the program to the existing hook later drops nothing.
  const bool hook_first = !conf.fastpath_bpf_dir.empty();
  for (int attempt = 0;; ++attempt) {
    host_if = random_veth_name();
    netlink::VethSpec veth{host_if,   env.ifname, ns->fd(), conf.mtu,
                           br->index, cont_mac,   host_mac, !hook_first};
    auto s = host.create_veth(veth);
    if (s) break;
    if (s.error().code == EEXIST) {
      // Either our random host name collided, or the container already has CNI_IFNAME.
      auto exists = ns->run([&]() -> Result<bool> {
        PODNET_TRY(nl, Netlink::open());
        PODNET_TRY(found, nl.find_link(env.ifname));
        return found.has_value();
      });
      // CNI_IFNAME may be the one a DEL is still deleting in the background (podman network
      // disconnect + connect): wait for that once, then try again. Only this path looks.
      if (exists && *exists && !waited_for_del) {
        waited_for_del = true;
        if (link_reaper(conf).wait_pending(*ns, env.ifname, kPendingDeleteWait)) continue;
      }
      if (exists && *exists)
        return cni_fail(kInterfaceExists,
                        "container interface \"" + env.ifname + "\" already exists in " + env.netns);
      if (attempt < 3) continue;
    }
    return kernel_fail(wrap(s.error(), "create veth " + host_if + " for " + env.ifname));
  }
  undo.push([&] { (void)ns->run([&] { return delete_container_link(env.ifname); }); });
  int host_index = 0;  // known with the fast path, which needs it twice
  if (hook_first) {
    CNI_TRY(index, host.index_of(host_if), kKernelFailure);
    host_index = index;
    if (auto s = host.add_clsact(host_index); !s && s.error().code != EEXIST) return kernel_fail(s.error());
    if (auto s = host.set_up(host_index); !s) return kernel_fail(s.error());
  }

  if (conf.hairpin_mode) {
    CNI_TRY(host_link, host.get_link(host_if), kKernelFailure);
    if (auto s = host.set_hairpin(host_link.index, true); !s) return kernel_fail(s.error());
  }

  if (conf.is_default_gateway) {
    for (const auto& ip : result.ips) {
      if (!ip.gateway) continue;
      IpPrefix any{ip.address.is_v4() ? IpAddress(boost::asio::ip::address_v4::any())
                                      : IpAddress(boost::asio::ip::address_v6::any()),
                   0};
      bool present = false;
      for (const auto& rt : result.routes) present |= rt.dst == any;
      if (!present) result.routes.push_back({any, ip.gateway});
    }
  }
  if (conf.is_gateway) {
    for (const auto& ip : result.ips) {
      if (!ip.gateway) continue;
      IpPrefix gw{*ip.gateway, ip.address.len};
      if (auto s = ensure_bridge_address(host, *br, gw, conf.force_address); !s)
        return cni_fail(kBridgeConflict, s.error());
      auto key = ip.address.is_v4() ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding";
      if (auto cur = netlink::get_sysctl(key); !cur || cur->substr(0, 1) != "1") {
        if (auto s = netlink::set_sysctl(key, "1"); !s) return kernel_fail(s.error());
      }
    }
  }

  if (auto s = ns->run([&] { return configure_container(env.ifname, result, !conf.enable_dad); }); !s)
    return kernel_fail(wrap(s.error(), "configure " + env.ifname + " in " + env.netns));

  if (!conf.fastpath_bpf_dir.empty()) {
    // Without pins the agent has not loaded the fast path (yet): the pod uses the normal path.
    auto pins = fastpath::open_pod_pins(conf.fastpath_bpf_dir);
    if (!pins) return kernel_fail(wrap(pins.error(), "fast path"));
    if (*pins) {
      const auto ips = addresses(result);
      undo.push([&conf, ips] { (void)fastpath::remove_pod(conf.fastpath_bpf_dir, ips); });
      if (auto s =
              fastpath::add_pod(**pins, host_index, cont_mac, ips, conf.fastpath_policy ? PN_POD_PENDING : 0);
          !s)
        return kernel_fail(wrap(s.error(), "fast path: map the pod's addresses to " + host_if));
    }
  }

  if (conf.ip_masq || !conf.port_mappings.empty() || conf.macspoofchk) {
    auto nft = nft::Nft::open();
    if (!nft) return cni_fail(kPortMappingFailed, nft.error());
    nft::PodRules rules{portmap_key(env), {}, conf.port_mappings, conf.ip_masq, conf.bridge};
    for (const auto& ip : result.ips) rules.pod_ips.push_back(ip.address);
    if (conf.macspoofchk) rules.mac_spoof_check = nft::MacSpoofCheck{host_if, netlink::format_mac(cont_mac)};
    if (auto s = nft::add_pod_rules(*nft, portmap_store(conf), rules); !s)
      return cni_fail(kPortMappingFailed, s.error());
  }

  result.interfaces = {
      InterfaceResult{conf.bridge, netlink::format_mac(br->mac), "", 0},
      InterfaceResult{host_if, netlink::format_mac(host_mac), "", 0},
      InterfaceResult{env.ifname, netlink::format_mac(cont_mac), env.netns, 0},
  };
  for (auto& ip : result.ips) ip.interface = kContainerIfIndex;
  if (conf.dns.is_object()) result.dns = conf.dns;
  undo.commit();
  return encode_result(result, conf.cni_version);
}

CniResult<std::string> cmd_del(const Env& env, const NetConf& conf) {
  // A namespace that is already gone took the veth with it: DEL still succeeds. A path that is
  // not a network namespace is the runtime's mistake: as the reference plugins do, what DEL can
  // release without it (rules, fast path entries, addresses) is released, then it is reported.
  std::optional<NetNs> ns;
  std::optional<CniError> bad_netns;
  if (!env.netns.empty()) {
    auto opened = NetNs::open(env.netns);
    if (opened)
      ns.emplace(std::move(*opened));
    else if (opened.error().code != ENOENT)
      bad_netns = CniError{kInvalidEnvironment, "CNI_NETNS: " + opened.error().message(), {}};
  }
  // The reverse of ADD: rules that name the pod's address go before the address is released, so a
  // new pod given the same address cannot collide with them.
  std::optional<nft::Nft> nft;  // kept open until the detached teardown has inherited its socket
  auto store = portmap_store(conf);
  if (nft::has_pod_rules(store, portmap_key(env))) {
    auto opened = nft::Nft::open();
    if (!opened) return cni_fail(kPortMappingFailed, opened.error());
    nft.emplace(std::move(*opened));
    if (auto s = nft::delete_pod_rules(*nft, store, portmap_key(env)); !s)
      return cni_fail(kPortMappingFailed, s.error());
  }
  if (!conf.fastpath_bpf_dir.empty()) {
    PODNET_TRY(ips, addresses_for_del(env, conf));
    if (auto s = fastpath::remove_pod(conf.fastpath_bpf_dir, ips); !s)
      return kernel_fail(wrap(s.error(), "fast path"));
  }
  if (auto s = ipam_del(env, conf); !s) return std::unexpected(s.error());

  int index = 0;
  if (ns) {
    CNI_TRY(found, link_reaper(conf).find(*ns, env.ifname), kKernelFailure);
    index = found;
  }
  if (index > 0 || nft) {
    if (auto s = link_reaper(conf).teardown_detached(ns ? &*ns : nullptr, env.ifname, index); !s)
      return kernel_fail(s.error());
  }
  if (bad_netns) return std::unexpected(*bad_netns);
  return std::string{};
}

CniResult<std::string> cmd_check(const Env& env, const NetConf& conf) {
  if (compare_versions(conf.cni_version, "0.4.0") < 0)
    return cni_fail(kIncompatibleVersion, "config version \"" + conf.cni_version + "\" does not allow CHECK");
  if (conf.prev_result.is_null()) return cni_fail(kInvalidConfig, "CHECK: required prevResult missing");
  PODNET_TRY(prev, decode_result(conf.prev_result));

  std::optional<int> cont_index;
  for (size_t i = 0; i < prev.interfaces.size(); ++i)
    if (prev.interfaces[i].name == env.ifname && !prev.interfaces[i].sandbox.empty())
      cont_index = static_cast<int>(i);
  if (!cont_index)
    return cni_fail(kCheckFailed, "CHECK: prevResult has no interface \"" + env.ifname + "\" in a sandbox");

  auto ns = NetNs::open(env.netns);
  if (!ns) return cni_fail(kInvalidEnvironment, "CNI_NETNS: " + ns.error().message());
  auto checked = ns->run([&]() -> Status {
    PODNET_TRY(nl, Netlink::open());
    PODNET_TRY(link, nl.get_link(env.ifname));
    const auto& want = prev.interfaces[*cont_index];
    if (!want.mac.empty() && netlink::format_mac(link.mac) != want.mac)
      return fail_msg("interface " + env.ifname + " has MAC " + netlink::format_mac(link.mac) +
                      ", expected " + want.mac);
    if (!link.up) return fail_msg("interface " + env.ifname + " is down");
    PODNET_TRY(addrs, nl.list_addresses(link.index));
    for (const auto& ip : prev.ips) {
      if (ip.interface && *ip.interface != *cont_index) continue;
      bool found = false;
      for (const auto& a : addrs) found |= a == ip.address;
      if (!found) return fail_msg("address " + ip.address.str() + " is missing from " + env.ifname);
    }
    for (const auto& rt : prev.routes) {
      PODNET_TRY(routes, nl.list_routes(rt.dst.is_v4() ? AF_INET : AF_INET6));
      bool found = false;
      for (const auto& have : routes)
        found |= have.dst.network() == rt.dst.network() && (!rt.gw || have.gateway == rt.gw);
      if (!found) return fail_msg("route to " + rt.dst.str() + " is missing in the container");
    }
    return {};
  });
  if (!checked) return cni_fail(kCheckFailed, "CHECK: " + checked.error().message());

  CNI_TRY(host, Netlink::open(), kKernelFailure);
  auto br = host.get_link(conf.bridge);
  if (!br || br->kind != "bridge")
    return cni_fail(kCheckFailed, "CHECK: bridge \"" + conf.bridge + "\" is missing");
  for (size_t i = 0; i < prev.interfaces.size(); ++i) {
    const auto& itf = prev.interfaces[i];
    if (!itf.sandbox.empty() || itf.name == conf.bridge) continue;
    auto l = host.get_link(itf.name);
    if (!l) return cni_fail(kCheckFailed, "CHECK: host interface \"" + itf.name + "\" is missing");
    if (l->master != br->index)
      return cni_fail(kCheckFailed,
                      "CHECK: host interface \"" + itf.name + "\" is not attached to " + conf.bridge);
  }

  if (conf.ipam_type == "podnet") {
    CNI_TRY(held, ipam::addresses_of(conf.ipam, attachment(env)), kIoFailure);
    for (const auto& ip : prev.ips) {
      bool found = false;
      for (const auto& h : held) found |= h == ip.address.addr;
      if (!found)
        return cni_fail(kCheckFailed,
                        "CHECK: address " + ip.address.addr.to_string() + " is not reserved by IPAM");
    }
  } else if (!conf.ipam_type.empty()) {
    PODNET_TRY(out, exec_plugin(conf.ipam_type, "CHECK", env, conf.raw));
    (void)out;
  }
  return std::string{};
}

CniResult<std::string> cmd_gc(const Env& env, const NetConf& conf) {
  if (compare_versions(conf.cni_version, "1.1.0") < 0)
    return cni_fail(kIncompatibleVersion, "config version \"" + conf.cni_version + "\" does not allow GC");
  if (conf.ipam_type == "podnet") {
    auto r = ipam::garbage_collect(conf.ipam, conf.valid_attachments);
    if (!r) return cni_fail(kIoFailure, r.error());
  } else if (!conf.ipam_type.empty()) {
    PODNET_TRY(out, exec_plugin(conf.ipam_type, "GC", env, conf.raw));
    (void)out;
  }
  std::set<nft::AttachmentKey> valid;
  for (const auto& a : conf.valid_attachments) valid.insert({a.container_id, a.ifname});
  auto nft = nft::Nft::open();
  if (!nft) return cni_fail(kPortMappingFailed, nft.error());
  if (auto s = nft::gc_pod_rules(*nft, portmap_store(conf), valid); !s)
    return cni_fail(kPortMappingFailed, s.error());
  return std::string{};
}

CniResult<std::string> cmd_status(const Env& env, const NetConf& conf) {
  if (compare_versions(conf.cni_version, "1.1.0") < 0)
    return cni_fail(kIncompatibleVersion,
                    "config version \"" + conf.cni_version + "\" does not allow STATUS");
  auto host = Netlink::open();
  if (!host) return cni_fail(kPluginNotAvailable, "netlink unavailable: " + host.error().message());
  auto br = host->find_link(conf.bridge);
  if (!br) return cni_fail(kPluginNotAvailable, "cannot look up bridge: " + br.error().message());
  if (*br && (*br)->kind != "bridge")
    return cni_fail(kPluginNotAvailable, "bridge \"" + conf.bridge + "\" cannot be created: a " +
                                             ((*br)->kind.empty() ? std::string("device") : (*br)->kind) +
                                             " link of that name exists");
  if (conf.ipam_type == "podnet") {
    auto free = ipam::has_free_addresses(conf.ipam);
    if (!free) return cni_fail(kPluginNotAvailable, "IPAM state unreadable: " + free.error().message());
    if (!*free)
      return cni_fail(kPluginNotAvailableLimitedResources,
                      "no free IP addresses in network \"" + conf.name + "\"");
  } else if (!conf.ipam_type.empty()) {
    PODNET_TRY(out, exec_plugin(conf.ipam_type, "STATUS", env, conf.raw));
    (void)out;
  }
  return std::string{};
}

int run_plugin(const EnvMap& envmap, std::string_view stdin_json, std::string& out) {
  auto env = parse_env(envmap);
  std::string version(kLatestVersion);
  auto respond = [&](const CniResult<std::string>& r) {
    if (r) {
      out = *r;
      return 0;
    }
    out = encode_error(r.error(), version);
    return 1;
  };
  if (!env) return respond(std::unexpected(env.error()));
  if (env->command == Command::kVersion) return respond(version_info_json());

  auto conf = parse_netconf(stdin_json);
  if (!conf) return respond(std::unexpected(conf.error()));
  version = conf->cni_version;
  if (auto s = apply_cni_args(*conf, env->args); !s) return respond(std::unexpected(s.error()));
  switch (env->command) {
    case Command::kAdd:
      return respond(cmd_add(*env, *conf));
    case Command::kDel:
      return respond(cmd_del(*env, *conf));
    case Command::kCheck:
      return respond(cmd_check(*env, *conf));
    case Command::kGc:
      return respond(cmd_gc(*env, *conf));
    case Command::kStatus:
      return respond(cmd_status(*env, *conf));
    case Command::kVersion:
      break;
  }
  return respond(version_info_json());
}

}  // namespace podnet::cni
