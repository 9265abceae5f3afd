// One reconcile per node looks at the cached node: is its heartbeat overdue (then conditions go
// Unknown), do its taints match its Ready condition, and, while it is Unknown, are its pods marked
// not ready. A node with a live heartbeat is looked at again when its grace period would run out.
#include "controllers/node_lifecycle.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "controllers/events.h"

namespace podnet::controllers {
namespace json = boost::json;
namespace {

constexpr int kAttempts = 5;

// kube's RecordNodeEvent: the node by name and uid, without a resourceVersion.
k8s::ObjectReference node_reference(const std::string& name, const std::string& uid) {
  k8s::ObjectReference r;
  r.kind = "Node";
  r.api_version = "v1";
  r.name = name;
  r.uid = uid;
  return r;
}

const json::value* condition(const json::value& obj, const char* type) {
  const auto* status = object_at(obj, {"status"});
  const auto* conds = status ? status->if_contains("conditions") : nullptr;
  if (!conds || !conds->is_array()) return nullptr;
  for (const auto& c : conds->as_array())
    if (string_at(c, {"type"}) == type) return &c;
  return nullptr;
}

std::string ready_status(const json::value& obj) {
  const json::value* c = condition(obj, "Ready");
  return c ? string_at(*c, {"status"}) : std::string();
}

std::string heartbeat(const json::value& node) {
  const json::value* c = condition(node, "Ready");
  return c ? string_at(*c, {"lastHeartbeatTime"}) : std::string();
}

bool is_ours(const json::value& taint) {
  std::string key = string_at(taint, {"key"});
  return (key == kUnreachableTaint || key == kNotReadyTaint) && string_at(taint, {"effect"}) == "NoSchedule";
}

// kube's NoSchedule taint per Ready status: Unknown (nobody posts) -> unreachable, False -> not-ready.
std::string wanted_taint(const std::string& ready) {
  if (ready == "Unknown") return kUnreachableTaint;
  if (ready == "False") return kNotReadyTaint;
  return {};
}

bool taints_match(const json::value& node, const std::string& want) {
  const auto* spec = object_at(node, {"spec"});
  const auto* taints = spec ? spec->if_contains("taints") : nullptr;
  bool have = false;
  if (taints && taints->is_array())
    for (const auto& t : taints->as_array()) {
      if (!is_ours(t)) continue;
      if (string_at(t, {"key"}) != want) return false;
      have = true;
    }
  return have == !want.empty();
}

}  // namespace

NodeLifecycleController::NodeLifecycleController(Cache& nodes, Cache& pods, Clock clock,
                                                 std::chrono::milliseconds grace_period,
                                                 k8s::EventRecorder events)
    : Controller("node-lifecycle", std::move(clock)),
      nodes_(nodes),
      pods_(pods),
      grace_(grace_period),
      events_(std::move(events)) {
  pods_.add_index(kPodsByNode, client::pod_node_index);
  nodes_.add_handler([this](Change, const ObjectPtr& node, const ObjectPtr&) { enqueue(name_of(*node)); });
  // A pod that turns Ready on a node nobody posts for (a stale write) is marked again.
  pods_.add_handler([this](Change type, const ObjectPtr& pod, const ObjectPtr&) {
    if (type == Change::kDeleted || ready_status(*pod) != "True") return;
    std::string node = string_at(*pod, {"spec", "nodeName"});
    if (node.empty()) return;
    if (ObjectPtr n = nodes_.get(node); n && ready_status(*n) == "Unknown") enqueue(node);
  });
}

void NodeLifecycleController::resync() {
  for (const auto& node : nodes_.list()) enqueue(name_of(*node));
}

Outcome NodeLifecycleController::reconcile(const std::string& name) {
  ObjectPtr node = nodes_.get(name);
  if (!node) {
    if (auto gone = probes_.find(name); gone != probes_.end()) {
      events_.normal(node_reference(name, gone->second.uid), "RemovingNode",
                     "Node " + name + " event: Removing Node " + name + " from Controller");
      probes_.erase(gone);
    }
    return Outcome::kDone;
  }
  auto now = clock_();
  std::string hb = heartbeat(*node);
  std::string uid = string_at(*node, {"metadata", "uid"});
  auto [probe, first] = probes_.try_emplace(name, Probe{hb, now, uid});
  if (first)
    events_.normal(node_reference(name, uid), "RegisteredNode",
                   "Node " + name + " event: Registered Node " + name + " in Controller");
  if (!first && probe->second.heartbeat != hb) probe->second = Probe{hb, now, uid};

  std::string ready = ready_status(*node);
  auto deadline = probe->second.seen + grace_;
  if (now > deadline && ready != "Unknown") {
    switch (mark_unknown(name, hb)) {
      case Marked::kWritten:
        ready = "Unknown";
        break;
      case Marked::kHeartbeatCame:
        probe->second = Probe{"", now, uid};  // the node's next event records the new heartbeat
        deadline = now + grace_;
        break;
      case Marked::kGone:
        return Outcome::kDone;
      case Marked::kRetry:
        return Outcome::kRetry;
    }
  }
  if (now <= deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    queue_.add_after(name, left + std::chrono::milliseconds(1));
  }
  if (sync_taints(name, ready) == Outcome::kRetry) return Outcome::kRetry;
  if (ready == "Unknown") return mark_pods_not_ready(name);
  return Outcome::kDone;
}

NodeLifecycleController::Marked NodeLifecycleController::mark_unknown(const std::string& name,
                                                                      const std::string& observed) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto node = nodes_.client().get(nodes_.object_path("", name));
    if (!node) return k8s::is_not_found(node.error()) ? Marked::kGone : Marked::kRetry;
    // The agent posted after the cache we decided on: it is alive.
    if (heartbeat(*node) != observed) return Marked::kHeartbeatCame;
    std::string now = rfc3339(clock_());
    json::value& status = node->as_object()["status"];
    if (!status.is_object()) status = json::object{};
    json::value& conds = status.as_object()["conditions"];
    if (!conds.is_array()) conds = json::array{};
    bool has_ready = false;
    for (auto& c : conds.as_array()) {
      if (!c.is_object()) continue;
      has_ready = has_ready || string_at(c, {"type"}) == "Ready";
      if (string_at(c, {"status"}) == "Unknown") continue;
      json::object& cond = c.as_object();
      cond["status"] = "Unknown";
      cond["reason"] = "NodeStatusUnknown";
      cond["message"] = "Kubelet stopped posting node status.";
      cond["lastTransitionTime"] = now;
    }
    if (!has_ready)
      conds.as_array().push_back(
          json::object{{"type", "Ready"},
                       {"status", "Unknown"},
                       {"reason", "NodeStatusNeverUpdated"},
                       {"message", "Kubelet never posted node status."},
                       {"lastHeartbeatTime", string_at(*node, {"metadata", "creationTimestamp"})},
                       {"lastTransitionTime", now}});
    auto written = nodes_.client().update_status(nodes_.object_path("", name), std::move(*node));
    if (written) {
      spdlog::warn("node-lifecycle: node {} stopped posting status for {} s: Ready is Unknown", name,
                   std::chrono::duration_cast<std::chrono::seconds>(grace_).count());
      events_.normal(node_reference(name, string_at(*written, {"metadata", "uid"})), "NodeNotReady",
                     "Node " + name + " status is now: NodeNotReady");
      return Marked::kWritten;
    }
    if (k8s::is_not_found(written.error())) return Marked::kGone;
    if (!k8s::is_conflict(written.error())) {
      spdlog::warn("node-lifecycle: mark node {} Unknown: {}", name, written.error().message());
      return Marked::kRetry;
    }
  }
  return Marked::kRetry;
}

Outcome NodeLifecycleController::sync_taints(const std::string& name, const std::string& ready) {
  std::string want = wanted_taint(ready);
  if (ObjectPtr cached = nodes_.get(name); cached && taints_match(*cached, want)) return Outcome::kDone;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto node = nodes_.client().get(nodes_.object_path("", name));
    if (!node) return k8s::is_not_found(node.error()) ? Outcome::kDone : Outcome::kRetry;
    // Decided on the node as stored: the cache or our own write a moment ago may be outdated.
    want = wanted_taint(ready_status(*node));
    if (taints_match(*node, want)) return Outcome::kDone;
    json::value& spec = node->as_object()["spec"];
    if (!spec.is_object()) spec = json::object{};
    json::array taints;
    if (const auto* old = spec.as_object().if_contains("taints"); old && old->is_array())
      for (const auto& t : old->as_array())
        if (!is_ours(t)) taints.push_back(t);
    if (!want.empty()) taints.push_back(json::object{{"key", want}, {"effect", "NoSchedule"}});
    if (taints.empty())
      spec.as_object().erase("taints");
    else
      spec.as_object()["taints"] = std::move(taints);
    auto written = nodes_.client().update(nodes_.object_path("", name), std::move(*node));
    if (written) {
      spdlog::info("node-lifecycle: node {}: {}", name,
                   want.empty() ? std::string("NoSchedule taints removed") : want + ":NoSchedule taint set");
      return Outcome::kDone;
    }
    if (k8s::is_not_found(written.error())) return Outcome::kDone;
    if (!k8s::is_conflict(written.error())) {
      spdlog::warn("node-lifecycle: taints of node {}: {}", name, written.error().message());
      return Outcome::kRetry;
    }
  }
  return Outcome::kRetry;
}

// kube's MarkPodsNotReady: the agent that would report its pods' readiness is not there, so their
// endpoints must not stay ready on its last word.
Outcome NodeLifecycleController::mark_pods_not_ready(const std::string& node) {
  bool failed = false;
  for (const auto& cached : pods_.by_index(kPodsByNode, node)) {
    if (ready_status(*cached) != "True") continue;
    auto [ns, name] = split_key(key_of(*cached));
    for (int attempt = 0;; ++attempt) {
      auto pod = pods_.client().get(pods_.object_path(ns, name));
      if (!pod) {
        failed = failed || !k8s::is_not_found(pod.error());
        break;
      }
      if (string_at(*pod, {"spec", "nodeName"}) != node) break;
      bool changed = false;
      if (auto* status = pod->as_object()["status"].if_object())
        if (auto* conds = status->if_contains("conditions"); conds && conds->is_array())
          for (auto& c : conds->as_array())
            if (c.is_object() && string_at(c, {"type"}) == "Ready" && string_at(c, {"status"}) != "False") {
              c.as_object()["status"] = "False";
              c.as_object()["lastTransitionTime"] = rfc3339(clock_());
              changed = true;
            }
      if (!changed) break;
      auto written = pods_.client().update_status(pods_.object_path(ns, name), std::move(*pod));
      if (written) {
        spdlog::info("node-lifecycle: pod {}/{} on node {} marked not ready", ns, name, node);
        events_.warning(*written, "NodeNotReady", "Node is not ready");
        break;
      }
      if (k8s::is_not_found(written.error())) break;
      if (!k8s::is_conflict(written.error()) || attempt + 1 >= kAttempts) {
        spdlog::warn("node-lifecycle: mark pod {}/{} not ready: {}", ns, name, written.error().message());
        failed = true;
        break;
      }
    }
  }
  return failed ? Outcome::kRetry : Outcome::kDone;
}

}  // namespace podnet::controllers
