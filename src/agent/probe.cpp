// Every collector is made and removed in the node's network namespace: arm and collect run in the
// node API's thread (the node's), and so does the reaper, started from it.
#include "agent/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <random>

#include "agent/flows.h"
#include "agent/probe_nftrace.h"
#include "common/fd.h"
#include "fastpath/drop_watch.h"
#include "netlink/netns.h"

namespace podnet::agent {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct ProbeSessions::Session {
  ProbeQuery armed;
  Clock::time_point deadline;
  int64_t armed_ms = 0;
  std::unique_ptr<NftTrace> nftrace;
  std::unique_ptr<fastpath::DropWatch> drops;
  json::object collectors;  // what each collector could not do: "ok" or the reason
};

namespace {

std::pair<int, json::value> err(int status, const std::string& message) {
  return {status, json::object{{"error", message}}};
}

uint64_t own_netns_inode() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return st.st_ino;
}

std::string new_id() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(buf, 12);
}

}  // namespace

ProbeSessions::ProbeSessions(std::shared_ptr<const FlowLog> flows, uint16_t vxlan_port)
    : flows_(std::move(flows)), vxlan_port_(vxlan_port) {
  remove_stale_probe_tables();
  reaper_ = std::thread([this] { reap(); });
}

ProbeSessions::~ProbeSessions() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  reaper_.join();
}

void ProbeSessions::reap() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(250));
    auto now = Clock::now();
    for (auto it = sessions_.begin(); it != sessions_.end();)
      it = it->second->deadline <= now ? sessions_.erase(it) : std::next(it);
  }
  sessions_.clear();  // the tables go with the agent
}

size_t ProbeSessions::armed() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::vector<uint32_t> ProbeSessions::drop_programs() const {
  std::lock_guard lock(mu_);
  std::vector<uint32_t> ids;
  for (const auto& [id, s] : sessions_)
    if (s->drops) ids.push_back(s->drops->program_id());
  return ids;
}

std::pair<int, json::value> ProbeSessions::arm(const ProbeQuery& q) {
  if (!q.src || !q.src->is_v4()) return err(400, "probe/arm: src must be IPv4");
  {
    std::lock_guard lock(mu_);
    if (sessions_.size() >= kMaxArmed)
      return err(429, "probe/arm: " + std::to_string(kMaxArmed) +
                          " probes are armed on this node already; try again in a few seconds");
  }
  auto s = std::make_unique<Session>();
  s->armed = q;
  s->armed_ms = unix_ms_now();
  std::string id = new_id();
  auto trace = NftTrace::arm(std::string(kProbeTablePrefix) + id, *q.src, q.sport, q.proto);
  if (trace)
    s->nftrace = std::move(*trace);
  else
    s->collectors["nftrace"] = trace.error().message();
  fastpath::DropFilter f;
  f.saddr = htonl(q.src->to_v4().to_uint());
  f.sport = q.sport;
  f.proto = q.proto;
  f.vxlan_port = vxlan_port_;
  auto drops = fastpath::DropWatch::start(f);
  if (drops)
    s->drops = std::move(*drops);
  else
    s->collectors["drops"] = drops.error().message();
  s->collectors["flows"] = flows_ ? "ok" : "this node keeps no flow log";
  if (!s->nftrace && !s->drops)
    return err(500, "probe/arm: no collector could start: " + json::serialize(s->collectors));
  s->deadline = Clock::now() + std::chrono::milliseconds(q.ttl_ms);
  json::object out{{"id", id}, {"collectors", s->collectors}};
  std::lock_guard lock(mu_);
  if (sessions_.size() >= kMaxArmed) return err(429, "probe/arm: too many probes armed on this node");
  sessions_[id] = std::move(s);
  return {200, std::move(out)};
}

std::pair<int, json::value> ProbeSessions::collect(const ProbeQuery& q) {
  std::unique_ptr<Session> s;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(q.id);
    if (it == sessions_.end())
      return err(404, "probe/collect: no armed probe " + q.id + " (collected already, or its ttl passed)");
    if (it->second->armed.ns != q.ns || it->second->armed.pod != q.pod)
      return err(403, "probe/collect: probe " + q.id + " was armed for another pod");
    s = std::move(it->second);
    sessions_.erase(it);
  }
  // The flow log reads the fast path's ring every 100 ms: give the probe's reports time to arrive.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  json::object out{{"collectors", s->collectors}};
  const std::string src = s->armed.src->to_string();
  const uint16_t sport = s->armed.sport;
  const uint64_t here = own_netns_inode();
  out["netns"] = here;
  if (s->nftrace) {
    uint64_t overruns = 0;
    out["nftrace"] = s->nftrace->take(256, overruns);
    out["nftrace_overruns"] = overruns;
    s->collectors["nftrace"] = "ok";
  }
  if (s->drops) {
    json::array drops;
    uint64_t elsewhere = 0;
    for (const auto& d : s->drops->take(64)) {
      // One kernel may hold several nodes (`podnet up`): only this node's namespace counts here.
      if (d.netns && here && d.netns != here) {
        ++elsewhere;
        continue;
      }
      in_addr sa{d.saddr}, da{d.daddr};
      char sb[INET_ADDRSTRLEN] = {}, db[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &sa, sb, sizeof sb);
      ::inet_ntop(AF_INET, &da, db, sizeof db);
      drops.push_back(
          json::object{{"reason", d.reason_name.empty() ? std::to_string(d.reason) : d.reason_name},
                       {"reason_code", d.reason},
                       {"function", d.function},
                       {"dev", d.dev},
                       {"ifindex", d.ifindex},
                       {"reply", d.reply},
                       {"encapsulated", d.encapsulated},
                       {"src", std::string(sb) + ":" + std::to_string(d.sport)},
                       {"dst", std::string(db) + ":" + std::to_string(d.dport)}});
    }
    out["drops"] = std::move(drops);
    out["drops_lost"] = s->drops->lost();
    out["drops_elsewhere"] = elsewhere;
    s->collectors["drops"] = "ok";
  }
  if (flows_) {
    json::array mine;
    json::value snap = flows_->snapshot(s->armed_ms - 1000);
    if (const json::value* fs = snap.as_object().if_contains("flows"); fs && fs->is_array())
      for (const auto& f : fs->get_array()) {
        const json::object& o = f.as_object();
        auto str = [&](const char* k) {
          const json::value* v = o.if_contains(k);
          return v && v->is_string() ? std::string(v->as_string()) : std::string();
        };
        auto num = [&](const char* k) {
          const json::value* v = o.if_contains(k);
          return v && v->is_number() ? v->to_number<int64_t>() : int64_t{-1};
        };
        if ((str("src") == src && num("sport") == sport) || (str("dst") == src && num("dport") == sport))
          mine.push_back(f);
      }
    out["flows"] = std::move(mine);
  }
  out["collectors"] = s->collectors;
  return {200, std::move(out)};
  // s goes here: the trace table is deleted and the BPF program detached.
}

json::value send_probe(const std::string& netns_path, const ProbeQuery& q) {
  auto ns = netlink::NetNs::open(netns_path);
  if (!ns) return json::object{{"error", "the pod's network namespace: " + ns.error().message()}};
  const auto start = Clock::now();
  auto r = ns->run([&]() -> Result<json::object> {
    const bool tcp = q.proto == 6;
    UniqueFd s(::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s.valid()) return fail("socket", errno);
    int one = 1;
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(q.sport);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
      return fail("bind source port " + std::to_string(q.sport) + " in the pod", errno);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(q.dport);
    to.sin_addr.s_addr = htonl(q.dst->to_v4().to_uint());
    json::object out;
    auto outcome = [&](int code) -> std::string {
      switch (code) {
        case 0:
          return tcp ? "connected" : "answered";
        case ECONNREFUSED:
          return "refused";
        case ETIMEDOUT:
          return tcp ? "timeout" : "sent";
        case EHOSTUNREACH:
        case ENETUNREACH:
          return "unreachable";
        case EPERM:
        case EACCES:
          return "prohibited";
      }
      return "error";
    };
    int e = 0;
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) e = errno;
    if (tcp && e == EINPROGRESS) {
      pollfd p{s.get(), POLLOUT, 0};
      int n = ::poll(&p, 1, q.timeout_ms);
      if (n == 0) {
        e = ETIMEDOUT;
      } else {
        socklen_t len = sizeof e;
        ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &e, &len);
      }
    } else if (!tcp && e == 0) {
      static constexpr char kPayload[] = "podnet-trace-probe\n";
      if (::send(s.get(), kPayload, sizeof kPayload - 1, 0) < 0) {
        e = errno;
      } else {
        pollfd p{s.get(), POLLIN, 0};
        if (::poll(&p, 1, q.timeout_ms) == 0) {
          e = ETIMEDOUT;
        } else {
          char buf[512];
          e = ::recv(s.get(), buf, sizeof buf, 0) < 0 ? errno : 0;
        }
      }
    }
    sockaddr_in me{};
    socklen_t len = sizeof me;
    if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&me), &len) == 0) {
      char buf[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &me.sin_addr, buf, sizeof buf);
      out["local"] = std::string(buf) + ":" + std::to_string(ntohs(me.sin_port));
    }
    if (tcp) {  // a reset, not a FIN: the probe leaves no connection behind in either pod
      linger l{1, 0};
      ::setsockopt(s.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    out["result"] = outcome(e);
    if (e) out["errno"] = std::string(std::strerror(e));
    return out;
  });
  if (!r) return json::object{{"error", r.error().message()}};
  (*r)["ms"] = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return json::value(std::move(*r));
}

std::pair<int, std::string> answer_probe(ProbeSessions* sessions, const PodNetnsResolver& pod_netns,
                                         std::string_view target) {
  auto fail_with = [](int status, const std::string& message) {
    return std::pair<int, std::string>{status, json::serialize(json::object{{"error", message}})};
  };
  auto q = parse_probe_query(target);
  if (!q) return fail_with(q.error().status, q.error().message);
  if (!sessions || !pod_netns) return fail_with(404, "probes are not served by this node's agent");
  try {  // Boost.JSON allocates; nothing may escape into the server thread
    std::pair<int, json::value> r;
    switch (q->step) {
      case ProbeStep::kArm:
        r = sessions->arm(*q);
        break;
      case ProbeStep::kCollect:
        r = sessions->collect(*q);
        break;
      case ProbeStep::kSend: {
        auto path = pod_netns(q->ns, q->pod);
        if (!path)
          return fail_with(404, "pod " + q->ns + "/" + q->pod + " is not running on this node's network");
        r = {200, send_probe(*path, *q)};
        if (r.second.as_object().contains("error")) r.first = 500;
        break;
      }
    }
    return {r.first, json::serialize(r.second)};
  } catch (const std::exception& e) {
    return fail_with(500, e.what());
  }
}

}  // namespace podnet::agent
