// PodWorker, lifecycle: the thread, the manager's news, events, the start-phase report and the main
// loop. The jobs it drives live beside it: pod_sandbox.cpp, pod_containers.cpp, pod_probes.cpp,
// pod_status.cpp.
#include "runtime/pod_worker.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "common/files.h"
#include "common/time.h"
#include "runtime/pod_worker_detail.h"

namespace podnet::runtime {
namespace json = boost::json;
using namespace std::chrono_literals;
using detail::meta_str;
using detail::ready_status;
using detail::rv_number;

std::string detail::meta_str(const json::value& pod, const char* key) {
  const auto* o = pod.if_object();
  const auto* m = o ? o->if_contains("metadata") : nullptr;
  const auto* v = m && m->is_object() ? m->get_object().if_contains(key) : nullptr;
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

uint64_t detail::rv_number(const json::value& pod) {
  std::string rv = meta_str(pod, "resourceVersion");
  uint64_t n = 0;
  std::from_chars(rv.data(), rv.data() + rv.size(), n);
  return n;
}

// The pod's Ready condition status as stored ("True"/"False"), "" when it has none.
std::string detail::ready_status(const json::value& pod) {
  const auto* o = pod.if_object();
  const auto* st = o ? o->if_contains("status") : nullptr;
  const auto* cs = st && st->is_object() ? st->get_object().if_contains("conditions") : nullptr;
  if (!cs || !cs->is_array()) return "";
  for (const auto& c : cs->get_array()) {
    const auto* co = c.if_object();
    const auto* type = co ? co->if_contains("type") : nullptr;
    const auto* status = co ? co->if_contains("status") : nullptr;
    if (type && type->is_string() && type->get_string() == "Ready" && status && status->is_string())
      return std::string(status->get_string());
  }
  return "";
}

std::string NodeContext::netns_name(const std::string& uid) const {
  std::string hex;
  for (char c : uid)
    if (std::isxdigit(static_cast<unsigned char>(c)) && hex.size() < 8)
      hex += static_cast<char>(std::tolower(c));
  return opts.netns_prefix + hex;
}

std::string NodeContext::cni_args(const std::string& ns, const std::string& name,
                                  const std::string& uid) const {
  return "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + ns + ";K8S_POD_NAME=" + name +
         ";K8S_POD_INFRA_CONTAINER_ID=" + uid + ";K8S_POD_UID=" + uid;
}

PodWorker::PodWorker(const NodeContext& ctx, std::string uid, std::optional<json::value> pod)
    : ctx_(ctx),
      uid_(std::move(uid)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      latest_(std::move(pod)) {
  gone_ = !latest_;
  updated_ = true;
}

PodWorker::~PodWorker() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void PodWorker::start() {
  thread_ = std::thread([this] {
    // Nothing a pod holds may take the agent down: whatever escapes is logged, and the worker
    // stays (doing nothing) until the pod goes, so the manager does not start it again and again.
    try {
      run();
    } catch (const std::exception& e) {
      spdlog::error("pod {}: worker stopped: {}", uid_, e.what());
      park();
    }
    finished_ = true;
  });
}

void PodWorker::park() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (gone_) return;
    }
    if (stop_) return;
    pollfd p{wake_fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 1000) > 0) {
      uint64_t v;
      (void)!::read(wake_fd_.get(), &v, sizeof v);
    }
  }
}

void PodWorker::wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
}

void PodWorker::update(const json::value& pod) {
  {
    std::lock_guard lock(mu_);
    // Our own status writes come back through the watch after we already hold a newer copy.
    if (latest_ && rv_number(pod) != 0 && rv_number(pod) < rv_number(*latest_)) return;
    latest_ = pod;
    updated_ = true;
  }
  wake();
}

void PodWorker::gone() {
  {
    std::lock_guard lock(mu_);
    gone_ = true;
  }
  wake();
}

void PodWorker::stop() {
  stop_ = true;
  wake();
}

std::string PodWorker::key() {
  std::lock_guard lock(mu_);
  return latest_ ? meta_str(*latest_, "namespace") + "/" + meta_str(*latest_, "name") : std::string();
}

bool PodWorker::container_running(const std::string& container) {
  std::lock_guard lock(status_mu_);
  auto it = running_.find(container);
  return it != running_.end() && it->second;
}

void PodWorker::save() {
  for (auto& [name, c] : containers_) rec_.containers[name] = c.rec;
  if (auto s = ctx_.store.save(rec_); !s) spdlog::warn("pod {}: save state: {}", uid_, s.error().message());
  std::lock_guard lock(status_mu_);
  for (auto& [name, c] : containers_) running_[name] = c.state == Container::State::kRunning;
}

void PodWorker::phase_done(const char* what) {
  auto ms = std::chrono::duration<double, std::milli>(Clock::now() - created_).count();
  // Bounded: each phase once, and only until the start is reported.
  if (!start_reported_ && std::none_of(start_phases_.begin(), start_phases_.end(),
                                       [&](const auto& p) { return std::string_view(p.first) == what; }))
    start_phases_.emplace_back(what, ms);
  spdlog::debug("pod {}: {} at +{:.1f} ms", spec_ ? spec_->key() : uid_, what, ms);
}

// One line per pod start, kept machine-readable: "pod NS/NAME: start phases, seen at <unix ms>:
// <phase> +<ms>; <phase> +<ms>; ...". Only for a start this worker made (a re-adopted pod's first
// Ready after an agent restart is not a start).
void PodWorker::report_start() {
  if (start_reported_) return;
  start_reported_ = true;
  bool made = std::any_of(start_phases_.begin(), start_phases_.end(),
                          [](const auto& p) { return std::string_view(p.first) == "container launched"; });
  if (!made || !spec_) return;
  std::string phases;
  for (const auto& [what, ms] : start_phases_)
    phases += fmt::format("{}{} +{:.1f}", phases.empty() ? "" : "; ", what, ms);
  double seen_ms = std::chrono::duration<double, std::milli>(created_wall_.time_since_epoch()).count();
  spdlog::info("pod {}: start phases, seen at {:.1f}: {}", spec_->key(), seen_ms, phases);
  start_phases_.clear();
  start_phases_.shrink_to_fit();
}

// kubelet's SLI: once per start this worker made, at the first status posted with every app
// container started.
void PodWorker::observe_start() {
  if (start_observed_ || start_reported_ || !ctx_.opts.start_metrics || order_.empty()) return;
  bool made = std::any_of(start_phases_.begin(), start_phases_.end(),
                          [](const auto& p) { return std::string_view(p.first) == "container launched"; });
  if (!made) return;
  for (const auto& name : order_) {
    auto it = containers_.find(name);
    if (it == containers_.end() || it->second.state != Container::State::kRunning) return;
  }
  start_observed_ = true;
  ctx_.opts.start_metrics->observe(std::chrono::duration<double>(Clock::now() - created_).count());
}

k8s::ObjectReference PodWorker::reference(const Container* c) {
  k8s::ObjectReference r;
  r.kind = "Pod";
  r.api_version = "v1";
  r.ns = spec_->namespace_;
  r.name = spec_->name;
  r.uid = uid_;
  {
    std::lock_guard lock(mu_);
    if (latest_) r.resource_version = meta_str(*latest_, "resourceVersion");
  }
  // kubelet's GenerateContainerRef.
  if (c)
    r.field_path = std::string(c->init ? "spec.initContainers{" : "spec.containers{") + c->spec.name + "}";
  return r;
}

void PodWorker::record(const Container* c, const char* type, std::string reason, std::string message) {
  if (!spec_) return;  // an orphan found on disk: no API object to tell about it
  if (uint64_t ticket = ctx_.events.event(reference(c), type, std::move(reason), std::move(message)))
    last_event_ = ticket;
}

// ---- main loop ----------------------------------------------------------------------------------

void PodWorker::wait_events(Clock::time_point deadline) {
  std::vector<pollfd> fds{{wake_fd_.get(), POLLIN, 0}};
  std::vector<Container*> owners{nullptr};
  for (auto& [name, c] : containers_)
    if (c.state == Container::State::kRunning && c.pidfd.valid()) {
      fds.push_back({c.pidfd.get(), POLLIN, 0});
      owners.push_back(&c);
    }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  ms = std::clamp<int64_t>(ms, 0, 1000);
  ::poll(fds.data(), fds.size(), static_cast<int>(ms));
  if (fds[0].revents & POLLIN) {
    uint64_t v;
    (void)!::read(wake_fd_.get(), &v, sizeof v);
  }
  for (size_t i = 1; i < fds.size(); ++i)
    if (fds[i].revents) on_exit(*owners[i]);
  // Adopted processes whose pidfd could not be opened are checked by polling.
  for (auto& [name, c] : containers_)
    if (c.state == Container::State::kRunning && !c.pidfd.valid() && !process_alive(c.rec.shim)) on_exit(c);
}

void PodWorker::terminate(bool api_present) {
  // Kubelet on deletion: liveness and startup probes end as passed, readiness goes on.
  terminating_ = true;
  for (auto& [name, c] : containers_)
    if (c.state == Container::State::kRunning) c.started = true;
  int64_t grace = 10;  // orphans: their spec is gone
  if (spec_) grace = spec_->deletion_grace_seconds.value_or(spec_->grace_period_seconds);
  std::vector<Container*> running;
  for (auto& [name, c] : containers_) {
    c.restart_pending = false;
    if (c.state != Container::State::kRunning) continue;
    running.push_back(&c);
    if (api_present) record(&c, k8s::kEventNormal, "Killing", "Stopping container " + name);
  }
  kill_containers(running, grace, api_present);
  for (auto& [name, c] : containers_) c.restart_pending = false;  // on_exit may have scheduled one
  if (stop_) return;
  release_network();
  remove_mounts();
  if (api_present) {
    publish();
    // Events about a pod are refused once it is gone (NodeRestriction): Killing goes out first.
    ctx_.events.wait(last_event_, 1s);
    if (auto s = ctx_.api->delete_pod(spec_->namespace_, spec_->name, uid_); !s) {
      spdlog::warn("pod {}: delete: {}", spec_->key(), s.error().message());
      return;  // kept on disk: the next event or restart tries again
    }
  }
  (void)ctx_.store.remove(uid_);
}

void PodWorker::load_spec() {
  std::lock_guard lock(mu_);
  updated_ = false;
  if (!latest_) return;
  auto decoded = decode_pod(*latest_);
  if (decoded) {
    spec_ = std::move(*decoded);
    return;
  }
  // A pod the node cannot run is reported, not retried: its containers cannot change.
  config_error_ = decoded.error().message();
  spdlog::error("pod {}: cannot run it: {}", uid_, config_error_);
  if (auto identity = decode_pod_identity(*latest_)) spec_ = std::move(*identity);
}

bool PodWorker::absorb_updates() {
  std::lock_guard lock(mu_);
  if (updated_ && latest_) {
    // Containers cannot change in a running pod (only images can, which we do not pull): only
    // the deletion fields matter here.
    PodDeletion d = decode_deletion(*latest_);
    if (spec_ && d.deleting) {
      spec_->deleting = true;
      if (d.grace_seconds) spec_->deletion_grace_seconds = d.grace_seconds;
    }
    // Someone else changed the readiness we posted (the node lifecycle controller marks the
    // pods of a node that stopped posting not ready): post ours again, as kubelet's status
    // manager does when the API's status differs from its own.
    if (auto ours = conditions_.find("Ready");
        !published_.empty() && ours != conditions_.end() &&
        ready_status(*latest_) != (ours->second.first ? "True" : "False"))
      published_.clear();
    updated_ = false;
  }
  return gone_;
}

void PodWorker::run() {
  load_spec();
  if (!config_error_.empty()) record(nullptr, k8s::kEventWarning, "Failed", "Error: " + config_error_);
  phase_done("worker running");
  adopt();
  save();
  while (!stop_) {
    bool gone = absorb_updates();
    if (gone || !spec_) return terminate(false);
    if (spec_->deleting) return terminate(true);

    auto now = Clock::now();
    if (!config_error_.empty()) {
      publish();
      wait_events(now + 1s);
      continue;
    }
    if (!sandbox_ready_ && !rec_.network_released && now >= next_sandbox_retry_) {
      if (!setup_sandbox()) {
        spdlog::warn("pod {}: sandbox: {}", spec_->key(), sandbox_error_);
        if (sandbox_error_.starts_with("network is not ready"))
          record(nullptr, k8s::kEventWarning, "NetworkNotReady", sandbox_error_);
        else
          record(nullptr, k8s::kEventWarning, "FailedCreatePodSandBox",
                 "Failed to create pod sandbox: " + sandbox_error_);
        next_sandbox_retry_ = now + 2s;
      }
    }
    const bool mounts = !ctx_.opts.mntns_dir.empty();
    if (sandbox_ready_ && mounts && !pod_mnt_.valid() && now >= next_sandbox_retry_ && !setup_mounts()) {
      spdlog::warn("pod {}: sandbox: {}", spec_->key(), sandbox_error_);
      record(nullptr, k8s::kEventWarning, "FailedCreatePodSandBox",
             "Failed to create pod sandbox: " + sandbox_error_);
      next_sandbox_retry_ = now + 2s;
    }
    if (sandbox_ready_ && (pod_mnt_.valid() || !mounts) && run_init_containers()) {
      for (const auto& name : order_) {
        auto& c = containers_.at(name);
        bool due = (c.state == Container::State::kWaiting ||
                    (c.state == Container::State::kTerminated && c.restart_pending)) &&
                   now >= c.start_at;
        if (due) start_container(c);
      }
      run_probes(Clock::now());
    }
    if (terminal() && sandbox_ready_) release_network();
    publish();

    auto next = Clock::now() + 1s;
    for (auto& [name, c] : containers_) {
      if (c.restart_pending || c.state == Container::State::kWaiting) next = std::min(next, c.start_at);
      if (c.state != Container::State::kRunning) continue;
      if (c.spec.readiness) next = std::min(next, c.readiness.next);
      if (c.spec.liveness && c.started) next = std::min(next, c.liveness.next);
      if (c.spec.startup && !c.started) next = std::min(next, c.startup.next);
    }
    if (!sandbox_ready_ && !rec_.network_released) next = std::min(next, next_sandbox_retry_);
    wait_events(next);
  }
}

}  // namespace podnet::runtime
