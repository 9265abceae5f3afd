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
    // Everything queued while the last sync ran joins the next one. The queue is looked at with
    // mu_ held up to the wait below, and a caller notifies under mu_: no wakeup is lost.
    take_admissions();
    bool ready = synced_[0] && synced_[1] && synced_[2] && ranges_known_;
    // Every change marks the enforcer pending and a sync clears that only once written: with
    // nothing pending after the puts, the table already holds these pods.
    if (ready && synced_once_ && !e_.pending()) complete_held();
    if (!ready || !e_.pending()) {
      cv_.wait(l);
      continue;
    }
    if (auto now = std::chrono::steady_clock::now(); now < retry_at) {
      cv_.wait_until(l, retry_at);
      continue;
    }
    auto r = e_.sync();
    if (!r) {
      // Fail closed: the held pods stay waiting (and pending in the kernel) for a sync that works.
      spdlog::error("{}", r.error().message());
      retry_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      continue;
    }
    synced_once_ = true;
    if (after_sync_ && (r->commands_bytes > 0 || r->full)) after_sync_(e_.state());
    ++syncs_done_;
    size_t admitted = held_.size();
    complete_held();
    if (r->commands_bytes > 0)
      spdlog::log(r->full ? spdlog::level::info : spdlog::level::debug,
                  "network policy: {} sync, {} policies, {} elements, {} class chains, {} new pods, plan {} "
                  "us, write {} us",
                  r->full ? "full" : "partial", e_.metrics().policies, r->elements, r->classes, admitted,
                  r->plan.count(), r->apply.count());
  }
}

void PolicyFeed::take_admissions() {
  std::vector<std::shared_ptr<Admission>> batch;
  {
    std::lock_guard a(amu_);
    batch.swap(queued_);
  }
  bool bad = false;
  for (auto& ad : batch) {
    if (e_.admit_pod(ad->pod, std::move(ad->ips))) {
      held_.push_back(std::move(ad));
      continue;
    }
    std::lock_guard a(amu_);
    ad->error = "network policy: the pod cannot be decoded";
    ad->done = bad = true;
  }
  if (bad) acv_.notify_all();
}

void PolicyFeed::complete_held() {
  if (held_.empty()) return;
  {
    std::lock_guard a(amu_);
    for (auto& ad : held_) ad->done = true;
    ++admits_.syncs;
  }
  held_.clear();
  acv_.notify_all();
}

Status PolicyFeed::admit_local_pod(const boost::json::value& pod, const std::vector<std::string>& ips,
                                   std::chrono::milliseconds timeout) {
  auto ad = std::make_shared<Admission>();
  for (const auto& s : ips) {
    auto a = parse_ip(s);
    if (!a) return fail_msg("network policy: pod address \"" + s + "\" is not an IP address");
    ad->ips.push_back(*a);
  }
  ad->pod = pod;
  auto t0 = std::chrono::steady_clock::now();
  {
    std::lock_guard a(amu_);
    queued_.push_back(ad);
  }
  {
    // Waits only while a sync runs; the pod is queued already and joins the sync after it.
    std::lock_guard l(mu_);
    cv_.notify_all();
  }
  std::unique_lock a(amu_);
  bool done = acv_.wait_until(a, t0 + timeout, [&] { return ad->done || astop_; });
  if (ad->done && !ad->error.empty()) return fail_msg(ad->error);
  if (!ad->done && astop_) return fail_msg("network policy: stopping before the pod's rules were written");
  admits_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!done) {
    // Still queued or held: a later sync writes the pod; until then its packets meet the
    // pending-pod drop.
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
    std::lock_guard a(amu_);
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
    std::lock_guard a(amu_);
    admits_.log_overruns = reader.overruns();
    if (!n) {
      spdlog::error("network policy: denied-connection log: {} (stopped)", n.error().message());
      return;
    }
  }
}

std::map<std::string, RuleRef> PolicyFeed::counters() const {
  std::lock_guard l(mu_);
  return e_.state().counters;
}

AdmitMetrics PolicyFeed::admit_metrics() const {
  std::lock_guard a(amu_);
  return admits_;
}

void PolicyFeed::stop() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  std::lock_guard a(amu_);
  astop_ = true;
  acv_.notify_all();
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
