// PodWorker, probes: startup, liveness and readiness as kubelet runs them (pod_worker.h).
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "runtime/pod_worker.h"
#include "runtime/probe.h"

namespace podnet::runtime {
namespace json = boost::json;
using namespace std::chrono_literals;

// ---- probes -------------------------------------------------------------------------------------

void PodWorker::run_probes(Clock::time_point now) {
  std::string pod_ip = rec_.ips.empty() ? ctx_.opts.node_ip : rec_.ips[0];
  for (const auto& name : order_) {
    auto& c = containers_.at(name);
    if (c.state != Container::State::kRunning) continue;
    if (c.env.empty()) c.env = container_env(c.spec);  // re-adopted: as it would start now
    ProbeTarget target{ctx_.node(), pod_ns_ ? &*pod_ns_ : ctx_.node(), pod_mnt_.get(), pod_ip, c.env};
    auto period = [](const Probe& p) { return std::chrono::seconds(p.period_seconds); };
    if (c.spec.startup && !c.started && !terminating_ && now >= c.startup.next) {
      auto r = run_probe(*c.spec.startup, c.spec, target);
      c.startup.next = Clock::now() + period(*c.spec.startup);
      if (r.success) {
        c.started = true;
      } else {
        record(&c, k8s::kEventWarning, "Unhealthy", "Startup probe failed: " + r.message);
        if (++c.startup.failures >= c.spec.startup->failure_threshold) {
          spdlog::info("pod {}: container {} failed its startup probe: {}", key(), name, r.message);
          record(&c, k8s::kEventNormal, "Killing",
                 "Container " + name + " failed startup probe, will be restarted");
          c.reason = "Error";
          kill_containers({&c}, spec_->grace_period_seconds);
          continue;
        }
      }
    }
    if (!c.started) continue;
    if (c.spec.liveness && !terminating_ && now >= c.liveness.next) {
      auto r = run_probe(*c.spec.liveness, c.spec, target);
      c.liveness.next = Clock::now() + period(*c.spec.liveness);
      if (r.success) {
        c.liveness.failures = 0;
      } else {
        record(&c, k8s::kEventWarning, "Unhealthy", "Liveness probe failed: " + r.message);
        if (++c.liveness.failures >= c.spec.liveness->failure_threshold) {
          spdlog::info("pod {}: container {} failed liveness probe, will be restarted: {}", key(), name,
                       r.message);
          record(&c, k8s::kEventNormal, "Killing",
                 "Container " + name + " failed liveness probe, will be restarted");
          c.reason = "Error";
          kill_containers({&c}, spec_->grace_period_seconds);
          continue;
        }
      }
    }
    if (!c.spec.readiness) {
      c.ready = true;
    } else if (now >= c.readiness.next) {
      const Probe& p = *c.spec.readiness;
      auto r = run_probe(p, c.spec, target);
      if (r.success) {
        c.readiness.failures = 0;
        if (!c.ready)
          phase_done(c.readiness.tries == 0 ? "ready at the first probe" : "ready after probe retries");
        if (++c.readiness.successes >= p.success_threshold) c.ready = true;
      } else {
        c.readiness.successes = 0;
        if (++c.readiness.failures >= p.failure_threshold) c.ready = false;
        if (auto at = Clock::now(); at >= c.readiness_report) {
          record(&c, k8s::kEventWarning, "Unhealthy", "Readiness probe failed: " + r.message);
          c.readiness_report = at + period(p);
        }
      }
      // Until the first success, and for at most 10 s, probe every 50 ms instead of every period:
      // a pod that is up in 10 ms should not wait a whole period to become Ready. Kube's semantics
      // are unchanged: the container is not ready before a success either way.
      std::chrono::milliseconds next = period(p);
      if (!c.ready && c.readiness.successes == 0 && ++c.readiness.tries <= 200) next = std::min(next, 50ms);
      c.readiness.next = Clock::now() + next;
    }
  }
}

}  // namespace podnet::runtime
