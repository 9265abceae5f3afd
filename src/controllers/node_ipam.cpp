#include "controllers/node_ipam.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

namespace podnet::controllers {
namespace json = boost::json;
namespace {

// The node's range as it stands: spec.podCIDRs[0], else spec.podCIDR.
std::optional<IpPrefix> node_cidr(const json::value& node) {
  std::string text;
  if (const auto* spec = object_at(node, {"spec"})) {
    if (const auto* cidrs = spec->if_contains("podCIDRs");
        cidrs && cidrs->is_array() && !cidrs->as_array().empty() && cidrs->as_array()[0].is_string())
      text = std::string(cidrs->as_array()[0].as_string());
    else
      text = string_at(node, {"spec", "podCIDR"});
  }
  if (text.empty()) return std::nullopt;
  auto p = parse_prefix(text);
  if (!p) return std::nullopt;
  return p->network();
}

}  // namespace

Result<std::unique_ptr<NodeIpamController>> NodeIpamController::make(Cache& nodes, k8s::EventRecorder events,
                                                                     const std::string& cluster_cidr,
                                                                     int node_cidr_mask, Clock clock) {
  PODNET_TRY(range, parse_prefix(cluster_cidr));
  auto cidrs = PrefixAllocator::make(range, node_cidr_mask);
  if (!cidrs) return std::unexpected(wrap(cidrs.error(), "--cluster-cidr " + cluster_cidr));
  return std::unique_ptr<NodeIpamController>(
      new NodeIpamController(nodes, events, std::move(*cidrs), std::move(clock)));
}

NodeIpamController::NodeIpamController(Cache& nodes, k8s::EventRecorder events, PrefixAllocator cidrs,
                                       Clock clock)
    : Controller("node-ipam", std::move(clock)), nodes_(nodes), events_(events), cidrs_(std::move(cidrs)) {
  nodes_.add_handler([this](Change, const ObjectPtr& node, const ObjectPtr&) { enqueue(name_of(*node)); });
}

void NodeIpamController::resync() {
  // Ranges held by existing nodes first, so that no node is then given one of them.
  auto all = nodes_.list();
  for (const auto& node : all)
    if (auto cidr = node_cidr(*node)) adopt(name_of(*node), *cidr);
  for (const auto& node : all) enqueue(name_of(*node));
}

void NodeIpamController::adopt(const std::string& node, const IpPrefix& cidr) {
  auto it = owned_.find(node);
  if (it != owned_.end() && it->second == cidr) return;
  release(node);
  if (!cidrs_.contains(cidr)) return;  // outside our range: the node keeps it, nothing to track
  if (!cidrs_.occupy(cidr)) {
    spdlog::warn("node-ipam: node {} has pod CIDR {}, which another node has too", node, cidr.str());
    return;
  }
  owned_[node] = cidr;
}

void NodeIpamController::release(const std::string& node) {
  auto it = owned_.find(node);
  if (it == owned_.end()) return;
  cidrs_.release(it->second);
  owned_.erase(it);
  // A range came free: nodes that found the pool exhausted get another chance.
  for (const auto& n : nodes_.list())
    if (!node_cidr(*n)) enqueue(name_of(*n));
}

Outcome NodeIpamController::reconcile(const std::string& key) {
  ObjectPtr node = nodes_.get(key);
  if (!node) {
    release(key);
    return Outcome::kDone;
  }
  if (auto cidr = node_cidr(*node)) {
    adopt(key, *cidr);
    return Outcome::kDone;
  }
  // The cache may lag behind our own write: the range stays ours until the node shows it.
  auto it = owned_.find(key);
  if (it != owned_.end()) return write(key, it->second);
  auto cidr = cidrs_.allocate();
  if (!cidr) {
    warn(events_, *node, "CIDRNotAvailable",
         "Node " + key + " status is now: CIDRNotAvailable (no pod CIDR left in " + cidrs_.range().str() +
             ")");
    return Outcome::kDone;  // release() queues the node again when a range comes free
  }
  owned_[key] = *cidr;
  return write(key, *cidr);
}

// Read-modify-write on the stored node; a conflict means someone else wrote it in between, so the
// write is retried on a fresh read.
Outcome NodeIpamController::write(const std::string& name, const IpPrefix& cidr) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto node = nodes_.client().get(nodes_.object_path("", name));
    if (!node) {
      if (k8s::is_not_found(node.error())) {
        release(name);
        return Outcome::kDone;
      }
      return Outcome::kRetry;
    }
    if (auto existing = node_cidr(*node)) {
      adopt(name, *existing);
      return Outcome::kDone;
    }
    json::value& spec = node->as_object()["spec"];
    if (!spec.is_object()) spec = json::object{};
    spec.as_object()["podCIDR"] = cidr.str();
    spec.as_object()["podCIDRs"] = json::array{json::value(cidr.str())};
    auto written = nodes_.client().update(nodes_.object_path("", name), std::move(*node));
    if (written) {
      spdlog::info("node-ipam: node {} gets pod CIDR {}", name, cidr.str());
      return Outcome::kDone;
    }
    if (!k8s::is_conflict(written.error())) {
      spdlog::warn("node-ipam: set pod CIDR of node {}: {}", name, written.error().message());
      return Outcome::kRetry;
    }
  }
  return Outcome::kRetry;
}

}  // namespace podnet::controllers
