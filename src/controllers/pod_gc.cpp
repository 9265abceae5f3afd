// Level-triggered per pod: a pod is looked at when it changes, when its node is deleted and once on
// start; while its node's quarantine runs, the pod comes back on the work queue when it ends.
#include "controllers/pod_gc.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

namespace podnet::controllers {
namespace json = boost::json;

PodGcController::PodGcController(Cache& pods, Cache& nodes, Clock clock, std::chrono::milliseconds quarantine)
    : Controller("pod-gc", std::move(clock)), pods_(pods), nodes_(nodes), quarantine_(quarantine) {
  pods_.add_handler([this](Change type, const ObjectPtr& pod, const ObjectPtr&) {
    if (type == Change::kDeleted) return;
    std::string node = string_at(*pod, {"spec", "nodeName"});
    if (!node.empty() && !nodes_.get(node)) enqueue(key_of(*pod));
  });
  pods_.add_index(kPodsByNode, client::pod_node_index);
  nodes_.add_handler([this](Change type, const ObjectPtr& node, const ObjectPtr&) {
    if (type == Change::kDeleted) return on_node_deleted(name_of(*node));
    std::lock_guard lock(mu_);
    missing_since_.erase(name_of(*node));
  });
}

void PodGcController::on_node_deleted(const std::string& node) {
  for (const auto& pod : pods_.by_index(kPodsByNode, node)) enqueue(key_of(*pod));
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
  auto current = nodes_.client().get(nodes_.object_path("", node));
  if (current) return Outcome::kDone;
  if (!k8s::is_not_found(current.error())) return Outcome::kRetry;
  return remove(key, *pod, node.c_str());
}

Outcome PodGcController::remove(const std::string& key, const json::value& pod, const char* node) {
  auto [ns, name] = split_key(key);
  // At once (no graceful termination: there is no node to stop it), but only this pod: one
  // recreated under the same name meanwhile fails the uid precondition (409).
  json::value options = json::object{{"apiVersion", "v1"},
                                     {"kind", "DeleteOptions"},
                                     {"gracePeriodSeconds", 0},
                                     {"preconditions", {{"uid", string_at(pod, {"metadata", "uid"})}}}};
  auto deleted = pods_.client().remove(pods_.object_path(ns, name), options);
  if (deleted) {
    spdlog::info("pod-gc: deleted pod {} bound to node {}, which no longer exists", key, node);
    return Outcome::kDone;
  }
  // 404: gone already; 409: a new pod of that name (its own events bring it here if it is orphaned).
  if (k8s::is_not_found(deleted.error()) || k8s::is_conflict(deleted.error())) return Outcome::kDone;
  spdlog::warn("pod-gc: delete pod {}: {}", key, deleted.error().message());
  return Outcome::kRetry;
}

}  // namespace podnet::controllers
