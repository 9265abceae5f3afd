// One thread per cache runs its Informer; handlers run on it in the order of the server's
// revisions, so a controller never sees an object go back in time.
#include "client/cache.h"

#include <algorithm>
#include <charconv>

#include "client/watch_decoder.h"
#include "k8s/json_fields.h"

namespace podnet::client {
namespace json = boost::json;
namespace {

int64_t revision_of(std::string_view rv) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), n);
  return ec == std::errc() && end == rv.data() + rv.size() ? n : 0;
}

InformerOptions cache_options(std::string path) {
  InformerOptions o;
  o.path = std::move(path);
  o.initial_backoff = std::chrono::seconds(1);
  o.max_backoff = std::chrono::seconds(30);
  o.remember_objects = false;  // the cache has them
  return o;
}

}  // namespace

Cache::Cache(k8s::ApiClient& client, std::string path)
    : client_(client), path_(std::move(path)), informer_(client, *this, cache_options(path_)) {
  size_t slash = path_.rfind('/');
  prefix_ = path_.substr(0, slash);
  plural_ = path_.substr(slash + 1);
}

Cache::~Cache() {
  stop();
}

void Cache::add_handler(Handler handler) {
  handlers_.push_back(std::move(handler));
}

void Cache::add_index(const std::string& name, IndexFunc func) {
  index_funcs_[name] = std::move(func);
}

void Cache::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { informer_.run(); });
}

void Cache::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  informer_.stop();
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Cache::wait_synced(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [this] { return synced_ || stopping_; }) && synced_;
}

bool Cache::wait_for_revision(const std::string& resource_version, std::chrono::milliseconds timeout) {
  int64_t want = revision_of(resource_version);
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return revision_ >= want || stopping_; }) &&
         revision_ >= want;
}

bool Cache::wait_gone(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  auto gone = [&] {
    return std::none_of(keys.begin(), keys.end(), [&](const std::string& k) { return objects_.contains(k); });
  };
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return gone() || stopping_; }) && gone();
}

ObjectPtr Cache::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Cache::list(const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<ObjectPtr> out;
  std::string prefix = ns.empty() ? "" : ns + "/";
  for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.starts_with(prefix); ++it)
    out.push_back(it->second);
  return out;
}

std::vector<ObjectPtr> Cache::by_index(const std::string& name, const std::string& value) const {
  std::lock_guard lock(mu_);
  std::vector<ObjectPtr> out;
  auto idx = indexes_.find(name);
  if (idx == indexes_.end()) return out;
  auto keys = idx->second.find(value);
  if (keys == idx->second.end()) return out;
  for (const auto& key : keys->second)
    if (auto it = objects_.find(key); it != objects_.end()) out.push_back(it->second);
  return out;
}

std::string Cache::object_path(const std::string& ns, const std::string& name) const {
  return collection_path(ns) + "/" + name;
}

std::string Cache::collection_path(const std::string& ns) const {
  return ns.empty() ? path_ : prefix_ + "/namespaces/" + ns + "/" + plural_;
}

void Cache::index(const std::string& key, const ObjectPtr& object, bool add) {
  for (const auto& [name, func] : index_funcs_) {
    auto& values = indexes_[name];
    for (const auto& value : func(*object)) {
      if (add) {
        values[value].insert(key);
      } else if (auto it = values.find(value); it != values.end()) {
        it->second.erase(key);
        if (it->second.empty()) values.erase(it);
      }
    }
  }
}

void Cache::notify(Change type, const ObjectPtr& object, const ObjectPtr& old) {
  for (const auto& h : handlers_) h(type, object, old);
}

void Cache::on_upsert(const json::value& object) {
  std::string key = object_key(object);
  auto now = std::make_shared<const json::value>(object, json::storage_ptr());
  ObjectPtr old;
  {
    std::lock_guard lock(mu_);
    auto& slot = objects_[key];
    old = slot;
    if (old) index(key, old, false);
    slot = now;
    index(key, now, true);
    revision_ = std::max(revision_, revision_of(resource_version_of(object)));
  }
  changed_.notify_all();
  notify(old ? Change::kModified : Change::kAdded, now, old);
}

void Cache::on_delete(const json::value& last_known) {
  std::string key = object_key(last_known);
  ObjectPtr old;
  {
    std::lock_guard lock(mu_);
    if (auto it = objects_.find(key); it != objects_.end()) {
      old = it->second;
      index(key, old, false);
      objects_.erase(it);
    }
    revision_ = std::max(revision_, revision_of(resource_version_of(last_known)));
  }
  changed_.notify_all();
  notify(Change::kDeleted, old ? old : std::make_shared<const json::value>(last_known), old);
}

void Cache::on_synced() {
  {
    std::lock_guard lock(mu_);
    revision_ = std::max(revision_, revision_of(informer_.resource_version()));
    synced_ = true;
  }
  changed_.notify_all();
}

std::vector<std::string> pod_node_index(const json::value& pod) {
  std::string node = k8s::fields::string_at(pod, {"spec", "nodeName"});
  if (node.empty()) return {};
  return {node};
}

Cache::IndexFunc label_index(std::string key) {
  return [key = std::move(key)](const json::value& object) -> std::vector<std::string> {
    const json::value* v = k8s::fields::at(object, {"metadata", "labels", key});
    if (!v || !v->is_string()) return {};
    return {std::string(v->get_string())};
  };
}

}  // namespace podnet::client
