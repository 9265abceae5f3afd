#include "policy/feed.h"

#include <poll.h>
#include <spdlog/spdlog.h>

namespace podnet::policy {

void PolicyFeed::Handler::on_upsert(const boost::json::value& object) {
  std::lock_guard l(feed_.mu_);
  if (kind_ == 0)
    feed_.e_.upsert_pod(object);
  else if (kind_ == 1)
    feed_.e_.upsert_namespace(object);
  else
    feed_.e_.upsert_policy(object);
  if (feed_.e_.pending()) feed_.cv_.notify_all();
}

void PolicyFeed::Handler::on_delete(const boost::json::value& last_known) {
  std::lock_guard l(feed_.mu_);
  if (kind_ == 0)
    feed_.e_.delete_pod(last_known);
  else if (kind_ == 1)
    feed_.e_.delete_namespace(last_known);
  else
    feed_.e_.delete_policy(last_known);
  if (feed_.e_.pending()) feed_.cv_.notify_all();
}

void PolicyFeed::Handler::on_synced() {
  std::lock_guard l(feed_.mu_);
  feed_.synced_[kind_] = true;
  feed_.cv_.notify_all();
}

void PolicyFeed::set_own_ranges(std::vector<IpPrefix> ranges) {
  std::lock_guard l(mu_);
  e_.set_own_ranges(std::move(ranges));
  ranges_known_ = true;
  cv_.notify_all();
}

void PolicyFeed::set_after_sync(std::function<void(const TableState&)> fn) {
  std::lock_guard l(mu_);
  after_sync_ = std::move(fn);
}

void PolicyFeed::run() {
  std::unique_lock l(mu_);
  auto retry_at = std::chrono::steady_clock::time_point{};
  while (!stop_) {
    if (!synced_[0] || !synced_[1] || !synced_[2] || !ranges_known_ || !e_.pending()) {
      cv_.wait(l);
      continue;
    }
    if (auto now = std::chrono::steady_clock::now(); now < retry_at) {
      cv_.wait_until(l, retry_at);
      continue;
    }
    auto r = e_.sync();
    if (!r) {
      spdlog::error("{}", r.error().message());
      retry_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      continue;
    }
    synced_once_ = true;
    if (after_sync_ && (r->commands_bytes > 0 || r->full)) after_sync_(e_.state());
    ++syncs_done_;
    cv_.notify_all();  // admit_local_pod waiters
    if (r->commands_bytes > 0)
      spdlog::log(
          r->full ? spdlog::level::info : spdlog::level::debug,
          "network policy: {} sync, {} policies, {} elements, {} class chains, plan {} us, write {} us",
          r->full ? "full" : "partial", e_.metrics().policies, r->elements, r->classes, r->plan.count(),
          r->apply.count());
  }
}

Status PolicyFeed::admit_local_pod(const boost::json::value& pod, const std::vector<std::string>& ips,
                                   std::chrono::milliseconds timeout) {
  std::vector<IpAddress> addrs;
  for (const auto& s : ips) {
    auto a = parse_ip(s);
    if (!a) return fail_msg("network policy: pod address \"" + s + "\" is not an IP address");
    addrs.push_back(*a);
  }
  auto t0 = std::chrono::steady_clock::now();
  std::unique_lock l(mu_);
  if (!e_.admit_pod(pod, std::move(addrs))) return fail_msg("network policy: the pod cannot be decoded");
  // Every change marks the enforcer pending and a sync clears that only once written: with nothing
  // pending after the put, the table already holds this pod.
  uint64_t want = e_.pending() || !synced_once_ ? syncs_done_ + 1 : syncs_done_;
  cv_.notify_all();
  bool done = cv_.wait_until(l, t0 + timeout, [&] { return stop_ || syncs_done_ >= want; });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++admits_.admits;
  admits_.seconds_sum += s;
  admits_.max_seconds = std::max(admits_.max_seconds, s);
  if (!done) {
    ++admits_.timeouts;
    return fail_msg("network policy: the pod's rules were not in the kernel after " +
                    std::to_string(timeout.count()) + " ms");
  }
  return {};
}

std::string PolicyFeed::describe(const DeniedPacket& d) const {
  std::lock_guard l(mu_);
  bool in = d.direction == "ingress";
  const IpAddress& local = in ? d.dst : d.src;
  const IpAddress& peer = in ? d.src : d.dst;
  auto ep = [](const IpAddress& a, uint16_t port) {
    std::string s = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
    return port ? s + ":" + std::to_string(port) : s;
  };
  std::string pod = e_.pod_at(local), other = e_.pod_at(peer);
  std::string policies = e_.selected_by(local.to_string());
  return "network policy: denied " + d.direction + " " + protocol_name(d.protocol) + " " +
         ep(d.src, d.sport) + " -> " + ep(d.dst, d.dport) + ": pod " +
         (pod.empty() ? local.to_string() : pod) + " (selected by " +
         (policies.empty() ? "no policy" : policies) + ") " + (in ? "from" : "to") + " " +
         (other.empty() ? "address " + peer.to_string() : "pod " + other);
}

void PolicyFeed::run_denial_log(NflogReader& reader) {
  auto log = [this](const DeniedPacket& d) {
    spdlog::warn("{}", describe(d));
    if (denial_observer_)
      denial_observer_(d, selected_by((d.direction == "ingress" ? d.dst : d.src).to_string()));
    std::lock_guard l(mu_);
    ++admits_.denials_logged;
  };
  for (;;) {
    {
      std::lock_guard l(mu_);
      if (stop_) return;
    }
    pollfd p{reader.fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;  // the stop flag is looked at every 200 ms
    auto n = reader.read(log);
    std::lock_guard l(mu_);
    admits_.log_overruns = reader.overruns();
    if (!n) {
      spdlog::error("network policy: denied-connection log: {} (stopped)", n.error().message());
      return;
    }
  }
}

std::map<std::string, std::set<std::string>> PolicyFeed::chain_policies() const {
  std::lock_guard l(mu_);
  return e_.state().chain_policies;
}

AdmitMetrics PolicyFeed::admit_metrics() const {
  std::lock_guard l(mu_);
  return admits_;
}

void PolicyFeed::stop() {
  std::lock_guard l(mu_);
  stop_ = true;
  cv_.notify_all();
}

EnforcerMetrics PolicyFeed::metrics() const {
  std::lock_guard l(mu_);
  return e_.metrics();
}

bool PolicyFeed::synced_once() const {
  std::lock_guard l(mu_);
  return synced_once_;
}

std::string PolicyFeed::selected_by(const std::string& ip) const {
  std::lock_guard l(mu_);
  return e_.selected_by(ip);
}

}  // namespace podnet::policy
