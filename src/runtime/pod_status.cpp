// PodWorker, status: phase, conditions and container statuses built and posted to the API
// (pod_worker.h).
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/time.h"
#include "runtime/pod_worker.h"
#include "runtime/pod_worker_detail.h"

namespace podnet::runtime {
namespace json = boost::json;
using namespace std::chrono_literals;
using detail::meta_str;
using detail::ready_status;
using detail::rv_number;

// ---- status -------------------------------------------------------------------------------------

bool PodWorker::terminal() const {
  if (init_failed_) return true;
  for (const auto& name : order_) {
    const auto& c = containers_.at(name);
    if (c.state != Container::State::kTerminated || c.restart_pending) return false;
  }
  return true;
}

std::string PodWorker::phase() const {
  if (!config_error_.empty()) return "Pending";  // as kubelet's pods with CreateContainerConfigError
  if (init_failed_) return "Failed";
  bool all_done = true, all_ok = true, any_running = false;
  for (const auto& name : order_) {
    const auto& c = containers_.at(name);
    if (c.state == Container::State::kRunning) any_running = true;
    if (c.state != Container::State::kTerminated || c.restart_pending) all_done = false;
    if (c.exit && c.exit->exit_code != 0) all_ok = false;
    if (c.state == Container::State::kWaiting && c.rec.shim.pid == 0) return "Pending";
  }
  if (all_done) return all_ok ? "Succeeded" : "Failed";
  return any_running || !sandbox_ready_ ? (sandbox_ready_ ? "Running" : "Pending") : "Running";
}

json::object PodWorker::build_status() {
  bool initialized = true;
  for (const auto& name : init_order_) initialized = initialized && containers_.at(name).rec.succeeded_init;
  bool all_ready = !order_.empty();
  json::array statuses, init_statuses;
  for (const auto* list : {&init_order_, &order_}) {
    for (const auto& name : *list) {
      const auto& c = containers_.at(name);
      bool ready = c.state == Container::State::kRunning && c.ready && c.started;
      if (!c.init) all_ready = all_ready && ready;
      if (c.init && c.rec.succeeded_init) ready = true;
      auto terminated = [&](const ExitRecord& e) {
        return json::object{
            {"exitCode", e.exit_code},
            {"reason", c.reason.empty() ? (e.exit_code == 0 ? "Completed" : "Error") : c.reason},
            {"startedAt", rfc3339(c.exit_started_ns)},
            {"finishedAt", rfc3339(e.finished_unix_ns)},
            {"containerID", "podnet://" + uid_ + "/" + name}};
      };
      json::object state, last;
      if (c.state == Container::State::kRunning) {
        state["running"] = json::object{{"startedAt", rfc3339(c.rec.started_unix_ns)}};
        if (c.exit) last["terminated"] = terminated(*c.exit);
      } else if (c.state == Container::State::kTerminated && !c.restart_pending) {
        state["terminated"] = terminated(*c.exit);
      } else {
        json::object w{{"reason", c.state == Container::State::kTerminated ? "CrashLoopBackOff"
                                  : c.reason.empty()                       ? "ContainerCreating"
                                                                           : c.reason}};
        if (!c.message.empty()) w["message"] = c.message;
        if (c.state == Container::State::kTerminated && c.exit) {
          w["message"] = "back-off restarting failed container " + name;
          last["terminated"] = terminated(*c.exit);
        }
        state["waiting"] = std::move(w);
      }
      json::object s{{"name", name},
                     {"image", c.spec.image},
                     {"imageID", ""},
                     {"ready", ready},
                     {"started", c.state == Container::State::kRunning && c.started},
                     {"restartCount", c.rec.restart_count},
                     {"state", std::move(state)},
                     {"lastState", std::move(last)}};
      if (c.rec.shim.pid > 0) s["containerID"] = "podnet://" + uid_ + "/" + name;
      (c.init ? init_statuses : statuses).push_back(std::move(s));
    }
  }
  std::string ph = phase();
  // A terminating pod stays Ready while its readiness says so (kubelet keeps probing): its
  // endpoints then read serving and terminating, and kube-proxy may still use them.
  std::vector<std::pair<std::string, bool>> want = {{"PodReadyToStartContainers", sandbox_ready_},
                                                    {"Initialized", initialized},
                                                    {"Ready", all_ready && ph == "Running"},
                                                    {"ContainersReady", all_ready},
                                                    {"PodScheduled", true}};
  json::array conds;
  std::string now = rfc3339(unix_now_ns());
  for (auto& [type, ok] : want) {
    auto it = conditions_.find(type);
    if (it == conditions_.end() || it->second.first != ok) conditions_[type] = {ok, now};
    json::object cond{{"type", type},
                      {"status", ok ? "True" : "False"},
                      {"lastProbeTime", nullptr},
                      {"lastTransitionTime", conditions_[type].second}};
    if (!ok && (type == "Ready" || type == "ContainersReady")) {
      std::string names;
      for (const auto& n : order_) {
        const auto& c = containers_.at(n);
        if (!(c.state == Container::State::kRunning && c.ready && c.started))
          names += (names.empty() ? "" : " ") + n;
      }
      cond["reason"] = "ContainersNotReady";
      cond["message"] = "containers with unready status: [" + names + "]";
    }
    conds.push_back(std::move(cond));
  }
  json::object st{{"phase", ph},
                  {"conditions", std::move(conds)},
                  {"hostIP", ctx_.opts.node_ip},
                  {"hostIPs", json::array{json::object{{"ip", ctx_.opts.node_ip}}}},
                  {"startTime", rfc3339(rec_.start_unix_ns)},
                  {"containerStatuses", std::move(statuses)},
                  {"qosClass", "BestEffort"}};
  if (!init_statuses.empty()) st["initContainerStatuses"] = std::move(init_statuses);
  if (!rec_.ips.empty() && (sandbox_ready_ || rec_.network_released)) {
    st["podIP"] = rec_.ips[0];
    json::array ips;
    for (const auto& ip : rec_.ips) ips.push_back(json::object{{"ip", ip}});
    st["podIPs"] = std::move(ips);
  }
  if (!sandbox_error_.empty()) st["message"] = sandbox_error_;
  // No container could carry it (none has a valid name): the pod does.
  if (!config_error_.empty() && containers_.empty()) st["message"] = config_error_;
  return st;
}

void PodWorker::publish(bool force) {
  if (!spec_) return;
  json::object status = build_status();
  std::string text = json::serialize(status);
  if (text == published_ && !force) return;
  if (!force && Clock::now() < next_publish_retry_ && published_.empty()) return;
  json::value obj;
  {
    std::lock_guard lock(mu_);
    if (!latest_ || gone_) return;
    obj = *latest_;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    obj.as_object()["status"] = status;
    auto r = ctx_.api->update_status(obj);
    if (r) {
      bool ready = ready_status(obj) == "True";
      phase_done(ready ? "status Ready published" : "status published");
      if (status.contains("podIP")) phase_done("podIP published");
      observe_start();
      if (ready) report_start();
      published_ = text;
      std::lock_guard lock(mu_);
      if (latest_ && rv_number(*r) >= rv_number(*latest_)) latest_ = *r;
      return;
    }
    if (r.error().code == kConflict) {
      auto fresh = ctx_.api->get_pod(spec_->namespace_, spec_->name);
      if (fresh && meta_str(*fresh, "uid") == uid_) {
        obj = *fresh;
        continue;
      }
    }
    spdlog::warn("pod {}: status update: {}", spec_->key(), r.error().message());
    break;
  }
  published_.clear();
  next_publish_retry_ = Clock::now() + 1s;
}

}  // namespace podnet::runtime
