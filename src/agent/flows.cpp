#include "agent/flows.h"

#include <arpa/inet.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <thread>

#include "fastpath/fastpath.h"
#include "fastpath/fastpath_abi.h"

namespace podnet::agent {
namespace json = boost::json;

namespace {

IpAddress v4(uint32_t be) {
  return boost::asio::ip::address_v4(ntohl(be));
}

const char* path_name(uint8_t path) {
  switch (path) {
    case PN_FLOW_TO_LOCAL_POD:
      return "fastpath-local";
    case PN_FLOW_ENCAP:
      return "fastpath-vxlan";
    case PN_FLOW_ROUTED:
      return "fastpath-routed";
  }
  return "fastpath";
}

std::string proto_name(uint8_t p) {
  switch (p) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 132:
      return "sctp";
    case 1:
      return "icmp";
  }
  return std::to_string(p);
}

json::array flag_names(uint8_t f) {
  json::array out;
  if (f & PN_TCP_SYN) out.emplace_back("SYN");
  if (f & PN_TCP_ACK) out.emplace_back("ACK");
  if (f & PN_TCP_FIN) out.emplace_back("FIN");
  if (f & PN_TCP_RST) out.emplace_back("RST");
  return out;
}

json::object tuple_json(const proxy::ConntrackTuple& t) {
  json::object o{{"src", t.src.to_string()}, {"dst", t.dst.to_string()}};
  if (t.sport || t.dport) {
    o["sport"] = t.sport;
    o["dport"] = t.dport;
  }
  return o;
}

bool in_ranges(const std::vector<IpPrefix>& ranges, const proxy::ConntrackEvent& e) {
  const IpAddress* as[] = {&e.original.src, &e.original.dst, &e.reply.src, &e.reply.dst};
  if (ranges.empty()) {
    for (const IpAddress* a : as)
      if (!a->is_loopback()) return true;
    return false;
  }
  for (const IpAddress* a : as)
    for (const auto& r : ranges)
      if (r.contains(*a)) return true;
  return false;
}

// Stack flows have counters only with conntrack accounting on; it is per network namespace and
// off by default. Returns whether it is on (now).
bool enable_conntrack_accounting() {
  const char* path = "/proc/sys/net/netfilter/nf_conntrack_acct";
  std::string v;
  if (std::ifstream in(path); !(in >> v)) return false;
  if (v == "1") return true;
  std::ofstream out(path);
  out << "1\n";
  out.flush();
  if (!out) {
    spdlog::warn("flows: cannot turn on {} (stack flows will show no packet or byte counts)", path);
    return false;
  }
  spdlog::info("flows: turned on net.netfilter.nf_conntrack_acct (packet and byte counts of stack flows)");
  return true;
}

}  // namespace

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

size_t FlowKeyHash::operator()(const FlowKey& k) const {
  size_t h = std::hash<IpAddress>()(k.src);
  h = h * 1000003u ^ std::hash<IpAddress>()(k.dst);
  h = h * 1000003u ^ (size_t{k.sport} << 24 | size_t{k.dport} << 8 | k.proto);
  return h;
}

Flow& FlowLog::touch(const FlowKey& k, int64_t now_ms, bool& reversed, bool opener_known) {
  reversed = false;
  auto it = index_.find(k);
  if (it == index_.end()) {
    FlowKey r{k.dst, k.src, k.dport, k.sport, k.proto};
    it = index_.find(r);
    if (it != index_.end()) reversed = true;
  }
  if (it != index_.end()) {
    lru_.splice(lru_.end(), lru_, it->second);  // most recently seen last
    it->second->last_ms = now_ms;
    return *it->second;
  }
  while (lru_.size() >= max_ && !lru_.empty()) {
    index_.erase(lru_.front().key);
    lru_.pop_front();
    ++stats_.evicted;
  }
  Flow f;
  // A first report that is a reply (SYN+ACK, or a packet of a connection that began before the
  // agent read the ring) without the opener known: the SYN+ACK's receiver opened it.
  f.key = opener_known ? k : FlowKey{k.dst, k.src, k.dport, k.sport, k.proto};
  reversed = !opener_known;
  f.first_ms = f.last_ms = now_ms;
  lru_.push_back(std::move(f));
  auto last = std::prev(lru_.end());
  index_.emplace(last->key, last);
  return *last;
}

void FlowLog::add_carried(const fastpath::FlowEvent& e, int64_t now_ms) {
  FlowKey k{v4(e.saddr), v4(e.daddr), e.sport, e.dport, e.proto};
  bool synack = e.proto == IPPROTO_TCP && (e.tcp_flags & PN_TCP_SYN) && (e.tcp_flags & PN_TCP_ACK);
  std::lock_guard l(mu_);
  ++stats_.events;
  bool reversed = false;
  Flow& f = touch(k, now_ms, reversed, !synack);
  f.verdict = "forwarded";
  if (f.path.empty() || !reversed) f.path = path_name(e.path);
  if (reversed) {
    f.reply_packets += e.packets;
    f.reply_bytes += e.bytes;
  } else {
    f.packets += e.packets;
    f.bytes += e.bytes;
  }
  f.tcp_flags |= e.tcp_flags;
}

void FlowLog::add_dropped(const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t sport,
                          uint16_t dport, const std::string& direction, const std::string& policies,
                          int64_t now_ms) {
  FlowKey k{src, dst, sport, dport, proto};
  std::lock_guard l(mu_);
  ++stats_.drops_logged;
  bool reversed = false;
  Flow& f = touch(k, now_ms, reversed, true);
  f.verdict = "dropped";
  f.path = "policy";
  f.direction = direction;
  f.policies = policies;
  if (reversed)
    ++f.reply_packets;
  else
    ++f.packets;
}

void FlowLog::add_stack(const proxy::ConntrackEvent& e, int64_t now_ms) {
  FlowKey k{e.original.src, e.original.dst, e.original.sport, e.original.dport, e.proto};
  std::lock_guard l(mu_);
  ++stats_.conntrack_events;
  bool reversed = false;
  Flow& f = touch(k, now_ms, reversed, true);
  f.verdict = "forwarded";
  f.path = "stack";
  // The entry names its opener (the original direction), so `reversed` means a fast-path report
  // of the same pair came first: conntrack's view wins, the key stays.
  f.reply = e.reply;
  f.ended = e.destroyed;
  // Conntrack counters are the entry's totals: the largest seen is the latest.
  uint64_t p = e.packets, b = e.bytes, rp = e.reply_packets, rb = e.reply_bytes;
  if (reversed) {
    std::swap(p, rp);
    std::swap(b, rb);
  }
  f.packets = std::max(f.packets, p);
  f.bytes = std::max(f.bytes, b);
  f.reply_packets = std::max(f.reply_packets, rp);
  f.reply_bytes = std::max(f.reply_bytes, rb);
}

json::value FlowLog::snapshot(int64_t since_ms, size_t limit) const {
  std::lock_guard l(mu_);
  json::array flows;
  // Newest last in the list: walk back to the first one inside the window, then forward.
  auto it = lru_.end();
  size_t n = 0;
  while (it != lru_.begin() && n < limit) {
    auto prev = std::prev(it);
    if (prev->last_ms < since_ms) break;
    it = prev;
    ++n;
  }
  for (; it != lru_.end(); ++it) {
    const Flow& f = *it;
    json::object o{{"src", f.key.src.to_string()},
                   {"dst", f.key.dst.to_string()},
                   {"proto", proto_name(f.key.proto)},
                   {"verdict", f.verdict},
                   {"path", f.path},
                   {"packets", f.packets},
                   {"bytes", f.bytes},
                   {"reply_packets", f.reply_packets},
                   {"reply_bytes", f.reply_bytes},
                   {"first_seen_ms", f.first_ms},
                   {"last_seen_ms", f.last_ms}};
    if (f.key.sport || f.key.dport) {
      o["sport"] = f.key.sport;
      o["dport"] = f.key.dport;
    }
    if (f.key.proto == IPPROTO_TCP) o["tcp_flags"] = flag_names(f.tcp_flags);
    if (!f.direction.empty()) o["direction"] = f.direction;
    if (!f.policies.empty()) o["policies"] = f.policies;
    if (f.reply) {
      // The NAT the stack applied: the reply tuple's source is the endpoint after DNAT, its
      // destination the translated source after SNAT (masquerade).
      bool dnat = f.reply->src != f.key.dst || f.reply->sport != f.key.dport;
      bool snat = f.reply->dst != f.key.src || f.reply->dport != f.key.sport;
      o["reply"] = tuple_json(*f.reply);
      if (dnat || snat) o["nat"] = dnat && snat ? "dnat+snat" : dnat ? "dnat" : "snat";
      o["ended"] = f.ended;
    }
    flows.push_back(std::move(o));
  }
  return json::object{{"flows", std::move(flows)},
                      {"events", stats_.events},
                      {"lost", stats_.lost},
                      {"drops_logged", stats_.drops_logged},
                      {"evicted", stats_.evicted},
                      {"capacity", max_},
                      {"fastpath", stats_.fastpath},
                      {"conntrack", stats_.conntrack},
                      {"conntrack_events", stats_.conntrack_events},
                      {"conntrack_overruns", stats_.conntrack_overruns},
                      {"conntrack_acct", stats_.conntrack_acct},
                      {"now_ms", unix_ms_now()}};
}

FlowLogStats FlowLog::stats() const {
  std::lock_guard l(mu_);
  return stats_;
}

void FlowLog::run_fastpath(const std::string& bpf_dir) {
  std::optional<fastpath::FlowEvents> ring;
  bool warned = false;
  std::function<void(const fastpath::FlowEvent&)> on_event = [this](const fastpath::FlowEvent& e) {
    add_carried(e, unix_ms_now());
  };
  auto last_lost = std::chrono::steady_clock::now();
  while (!stop_) {
    if (!ring) {
      auto r = fastpath::FlowEvents::open(bpf_dir);
      if (!r) {
        if (!warned) spdlog::debug("flows: fast-path events not readable yet: {}", r.error().message());
        warned = true;
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      ring.emplace(std::move(*r));
      std::lock_guard l(mu_);
      stats_.fastpath = true;
    }
    auto n = ring->poll(100, on_event);  // the stop flag is looked at every 100 ms
    if (!n) {
      spdlog::error("flows: {} (fast-path flow events stopped)", n.error().message());
      std::lock_guard l(mu_);
      stats_.fastpath = false;
      return;
    }
    if (auto now = std::chrono::steady_clock::now(); now - last_lost >= std::chrono::milliseconds(500)) {
      last_lost = now;
      if (auto lost = ring->lost()) {
        std::lock_guard l(mu_);
        stats_.lost = *lost;
      }
    }
  }
}

void FlowLog::run_conntrack(std::vector<IpPrefix> ranges) {
  bool acct = enable_conntrack_accounting();
  auto events = proxy::ConntrackEvents::open();
  if (!events) {
    spdlog::error("flows: {} (connections through the stack will not be reported)", events.error().message());
    return;
  }
  {
    std::lock_guard l(mu_);
    stats_.conntrack = true;
    stats_.conntrack_acct = acct;
  }
  std::function<void(const proxy::ConntrackEvent&)> on_event = [&](const proxy::ConntrackEvent& e) {
    if (in_ranges(ranges, e)) add_stack(e, unix_ms_now());
  };
  while (!stop_) {
    pollfd p{.fd = events->fd(), .events = POLLIN, .revents = 0};
    int n = ::poll(&p, 1, 100);  // the stop flag is looked at every 100 ms
    if (n < 0 && errno != EINTR) {
      spdlog::error("flows: conntrack events poll: {}", std::strerror(errno));
      break;
    }
    if (n <= 0) continue;
    auto r = events->read(on_event);
    std::lock_guard l(mu_);
    stats_.conntrack_overruns = events->overruns();
    if (!r) {
      spdlog::error("flows: {} (conntrack events stopped)", r.error().message());
      break;
    }
  }
  std::lock_guard l(mu_);
  stats_.conntrack = false;
}

}  // namespace podnet::agent
