// Each query opens its own netlink socket or libnftables context (a few microseconds) so no state
// is shared with the reconciler; a mutex keeps one query at a time, so a busy client costs at most
// one query's work at once.
#include "agent/node_api.h"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>

#include <boost/json.hpp>
#include <charconv>
#include <map>
#include <mutex>

#include "agent/flows.h"
#include "agent/network.h"
#include "agent/node_query.h"
#include "agent/probe.h"
#include "fastpath/bpf_sys.h"
#include "fastpath/fastpath.h"
#include "fastpath/fastpath_abi.h"
#include "fastpath/pins.h"
#include "netlink/link.h"
#include "nft/nft.h"
#include "proxy/ruleset.h"

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
    // Whether dst is an address of the matched route's device (the node's InternalIP, or a
    // LoadBalancer IP this node announces on its underlay): a packet to it is the node's own.
    out["local"] = nullptr;
    if (best)
      if (auto addrs = nl->list_addresses(best->oif, q.dst->is_v4() ? AF_INET : AF_INET6))
        for (const auto& a : *addrs)
          if (a.addr == *q.dst)
            out["local"] = json::object{{"dev", out["match"].at("dev")}, {"prefix", a.str()}};
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

// The element lines of `nft get element` text ("k : v" pairs between "elements = {" and "}").
std::vector<std::pair<std::string, std::string>> element_pairs(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t open = text.find("elements = {");
  if (open == std::string::npos) return out;
  size_t close = text.find('}', open);
  std::string body =
      text.substr(open + 12, close == std::string::npos ? std::string::npos : close - open - 12);
  size_t start = 0;
  while (start < body.size()) {
    size_t comma = body.find(',', start);
    std::string e = body.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t a = e.find_first_not_of(" \t\n"), b = e.find_last_not_of(" \t\n");
    if (a != std::string::npos) {
      e = e.substr(a, b - a + 1);
      size_t sep = e.find(" : ");
      out.emplace_back(e.substr(0, sep), sep == std::string::npos ? std::string() : e.substr(sep + 3));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The block of one set or map of a `list table` text: from "map NAME {" to its closing brace
// (a table's children are indented one tab, so their closing brace is "\n\t}").
std::string map_block(const std::string& listing, const std::string& name) {
  size_t at = listing.find("map " + name + " {");
  if (at == std::string::npos) return {};
  size_t end = listing.find("\n\t}", at);
  return listing.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// The service proxy's rule for one frontend, read from the kernel: its service-ips element (the
// chain it jumps to names the endpoint count, masquerade and affinity), the endpoints map's
// elements for it (what numgen picks from), and whether it is in no-endpoints (rejected).
NodeApiReply service(const NodeQuery& q) {
  auto nft = nft::Nft::open();
  if (!nft) return error(500, "nftables: " + nft.error().message());
  const std::string family = q.dst->is_v4() ? "ip" : "ip6";
  const std::string key = q.dst->to_string() + " . " + q.proto + " . " + std::to_string(q.port);
  json::object out{{"frontend", q.dst->to_string() + ":" + std::to_string(q.port) + "/" + q.proto},
                   {"table", nullptr},
                   {"chain", nullptr},
                   {"no_endpoints", false},
                   {"endpoints", json::array()}};
  // The proxy's tables: the base table (no-endpoints; everything when unsharded) and the shard
  // tables. Named, not listed: `list tables` reads the whole ruleset (a second on a busy node),
  // while a `get element` reads one table. The Service's own shard is asked first.
  const proxy::RulesetConfig proxy_cfg;
  std::vector<std::string> proxy_tables;
  if (!q.service.empty())
    proxy_tables.push_back(proxy::shard_table(proxy::shard_of(q.service, proxy_cfg), proxy_cfg));
  proxy_tables.push_back(proxy_cfg.table);
  // Without the Service's name, every shard (at most 17 listings).
  for (uint32_t i = 0; q.service.empty() && i < proxy_cfg.shards; ++i)
    proxy_tables.push_back(proxy::shard_table(i, proxy_cfg));
  // One listing of the table per candidate: `list table` reads one table (tens of ms), where each
  // `get element` reads the whole ruleset first (100 ms and more on a busy node).
  for (const auto& t : proxy_tables) {
    auto listing = nft->query("list table " + family + " " + t, false);
    if (!listing) continue;
    std::string verdict;
    for (const auto& [k, v] : element_pairs(map_block(*listing, "service-ips")))
      if (k == key) verdict = v;  // "goto svc-n2-masq"
    if (verdict.empty()) continue;
    std::string chain = verdict.substr(verdict.find(' ') == std::string::npos ? 0 : verdict.find(' ') + 1);
    out["table"] = t;
    out["verdict"] = verdict;
    out["chain"] = chain;
    out["masquerade"] = chain.find("-masq") != std::string::npos;
    int n = 0;
    if (chain.starts_with("svc-n")) std::from_chars(chain.data() + 5, chain.data() + chain.size(), n);
    out["endpoint_count"] = n;
    json::array list;
    const std::string prefix = key + " . ";
    for (const auto& [k, v] : element_pairs(map_block(*listing, "endpoints"))) {
      if (!k.starts_with(prefix) || list.size() >= 256) continue;
      size_t dot = v.rfind(" . ");
      list.push_back(json::object{{"slot", k.substr(prefix.size())},
                                  {"ip", v.substr(0, dot)},
                                  {"port", dot == std::string::npos ? std::string() : v.substr(dot + 3)}});
    }
    out["endpoints"] = std::move(list);
    break;
  }
  if (out["chain"].is_null() &&
      nft->query("get element " + family + " " + proxy_cfg.table + " no-endpoints { " + key + " }", false))
    out["no_endpoints"] = true;  // refused at once (no endpoints, or none local under Local)
  return ok(out);
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
  // Probes keep their own lock: a send waits for its answer and must not hold up other queries.
  if (target.starts_with(kProbePrefix)) {
    auto [status, body] = answer_probe(config.probes.get(), config.pod_netns, target);
    return {status, std::move(body)};
  }
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
      case NodeQueryKind::kService:
        return service(*q);
      case NodeQueryKind::kPolicy:
        return policy_counters(config, *q);
    }
  } catch (const std::exception& e) {
    return error(500, e.what());
  }
  return error(404, "unknown query");
}

}  // namespace podnet::agent
