// Level-triggered per pod: a pod is looked at when it changes, when its node is deleted and once on
// start; while its node's quarantine runs, the pod comes back on the work queue when it ends.
#include "controllers/pod_gc.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

namespace podnet::controllers {
namespace json = boost::json;

PodGcController::PodGcController(ObjectCache& pods, ObjectCache& nodes, Clock clock,
                                 std::chrono::milliseconds quarantine)
    : Controller("pod-gc", std::move(clock)), pods_(pods), nodes_(nodes), quarantine_(quarantine) {
  pods_.add_handler([this](ObjectEvent::Type type, const ObjectPtr& pod, const ObjectPtr&) {
    if (type == ObjectEvent::Type::kDeleted) return;
    std::string node = string_at(*pod, {"spec", "nodeName"});
    if (!node.empty() && !nodes_.get(node)) enqueue(key_of(*pod));
  });
  nodes_.add_handler([this](ObjectEvent::Type type, const ObjectPtr& node, const ObjectPtr&) {
    if (type == ObjectEvent::Type::kDeleted) return on_node_deleted(name_of(*node));
    std::lock_guard lock(mu_);
    missing_since_.erase(name_of(*node));
  });
}

void PodGcController::on_node_deleted(const std::string& node) {
  for (const auto& pod : pods_.list())
    if (string_at(*pod, {"spec", "nodeName"}) == node) enqueue(key_of(*pod));
}

void PodGcController::resync() {
  for (const auto& pod : pods_.list()) {
    std::string node = string_at(*pod, {"spec", "nodeName"});
    if (!node.empty() && !nodes_.get(node)) enqueue(key_of(*pod));
  }
}

Outcome PodGcController::reconcile(const std::string& key) {
  ObjectPtr pod = pods_.get(key);
  if (!pod) return Outcome::kDone;
  std::string node = string_at(*pod, {"spec", "nodeName"});
  if (node.empty()) return Outcome::kDone;
  if (nodes_.get(node)) {
    std::lock_guard lock(mu_);
    missing_since_.erase(node);
    return Outcome::kDone;
  }
  auto now = clock_();
  std::chrono::system_clock::time_point since;
  {
    std::lock_guard lock(mu_);
    since = missing_since_.try_emplace(node, now).first->second;
  }
  if (auto waited = now - since; waited < quarantine_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(quarantine_ - waited);
    queue_.add_after(key, left + std::chrono::milliseconds(1));
    return Outcome::kDone;
  }
  // The cache may lag behind a node that registered a moment ago: the API server has the last word,
  // as in kube's PodGC.
  auto current = nodes_.client().get("", node);
  if (current) return Outcome::kDone;
  if (current.error().code != 404) return Outcome::kRetry;
  return remove(key, *pod, node.c_str());
}

Outcome PodGcController::remove(const std::string& key, const json::value& pod, const char* node) {
  auto [ns, name] = split_key(key);
  auto deleted = pods_.client().force_delete(ns, name, string_at(pod, {"metadata", "uid"}));
  if (deleted) {
    spdlog::info("pod-gc: deleted pod {} bound to node {}, which no longer exists", key, node);
    return Outcome::kDone;
  }
  // 404: gone already; 409: a new pod of that name (its own events bring it here if it is orphaned).
  if (deleted.error().code == 404 || deleted.error().code == 409) return Outcome::kDone;
  spdlog::warn("pod-gc: delete pod {}: {}", key, deleted.error().message);
  return Outcome::kRetry;
}

}  // namespace podnet::controllers
