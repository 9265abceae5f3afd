// Each query opens its own netlink socket or libnftables context (a few microseconds) so no state
// is shared with the reconciler; a mutex keeps one query at a time, so a busy client costs at most
// one query's work at once.
#include "agent/node_api.h"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>

#include <boost/json.hpp>
#include <map>
#include <mutex>

#include "agent/flows.h"
#include "agent/network.h"
#include "agent/node_query.h"
#include "fastpath/bpf_sys.h"
#include "fastpath/fastpath.h"
#include "fastpath/fastpath_abi.h"
#include "fastpath/pins.h"
#include "netlink/link.h"
#include "nft/nft.h"

namespace podnet::agent {
namespace json = boost::json;

namespace {

NodeApiReply error(int status, const std::string& message) {
  return {status, json::serialize(json::object{{"error", message}})};
}

NodeApiReply ok(const json::value& v) {
  return {200, json::serialize(v)};
}

std::map<int, std::string> link_names(netlink::Netlink& nl) {
  std::map<int, std::string> names;
  if (auto links = nl.list_links())
    for (const auto& l : *links) names[l.index] = l.name;
  return names;
}

json::object route_json(const netlink::RouteSpec& r, const std::map<int, std::string>& names) {
  json::object o;
  o["dst"] = r.dst.network().str();
  if (r.gateway) o["gateway"] = r.gateway->to_string();
  auto it = names.find(r.oif);
  o["dev"] = it == names.end() ? std::to_string(r.oif) : it->second;
  if (r.src) o["src"] = r.src->to_string();
  o["onlink"] = r.onlink;
  o["protocol"] = r.protocol;
  if (r.mtu) o["mtu"] = r.mtu;
  return o;
}

NodeApiReply routes(const NodeApiConfig& cfg, const NodeQuery& q) {
  auto nl = netlink::Netlink::open();
  if (!nl) return error(500, "netlink: " + nl.error().message());
  auto names = link_names(*nl);
  json::array list;
  const netlink::RouteSpec* best = nullptr;
  std::vector<netlink::RouteSpec> all;
  for (int family : {AF_INET, AF_INET6}) {
    auto rs = nl->list_routes(family);
    if (!rs) return error(500, "routes: " + rs.error().message());
    all.insert(all.end(), rs->begin(), rs->end());
  }
  bool truncated = false;
  for (const auto& r : all) {
    if (list.size() >= cfg.max_entries) {
      truncated = true;
      break;
    }
    list.push_back(route_json(r, names));
  }
  // The main table's longest prefix: what the FIB picks for dst when no rule or metric intervenes.
  if (q.dst)
    for (const auto& r : all)
      if (r.dst.is_v4() == q.dst->is_v4() && r.dst.network().contains(*q.dst) &&
          (!best || r.dst.len > best->dst.len))
        best = &r;
  json::object out{{"routes", std::move(list)}, {"truncated", truncated}};
  if (q.dst) {
    out["dst"] = q.dst->to_string();
    out["match"] = best ? json::value(route_json(*best, names)) : json::value(nullptr);
  }
  return ok(out);
}

NodeApiReply fdb(const NodeApiConfig& cfg) {
  auto nl = netlink::Netlink::open();
  if (!nl) return error(500, "netlink: " + nl.error().message());
  auto link = nl->find_link(kVxlanDevice);
  if (!link) return error(500, "netlink: " + link.error().message());
  json::object out{{"device", kVxlanDevice}};
  json::array entries;
  if (*link) {
    auto es = nl->list_fdb((*link)->index);
    if (!es) return error(500, "fdb: " + es.error().message());
    for (const auto& e : *es) {
      if (entries.size() >= cfg.max_entries) break;
      json::object o{{"mac", netlink::format_mac(e.mac)}, {"permanent", e.permanent}};
      if (e.fdb_dst) o["dst"] = e.fdb_dst->to_string();
      entries.push_back(std::move(o));
    }
    out["vxlan"] = json::object{{"mac", netlink::format_mac((*link)->mac)}, {"up", (*link)->up}};
  } else {
    out["vxlan"] = nullptr;  // host-gw: no tunnel device
  }
  out["entries"] = std::move(entries);
  return ok(out);
}

NodeApiReply nft_listing(const NodeApiConfig& cfg, const NodeQuery& q) {
  auto nft = nft::Nft::open();
  if (!nft) return error(500, "nftables: " + nft.error().message());
  std::string where = q.family + " " + q.table;
  Result<std::string> text = std::unexpected(Error{});
  if (q.set.empty()) {
    text = nft->query("list table " + where);
  } else {
    text = nft->query("list set " + where + " " + q.set);
    if (!text) text = nft->query("list map " + where + " " + q.set);
  }
  if (!text)
    return error(404, "nft: " + where + (q.set.empty() ? "" : " " + q.set) + ": " + text.error().message());
  if (text->size() > cfg.max_reply_bytes)
    return error(413, "nft: " + where + " lists " + std::to_string(text->size()) +
                          " bytes, over the node API's " + std::to_string(cfg.max_reply_bytes) +
                          ": ask for one set or map (set=NAME)");
  return {200, std::move(*text)};
}

std::string mac_of(const __u8 (&m)[6]) {
  netlink::Mac mac;
  std::copy(std::begin(m), std::end(m), mac.begin());
  return netlink::format_mac(mac);
}

NodeApiReply fast_path(const NodeApiConfig& cfg, const NodeQuery& q) {
  json::object out{{"enabled", !cfg.bpf_dir.empty()}};
  if (cfg.bpf_dir.empty()) return ok(out);
  auto stats = fastpath::read_stats(cfg.bpf_dir);
  if (!stats) return error(500, "fast path: " + stats.error().message());
  out["stats"] = json::object{{"to_local_pod", stats->to_local_pod},
                              {"to_remote_node", stats->to_remote_node},
                              {"conntrack", stats->conntrack},
                              {"stack", stats->stack},
                              {"encap", stats->encap},
                              {"decap", stats->decap}};
  if (!q.dst) return ok(out);
  out["dst"] = q.dst->to_string();
  out["pod"] = nullptr;
  out["tunnel"] = nullptr;
  if (!q.dst->is_v4()) return ok(out);  // the fast path is IPv4 only
  const uint32_t addr = htonl(q.dst->to_v4().to_uint());
  if (auto pods = fastpath::bpf_obj_get(cfg.bpf_dir + "/" + fastpath::kPodsMap)) {
    pn_pod pod{};
    auto found = fastpath::map_lookup(pods->get(), &addr, &pod);
    if (!found) return error(500, "pn_pods: " + found.error().message());
    if (*found)
      out["pod"] =
          json::object{{"ifindex", pod.ifindex},
                       {"mac", mac_of(pod.mac)},
                       {"flags", pod.flags},
                       {"pending", (pod.flags & PN_POD_PENDING) != 0},
                       {"isolated", (pod.flags & (PN_POD_INGRESS_ISOLATED | PN_POD_EGRESS_ISOLATED)) != 0}};
  }
  if (auto tunnels = fastpath::bpf_obj_get(cfg.bpf_dir + "/" + fastpath::kTunnelsMap)) {
    pn_tunnel_key key{32, addr};
    pn_tunnel t{};
    auto found = fastpath::map_lookup(tunnels->get(), &key, &t);
    if (!found) return error(500, "pn_tunnels: " + found.error().message());
    if (*found) {
      in_addr ip{t.node_ip};
      char buf[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &ip, buf, sizeof buf);
      out["tunnel"] = json::object{{"node_ip", buf}, {"vtep_mac", mac_of(t.vtep_mac)}};
    }
  }
  return ok(out);
}

NodeApiReply flows(const NodeApiConfig& cfg, const NodeQuery& q) {
  if (!cfg.flows) return error(404, "flows: this node's agent keeps no flow log");
  json::value v = cfg.flows->snapshot(unix_ms_now() - int64_t{q.since_seconds} * 1000);
  std::string body = json::serialize(v);
  if (body.size() > cfg.max_reply_bytes)
    return error(413, "flows: " + std::to_string(body.size()) + " bytes, over the node API's " +
                          std::to_string(cfg.max_reply_bytes) + ": ask for a shorter window (since=SECONDS)");
  return {200, std::move(body)};
}

NodeApiReply policy_counters(const NodeApiConfig& cfg, const NodeQuery& q) {
  if (!cfg.policy_counters) return error(404, "policy: this node's agent enforces no NetworkPolicy");
  auto body = cfg.policy_counters(q.namespace_, q.name);
  if (!body) return error(500, "policy: " + body.error().message());
  if (body->size() > cfg.max_reply_bytes)
    return error(413, "policy: " + std::to_string(body->size()) + " bytes, over the node API's " +
                          std::to_string(cfg.max_reply_bytes) + ": ask for one namespace or policy");
  return {200, std::move(*body)};
}

}  // namespace

NodeApiReply answer_node_query(const NodeApiConfig& config, std::string_view target) {
  auto q = parse_node_query(target);
  if (!q) return error(q.error().status, q.error().message);
  static std::mutex one_at_a_time;
  std::lock_guard lock(one_at_a_time);
  try {  // Boost.JSON allocates; nothing may escape into the server thread
    switch (q->kind) {
      case NodeQueryKind::kRoutes:
        return routes(config, *q);
      case NodeQueryKind::kFdb:
        return fdb(config);
      case NodeQueryKind::kNft:
        return nft_listing(config, *q);
      case NodeQueryKind::kFastPath:
        return fast_path(config, *q);
      case NodeQueryKind::kFlows:
        return flows(config, *q);
      case NodeQueryKind::kPolicy:
        return policy_counters(config, *q);
    }
  } catch (const std::exception& e) {
    return error(500, e.what());
  }
  return error(404, "unknown query");
}

}  // namespace podnet::agent
