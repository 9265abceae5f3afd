// The trace rule matches before conntrack (priority -350 < raw's -300), so the probe is marked on
// the first hook it meets in this namespace and every chain after it reports: the service proxy's
// DNAT, the policy's verdicts, the forward and postrouting chains. Events carry the packet's
// headers only once per chain walk, so packets are told apart by the kernel's trace id and kept
// when one of their events shows the probe's tuple.
#include "agent/probe_nftrace.h"

#include <arpa/inet.h>
#include <libnftnl/trace.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstring>
#include <map>
#include <set>

#include "netlink/link.h"
#include "nft/nft.h"

namespace podnet::agent {
namespace json = boost::json;

namespace {

struct TraceFree {
  void operator()(nftnl_trace* t) const { nftnl_trace_free(t); }
};

std::string verdict_name(int32_t v) {
  switch (v) {
    case NF_DROP:
      return "drop";
    case NF_ACCEPT:
      return "accept";
    case NF_QUEUE:
      return "queue";
    case NF_STOLEN:
      return "stolen";
    case NFT_CONTINUE:
      return "continue";
    case NFT_BREAK:
      return "break";
    case NFT_JUMP:
      return "jump";
    case NFT_GOTO:
      return "goto";
    case NFT_RETURN:
      return "return";
  }
  return std::to_string(v);
}

std::string type_name(uint32_t t) {
  switch (t) {
    case NFT_TRACETYPE_POLICY:
      return "policy";
    case NFT_TRACETYPE_RETURN:
      return "return";
    case NFT_TRACETYPE_RULE:
      return "rule";
  }
  return "unknown";
}

std::string family_name(uint32_t f) {
  switch (f) {
    case NFPROTO_INET:
      return "inet";
    case NFPROTO_IPV4:
      return "ip";
    case NFPROTO_IPV6:
      return "ip6";
    case NFPROTO_BRIDGE:
      return "bridge";
    case NFPROTO_NETDEV:
      return "netdev";
  }
  return std::to_string(f);
}

std::string ipv4(uint32_t be) {
  char buf[INET_ADDRSTRLEN] = {};
  in_addr a{be};
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

bool valid_table_name(const std::string& t) {
  if (!t.starts_with(kProbeTablePrefix) || t.size() > 64) return false;
  for (unsigned char c : t)
    if (!std::isalnum(c) && c != '-') return false;
  return true;
}

// Each rule of a podnet table by handle: its comment and its expressions (nft's JSON), bounded.
std::map<uint64_t, json::value> rules_of(nft::Nft& nft, const std::string& family, const std::string& table) {
  std::map<uint64_t, json::value> out;
  auto text = nft.query("list table " + family + " " + table);
  if (!text) return out;
  json::error_code ec;
  json::value doc = json::parse(*text, ec);
  if (ec || !doc.is_object()) return out;
  const json::value* items = doc.get_object().if_contains("nftables");
  if (!items || !items->is_array()) return out;
  for (const auto& item : items->get_array()) {
    const json::object* o = item.if_object();
    const json::value* rule = o ? o->if_contains("rule") : nullptr;
    if (!rule || !rule->is_object()) continue;
    const json::object& r = rule->get_object();
    const json::value* handle = r.if_contains("handle");
    if (!handle || !handle->is_number()) continue;
    json::object info;
    if (const json::value* c = r.if_contains("comment")) info["comment"] = *c;
    if (const json::value* e = r.if_contains("expr")) {
      std::string expr = json::serialize(*e);
      if (expr.size() > 600) expr = expr.substr(0, 600) + "...";
      info["expr"] = expr;
    }
    out[handle->to_number<uint64_t>()] = std::move(info);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<NftTrace>> NftTrace::arm(const std::string& table, const IpAddress& src,
                                                uint16_t sport, uint8_t proto) {
  if (!valid_table_name(table)) return fail_msg("probe table name " + table);
  if (!src.is_v4()) return fail_msg("the probe's source must be IPv4");
  // The socket first: no event may be sent before someone listens.
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER));
  if (!sock.valid()) return fail("netlink socket (NETLINK_NETFILTER)", errno);
  int rcvbuf = 1 << 20;
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail("bind the nftrace socket", errno);
  int group = NFNLGRP_NFTRACE;
  if (::setsockopt(sock.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
    return fail("join NFNLGRP_NFTRACE", errno);
  const std::string p = proto == 17 ? "udp" : "tcp";
  const std::string s = src.to_string(), port = std::to_string(sport);
  PODNET_TRY(nft, nft::Nft::open());
  auto added = nft.run("add table inet " + table +
                       "\n"
                       "add chain inet " +
                       table +
                       " trace { type filter hook prerouting priority -350; policy accept; }\n"
                       "add rule inet " +
                       table + " trace ip saddr " + s + " " + p + " sport " + port +
                       " meta nftrace set 1\n"
                       "add rule inet " +
                       table + " trace ip daddr " + s + " " + p + " dport " + port + " meta nftrace set 1\n");
  if (!added) return std::unexpected(wrap(added.error(), "add the probe's trace table"));
  return std::unique_ptr<NftTrace>(new NftTrace(table, std::move(sock), src, sport, proto));
}

NftTrace::~NftTrace() {
  if (auto nft = nft::Nft::open()) (void)nft->run("delete table inet " + table_);
}

json::array NftTrace::take(size_t max, uint64_t& overruns) {
  struct Event {
    uint32_t id;
    json::object o;
  };
  std::vector<Event> events;
  std::set<uint32_t> ours;
  const uint32_t want_src = htonl(src_.to_v4().to_uint());
  std::vector<char> buf(64 * 1024);
  for (size_t rounds = 0; rounds < 4096 && events.size() < 4 * max; ++rounds) {
    ssize_t n = ::recv(sock_.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == ENOBUFS) {
        ++overruns;
        continue;
      }
      break;  // EAGAIN: all read
    }
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nlh, len);
         nlh = NLMSG_NEXT(nlh, len)) {
      if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
          NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_TRACE)
        continue;
      std::unique_ptr<nftnl_trace, TraceFree> t(nftnl_trace_alloc());
      if (!t || nftnl_trace_nlmsg_parse(nlh, t.get()) < 0) continue;
      Event ev{nftnl_trace_get_u32(t.get(), NFTNL_TRACE_ID), {}};
      json::object& o = ev.o;
      o["packet"] = ev.id;
      o["family"] = family_name(nftnl_trace_get_u32(t.get(), NFTNL_TRACE_FAMILY));
      if (nftnl_trace_is_set(t.get(), NFTNL_TRACE_TABLE))
        o["table"] = nftnl_trace_get_str(t.get(), NFTNL_TRACE_TABLE);
      if (nftnl_trace_is_set(t.get(), NFTNL_TRACE_CHAIN))
        o["chain"] = nftnl_trace_get_str(t.get(), NFTNL_TRACE_CHAIN);
      uint32_t type = nftnl_trace_get_u32(t.get(), NFTNL_TRACE_TYPE);
      o["type"] = type_name(type);
      if (nftnl_trace_is_set(t.get(), NFTNL_TRACE_RULE_HANDLE))
        o["handle"] = nftnl_trace_get_u64(t.get(), NFTNL_TRACE_RULE_HANDLE);
      if (nftnl_trace_is_set(t.get(), NFTNL_TRACE_VERDICT))
        o["verdict"] = verdict_name(static_cast<int32_t>(nftnl_trace_get_u32(t.get(), NFTNL_TRACE_VERDICT)));
      if (type == NFT_TRACETYPE_POLICY && nftnl_trace_is_set(t.get(), NFTNL_TRACE_POLICY))
        o["verdict"] = verdict_name(static_cast<int32_t>(nftnl_trace_get_u32(t.get(), NFTNL_TRACE_POLICY)));
      if (nftnl_trace_is_set(t.get(), NFTNL_TRACE_JUMP_TARGET))
        o["jump"] = nftnl_trace_get_str(t.get(), NFTNL_TRACE_JUMP_TARGET);
      if (nftnl_trace_is_set(t.get(), NFTNL_TRACE_IIF))
        o["iif"] = nftnl_trace_get_u32(t.get(), NFTNL_TRACE_IIF);
      if (nftnl_trace_is_set(t.get(), NFTNL_TRACE_OIF))
        o["oif"] = nftnl_trace_get_u32(t.get(), NFTNL_TRACE_OIF);
      if (nftnl_trace_is_set(t.get(), NFTNL_TRACE_MARK))
        o["mark"] = nftnl_trace_get_u32(t.get(), NFTNL_TRACE_MARK);
      uint32_t nh_len = 0, th_len = 0;
      const auto* nh =
          static_cast<const uint8_t*>(nftnl_trace_is_set(t.get(), NFTNL_TRACE_NETWORK_HEADER)
                                          ? nftnl_trace_get_data(t.get(), NFTNL_TRACE_NETWORK_HEADER, &nh_len)
                                          : nullptr);
      const auto* th = static_cast<const uint8_t*>(
          nftnl_trace_is_set(t.get(), NFTNL_TRACE_TRANSPORT_HEADER)
              ? nftnl_trace_get_data(t.get(), NFTNL_TRACE_TRANSPORT_HEADER, &th_len)
              : nullptr);
      if (nh && nh_len >= 20 && (nh[0] >> 4) == 4) {
        uint32_t saddr, daddr;
        std::memcpy(&saddr, nh + 12, 4);
        std::memcpy(&daddr, nh + 16, 4);
        uint16_t sport = 0, dport = 0;
        if (th && th_len >= 4) {
          sport = static_cast<uint16_t>(th[0] << 8 | th[1]);
          dport = static_cast<uint16_t>(th[2] << 8 | th[3]);
        }
        o["src"] = ipv4(saddr) + ":" + std::to_string(sport);
        o["dst"] = ipv4(daddr) + ":" + std::to_string(dport);
        bool fwd = saddr == want_src && sport == sport_;
        bool reply = daddr == want_src && dport == sport_;
        if (nh[9] == proto_ && (fwd || reply)) {
          ours.insert(ev.id);
          o["reply"] = reply;
        }
      }
      events.push_back(std::move(ev));
    }
  }
  // Names for the interfaces and the rules the events name.
  std::map<int, std::string> links;
  if (auto nl = netlink::Netlink::open())
    if (auto ls = nl->list_links())
      for (const auto& l : *ls) links[l.index] = l.name;
  std::map<std::pair<std::string, std::string>, std::map<uint64_t, json::value>> rules;
  auto nft = nft::Nft::open();
  json::array out;
  std::map<uint32_t, bool> reply_of;  // a packet's direction, from its header-bearing event
  for (const auto& ev : events)
    if (const json::value* r = ev.o.if_contains("reply")) reply_of[ev.id] = r->as_bool();
  for (auto& ev : events) {
    if (!ours.contains(ev.id)) continue;
    if (out.size() >= max) {
      ++overruns;
      continue;
    }
    json::object& o = ev.o;
    o["reply"] = reply_of[ev.id];
    for (const char* k : {"iif", "oif"})
      if (const json::value* i = o.if_contains(k); i && i->is_number()) {
        auto it = links.find(static_cast<int>(i->to_number<int64_t>()));
        if (it != links.end()) o[k] = it->second;
      }
    const json::value* table = o.if_contains("table");
    const json::value* handle = o.if_contains("handle");
    if (nft && table && table->is_string() && handle && std::string(o["type"].as_string()) == "rule") {
      auto key = std::make_pair(std::string(o["family"].as_string()), std::string(table->as_string()));
      auto it = rules.find(key);
      if (it == rules.end()) it = rules.emplace(key, rules_of(*nft, key.first, key.second)).first;
      auto r = it->second.find(handle->to_number<uint64_t>());
      if (r != it->second.end()) o["rule"] = r->second;
    }
    out.push_back(std::move(o));
  }
  return out;
}

size_t remove_stale_probe_tables() {
  auto nft = nft::Nft::open();
  if (!nft) return 0;
  auto text = nft->query("list tables inet");
  if (!text) return 0;
  json::error_code ec;
  json::value doc = json::parse(*text, ec);
  if (ec || !doc.is_object()) return 0;
  size_t n = 0;
  if (const json::value* items = doc.get_object().if_contains("nftables"); items && items->is_array())
    for (const auto& item : items->get_array()) {
      const json::object* o = item.if_object();
      const json::value* t = o ? o->if_contains("table") : nullptr;
      const json::value* name = t && t->is_object() ? t->get_object().if_contains("name") : nullptr;
      if (!name || !name->is_string() || !valid_table_name(std::string(name->as_string()))) continue;
      if (nft->run("delete table inet " + std::string(name->as_string()))) ++n;
    }
  return n;
}

}  // namespace podnet::agent
