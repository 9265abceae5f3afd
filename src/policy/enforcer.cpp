#include "policy/enforcer.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace podnet::policy {
namespace json = boost::json;
namespace {

std::string key_of(const json::value& v) {
  if (!v.is_object()) return "";
  auto it = v.get_object().find("metadata");
  if (it == v.get_object().end() || !it->value().is_object()) return "";
  const auto& m = it->value().get_object();
  auto str = [&](const char* k) {
    auto f = m.find(k);
    return f != m.end() && f->value().is_string() ? std::string(f->value().get_string()) : std::string();
  };
  std::string ns = str("namespace");
  return ns.empty() ? str("name") : ns + "/" + str("name");
}

std::string uid_of(const json::value& v) {
  const auto* o = v.is_object() ? v.get_object().if_contains("metadata") : nullptr;
  const auto* uid = o && o->is_object() ? o->get_object().if_contains("uid") : nullptr;
  return uid && uid->is_string() ? std::string(uid->get_string()) : std::string();
}

}  // namespace

bool Enforcer::upsert_pod(const json::value& object) {
  auto p = decode_pod(object);
  if (!p) {
    ++metrics_.skipped_objects;
    spdlog::warn("network policy: skipping pod {}: {}", key_of(object), p.error().message());
    return false;
  }
  put_pod(std::move(*p));
  return true;
}

bool Enforcer::admit_pod(const json::value& object, std::vector<IpAddress> ips) {
  auto p = decode_pod(object);
  if (!p) {
    ++metrics_.skipped_objects;
    spdlog::warn("network policy: cannot admit pod {}: {}", key_of(object), p.error().message());
    return false;
  }
  hints_[p->key()] = {p->uid, std::move(ips)};
  put_pod(std::move(*p));
  return true;
}

void Enforcer::put_pod(Pod p) {
  if (auto h = hints_.find(p.key()); h != hints_.end()) {
    if (p.uid != h->second.uid || p.ips == h->second.ips)
      hints_.erase(h);  // another pod of that name, or the API has caught up
    else if (!p.terminal)
      p.ips = h->second.ips;
  }
  auto& slot = pods_[p.key()];
  if (slot == p) return;  // status churn that changes nothing here
  changes_.pods.insert(p.key());
  slot = std::move(p);
  dirty_ = true;
}

void Enforcer::delete_pod(const json::value& last_known) {
  std::string key = key_of(last_known), uid = uid_of(last_known);
  auto h = hints_.find(key);
  // The informer's late delete of an earlier pod of that name: the admitted one stays.
  if (h != hints_.end() && !uid.empty() && h->second.uid != uid) return;
  if (h != hints_.end()) hints_.erase(h);
  if (pods_.erase(key) > 0) {
    changes_.pods.insert(key);
    dirty_ = true;
  }
}

bool Enforcer::upsert_namespace(const json::value& object) {
  auto n = decode_namespace(object);
  if (!n) {
    ++metrics_.skipped_objects;
    spdlog::warn("network policy: skipping namespace {}: {}", key_of(object), n.error().message());
    return false;
  }
  put_namespace(std::move(*n));
  return true;
}

void Enforcer::put_namespace(Namespace n) {
  auto& slot = namespaces_[n.name];
  if (slot.name == n.name && slot.labels == n.labels) return;
  changes_.namespaces.insert(n.name);
  slot = std::move(n);
  dirty_ = true;
}

void Enforcer::delete_namespace(const json::value& last_known) {
  if (namespaces_.erase(key_of(last_known)) > 0) {
    changes_.namespaces.insert(key_of(last_known));
    dirty_ = true;
  }
}

bool Enforcer::upsert_policy(const json::value& object) {
  auto np = decode_network_policy(object);
  if (!np) {
    ++metrics_.skipped_objects;
    spdlog::error("network policy: skipping {} (not enforced): {}", key_of(object), np.error().message());
    if (policies_.erase(key_of(object)) > 0) {
      changes_.policies.insert(key_of(object));
      dirty_ = true;
    }
    return false;
  }
  put_policy(std::move(*np));
  return true;
}

void Enforcer::put_policy(NetworkPolicy np) {
  changes_.policies.insert(np.key());
  policies_[np.key()] = std::move(np);
  dirty_ = true;
}

void Enforcer::delete_policy(const json::value& last_known) {
  if (policies_.erase(key_of(last_known)) > 0) {
    changes_.policies.insert(key_of(last_known));
    dirty_ = true;
  }
}

void Enforcer::set_own_ranges(std::vector<IpPrefix> ranges) {
  for (auto& r : ranges) r = r.network();
  if (ranges == own_ranges_) return;
  own_ranges_ = std::move(ranges);
  dirty_ = true;
}

std::string Enforcer::selected_by(const std::string& ip) const {
  const auto& by = planner_.state().selected_by;
  auto it = by.find(ip);
  if (it == by.end()) return "";
  std::string out;
  for (const auto& k : it->second) out += (out.empty() ? "" : ",") + k;
  return out;
}

std::string Enforcer::pod_at(const IpAddress& ip) const {
  // A scan: only the denial log asks, at most its rule's rate limit per second.
  for (const auto& [key, p] : pods_)
    if (p.is_subject() && std::find(p.ips.begin(), p.ips.end(), ip) != p.ips.end()) return key;
  return "";
}

Result<SyncReport> Enforcer::sync() {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  PlannerInput in{.node = node_,
                  .own_ranges = own_ranges_,
                  .pods = &pods_,
                  .namespaces = &namespaces_,
                  .policies = &policies_};
  // The first plan of a process is whole; every later one follows only what changed.
  PlanDelta delta;
  if (!planned_)
    planner_.rebuild(in);
  else
    delta = planner_.update(in, changes_);
  planned_ = true;
  changes_ = {};
  const TableState& next = planner_.state();
  auto t1 = Clock::now();
  SyncReport r;
  r.full = !written_ || written_ranges_ != own_ranges_;
  std::string cmds = r.full ? render_full(next, cfg_) : render_diff(delta.before, delta.after, cfg_);
  if (!cmds.empty()) {
    if (auto s = kernel_.apply(cmds); !s) {
      ++metrics_.failed_syncs;
      written_ = false;  // the next sync replaces the table whole
      return std::unexpected(wrap(s.error(), "network policy sync"));
    }
  }
  auto t2 = Clock::now();
  // A whole table's text and libnftables' parse of it are transient (MBs at 10,000 policies):
  // give the freed heap back rather than keep the peak for the agent's life.
  if (r.full && cmds.size() > (1 << 20)) ::malloc_trim(0);
  dirty_ = false;
  written_ = true;
  written_ranges_ = own_ranges_;
  r.commands_bytes = cmds.size();
  r.elements = next.element_count();
  r.classes = next.chains.size();
  r.plan = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0);
  r.apply = std::chrono::duration_cast<std::chrono::microseconds>(t2 - t1);
  ++metrics_.syncs;
  if (r.full) ++metrics_.full_syncs;
  metrics_.last_sync_seconds = std::chrono::duration<double>(t2 - t0).count();
  metrics_.sync_seconds_sum += metrics_.last_sync_seconds;
  metrics_.elements = r.elements;
  metrics_.policies = policies_.size();
  metrics_.local_pods =
      next.sets.at("local-pods").elements.size() + next.sets.at("local-pods6").elements.size();
  return r;
}

}  // namespace podnet::policy
