#include "controllers/scheduler.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "controllers/events.h"

namespace podnet::controllers {
namespace json = boost::json;
namespace {

// The node a pod occupies for spreading: bound and neither finished nor gone.
std::string occupied_node(const json::value& pod) {
  std::string phase = string_at(pod, {"status", "phase"});
  if (phase == "Succeeded" || phase == "Failed") return {};
  return string_at(pod, {"spec", "nodeName"});
}

bool wants_scheduling(const json::value& pod) {
  if (!string_at(pod, {"spec", "nodeName"}).empty()) return false;
  if (object_at(pod, {"metadata"}) && object_at(pod, {"metadata"})->contains("deletionTimestamp"))
    return false;
  std::string scheduler = string_at(pod, {"spec", "schedulerName"});
  return scheduler.empty() || scheduler == "default-scheduler";
}

bool node_ready(const json::value& node) {
  const auto* status = object_at(node, {"status"});
  const auto* conds = status ? status->if_contains("conditions") : nullptr;
  if (!conds || !conds->is_array()) return false;
  for (const auto& c : conds->as_array())
    if (string_at(c, {"type"}) == "Ready") return string_at(c, {"status"}) == "True";
  return false;
}

bool node_unschedulable(const json::value& node) {
  const auto* spec = object_at(node, {"spec"});
  const auto* u = spec ? spec->if_contains("unschedulable") : nullptr;
  return u && u->is_bool() && u->as_bool();
}

bool tolerates(const json::value& pod, const json::value& taint) {
  std::string effect = string_at(taint, {"effect"});
  if (effect != "NoSchedule" && effect != "NoExecute") return true;  // PreferNoSchedule only prefers
  const auto* spec = object_at(pod, {"spec"});
  const auto* tols = spec ? spec->if_contains("tolerations") : nullptr;
  if (!tols || !tols->is_array()) return false;
  for (const auto& t : tols->as_array()) {
    std::string t_effect = string_at(t, {"effect"});
    if (!t_effect.empty() && t_effect != effect) continue;
    std::string key = string_at(t, {"key"});
    std::string op = string_at(t, {"operator"});
    if (key.empty() && op == "Exists") return true;
    if (key != string_at(taint, {"key"})) continue;
    if (op == "Exists" || string_at(t, {"value"}) == string_at(taint, {"value"})) return true;
  }
  return false;
}

bool taints_tolerated(const json::value& pod, const json::value& node) {
  const auto* spec = object_at(node, {"spec"});
  const auto* taints = spec ? spec->if_contains("taints") : nullptr;
  if (!taints || !taints->is_array()) return true;
  for (const auto& taint : taints->as_array())
    if (!tolerates(pod, taint)) return false;
  return true;
}

bool selector_matches(const json::value& pod, const json::value& node) {
  const auto* selector = object_at(pod, {"spec", "nodeSelector"});
  if (!selector) return true;
  const auto* labels = object_at(node, {"metadata", "labels"});
  for (const auto& [k, v] : *selector) {
    const json::value* have = labels ? labels->if_contains(k) : nullptr;
    if (!have || *have != v) return false;
  }
  return true;
}

bool schedulable(const json::value& node) {
  return node_ready(node) && !node_unschedulable(node);
}

std::string count_text(int n, const char* what) {
  return std::to_string(n) + " node(s) " + what;
}

}  // namespace

Scheduler::Scheduler(Cache& pods, Cache& nodes, Clock clock, k8s::EventRecorder events)
    : Controller("scheduler", std::move(clock)), pods_(pods), nodes_(nodes), events_(std::move(events)) {
  pods_.add_handler([this](Change type, const ObjectPtr& pod, const ObjectPtr& old) {
    on_pod(pod, old, type == Change::kDeleted);
  });
  nodes_.add_handler([this](Change type, const ObjectPtr& node, const ObjectPtr& old) {
    // Heartbeats change nothing the scheduler cares about; only a change in what it may use does.
    auto same = [&](k8s::fields::Path path) {
      const json::object* a = object_at(*old, path);
      const json::object* b = object_at(*node, path);
      return a == b || (a && b && *a == *b);
    };
    bool changed = type != Change::kModified || !old || schedulable(*old) != schedulable(*node) ||
                   !same({"spec"}) || !same({"metadata", "labels"});
    if (changed) enqueue_pending();
  });
}

void Scheduler::on_pod(const ObjectPtr& pod, const ObjectPtr& old, bool deleted) {
  std::string key = key_of(*pod);
  {
    std::lock_guard lock(mu_);
    if (old) {
      if (std::string n = occupied_node(*old); !n.empty()) --pods_per_node_[n];
    }
    if (!deleted) {
      if (std::string n = occupied_node(*pod); !n.empty()) ++pods_per_node_[n];
    }
    if (deleted || !string_at(*pod, {"spec", "nodeName"}).empty()) assumed_.erase(key);
  }
  if (!deleted && wants_scheduling(*pod)) enqueue(key);
}

void Scheduler::enqueue_pending() {
  for (const auto& pod : pods_.list())
    if (wants_scheduling(*pod)) enqueue(key_of(*pod));
}

void Scheduler::resync() {
  enqueue_pending();
}

int Scheduler::load(const std::string& node) const {
  auto it = pods_per_node_.find(node);
  int n = it == pods_per_node_.end() ? 0 : it->second;
  for (const auto& [pod, assumed_node] : assumed_)
    if (assumed_node == node) ++n;
  return n;
}

Outcome Scheduler::reconcile(const std::string& key) {
  ObjectPtr pod = pods_.get(key);
  if (!pod || !wants_scheduling(*pod)) return Outcome::kDone;
  {
    std::lock_guard lock(mu_);
    if (assumed_.contains(key)) return Outcome::kDone;  // bound; the cache has not caught up
  }
  auto nodes = nodes_.list();
  int not_ready = 0, unschedulable = 0, tainted = 0, unmatched = 0;
  std::vector<std::string> candidates;
  for (const auto& node : nodes) {
    if (!node_ready(*node))
      ++not_ready;
    else if (node_unschedulable(*node))
      ++unschedulable;
    else if (!taints_tolerated(*pod, *node))
      ++tainted;
    else if (!selector_matches(*pod, *node))
      ++unmatched;
    else
      candidates.push_back(name_of(*node));
  }
  if (candidates.empty()) {
    std::string message = "no nodes available to schedule pods";
    if (!nodes.empty()) {
      std::vector<std::string> why;
      if (not_ready) why.push_back(count_text(not_ready, "were not ready"));
      if (unschedulable) why.push_back(count_text(unschedulable, "were unschedulable"));
      if (tainted) why.push_back(count_text(tainted, "had untolerated taints"));
      if (unmatched) why.push_back(count_text(unmatched, "didn't match Pod's node affinity/selector"));
      message = "0/" + std::to_string(nodes.size()) + " nodes are available: ";
      for (size_t i = 0; i < why.size(); ++i) message += (i ? ", " : "") + why[i];
      message += ".";
    }
    // Each failed attempt, as kube-scheduler records them; repeats become one event's count.
    events_.warning(*pod, "FailedScheduling", message);
    return mark_unschedulable(key, message);  // a node event queues the pod again
  }
  std::string chosen;
  {
    std::lock_guard lock(mu_);
    int best = 0;
    for (const auto& n : candidates) {
      int l = load(n);
      if (chosen.empty() || l < best) chosen = n, best = l;
    }
    // Assumed before the bind, not after: the watch event of the bind may arrive before bind()
    // returns, and an assumption recorded after it would never be cleared (the pod counted twice).
    assumed_[key] = chosen;
  }
  auto [ns, name] = split_key(key);
  // pods/binding, as kube's scheduler binds (the server sets spec.nodeName and PodScheduled).
  json::value binding = json::object{{"apiVersion", "v1"},
                                     {"kind", "Binding"},
                                     {"metadata", {{"name", name}, {"namespace", ns}}},
                                     {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", chosen}}}};
  auto bound = pods_.client().create(pods_.object_path(ns, name) + "/binding", binding);
  if (!bound) {
    {
      std::lock_guard lock(mu_);
      assumed_.erase(key);
    }
    if (k8s::is_not_found(bound.error())) return Outcome::kDone;
    // 409: bound meanwhile (the cache will show it) or a racing write (retry on fresh state).
    spdlog::debug("scheduler: bind {} to {}: {}", key, chosen, bound.error().message());
    return Outcome::kRetry;
  }
  spdlog::info("scheduler: pod {} bound to node {}", key, chosen);
  events_.normal(*pod, "Scheduled", "Successfully assigned " + key + " to " + chosen);
  return Outcome::kDone;
}

Outcome Scheduler::mark_unschedulable(const std::string& key, const std::string& message) {
  auto [ns, name] = split_key(key);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto pod = pods_.client().get(pods_.object_path(ns, name));
    if (!pod) return k8s::is_not_found(pod.error()) ? Outcome::kDone : Outcome::kRetry;
    if (!wants_scheduling(*pod)) return Outcome::kDone;
    json::value& status = pod->as_object()["status"];
    if (!status.is_object()) status = json::object{};
    json::value& conds = status.as_object()["conditions"];
    if (!conds.is_array()) conds = json::array{};
    json::object cond{{"type", "PodScheduled"},    {"status", "False"},
                      {"lastProbeTime", nullptr},  {"lastTransitionTime", rfc3339(clock_())},
                      {"reason", "Unschedulable"}, {"message", message}};
    bool found = false;
    for (auto& c : conds.as_array()) {
      if (string_at(c, {"type"}) != "PodScheduled") continue;
      found = true;
      if (string_at(c, {"status"}) == "False") {
        if (string_at(c, {"reason"}) == "Unschedulable" && string_at(c, {"message"}) == message)
          return Outcome::kDone;
        cond["lastTransitionTime"] = c.as_object()["lastTransitionTime"];
      }
      c = cond;
    }
    if (!found) conds.as_array().push_back(cond);
    auto written = pods_.client().update_status(pods_.object_path(ns, name), std::move(*pod));
    if (written) return Outcome::kDone;
    if (!k8s::is_conflict(written.error())) return Outcome::kRetry;
  }
  return Outcome::kRetry;
}

}  // namespace podnet::controllers
