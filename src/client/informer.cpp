// Informer loop. The store of last known objects lets a relist turn "gone from the list" into
// deletes, and lets a relist skip objects whose resourceVersion did not change.
#include "client/informer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <set>

#include "client/watch_decoder.h"

namespace podnet::client {

namespace json = boost::json;
using k8s::WatchEvent;
using k8s::WatchStream;

void Informer::run() {
  while (!stopped()) {
    if (auto s = step(); s) {
      backoff_ = opts_.initial_backoff;
      continue;
    } else if (stopped()) {
      break;
    } else {
      spdlog::warn("informer {}: {} (retry in {} ms)", opts_.path, s.error().message(), backoff_.count());
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff_, [&] { return stop_; });
    backoff_ = std::min(backoff_ * 2, opts_.max_backoff);
  }
}

void Informer::stop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  if (active_) active_->cancel();
  cv_.notify_all();
}

bool Informer::stopped() {
  std::lock_guard lock(mu_);
  return stop_;
}

Informer::Known Informer::remember(const json::value& object) const {
  return Known{resource_version_of(object), opts_.remember_objects ? json::serialize(object) : std::string()};
}

namespace {
// What a relist delivers for an object it no longer finds when the object was not kept.
json::value tombstone(const std::string& key, const std::string& resource_version) {
  size_t slash = key.find('/');
  json::object meta{{"name", slash == std::string::npos ? key : key.substr(slash + 1)},
                    {"resourceVersion", resource_version}};
  if (slash != std::string::npos) meta["namespace"] = key.substr(0, slash);
  return json::object{{"metadata", std::move(meta)}};
}
}  // namespace

Status Informer::step() {
  return needs_list_ ? list() : watch();
}

Status Informer::list() {
  // A LIST of the whole collection is never held parsed at once (10,000 Services parsed are ~30 MB,
  // which the allocator then keeps): the first list delivers each page as it comes (there is
  // nothing to delete yet); a relist keeps what changed as compact JSON until it knows what
  // vanished, delivers those deletes first, then the changes, in key order. A page that fails
  // leaves the store as delivered so far; the next step lists again.
  const bool first = store_.empty();
  std::set<std::string> seen;
  std::map<std::string, std::string> changed;
  std::string token, rv;
  do {
    auto page = client_.list(opts_.path, opts_.page_size, token);
    // An expired continue token means the snapshot is gone: the next step starts over.
    if (!page) return std::unexpected(wrap(page.error(), "list " + opts_.path));
    for (auto& item : page->items) {
      std::string key = object_key(item);
      if (key.empty()) continue;
      seen.insert(key);
      if (first) {
        store_[key] = remember(item);
        handler_.on_upsert(item);
        continue;
      }
      std::string version = resource_version_of(item);
      auto it = store_.find(key);
      if (it != store_.end() && !version.empty() && it->second.resource_version == version) {
        changed.erase(key);
        continue;
      }
      changed[key] = json::serialize(item);
    }
    token = std::move(page->continue_token);
    rv = std::move(page->resource_version);
  } while (!token.empty());

  for (auto it = store_.begin(); it != store_.end();) {
    if (seen.contains(it->first)) {
      ++it;
      continue;
    }
    Known old = std::move(it->second);
    std::string key = it->first;
    it = store_.erase(it);
    if (old.json.empty()) {
      handler_.on_delete(tombstone(key, old.resource_version));
      continue;
    }
    boost::system::error_code ec;
    json::value last = json::parse(old.json, ec);  // our own serialization: cannot fail
    if (!ec) handler_.on_delete(last);
  }
  for (auto& [key, text] : changed) {
    boost::system::error_code ec;
    json::value object = json::parse(text, ec);  // our own serialization: cannot fail
    std::string().swap(text);
    if (ec) continue;
    store_[key] = remember(object);
    handler_.on_upsert(object);
  }
  rv_ = std::move(rv);
  needs_list_ = false;
  synced_ = true;
  handler_.on_synced();
  return {};
}

Status Informer::watch() {
  auto opened = client_.watch(opts_.path, rv_);
  if (!opened) {
    if (k8s::is_expired(opened.error())) {
      needs_list_ = true;
      return {};
    }
    return std::unexpected(wrap(opened.error(), "watch " + opts_.path));
  }
  std::unique_ptr<WatchStream> stream = std::move(*opened);
  {
    std::lock_guard lock(mu_);
    if (stop_) return fail("watch " + opts_.path, ECANCELED);
    active_ = stream.get();
  }
  struct Clear {
    Informer& self;
    ~Clear() {
      std::lock_guard lock(self.mu_);
      self.active_ = nullptr;
    }
  } clear{*this};

  const auto started = std::chrono::steady_clock::now();
  size_t events = 0;
  for (;;) {
    auto next = stream->next();
    if (!next) return std::unexpected(wrap(next.error(), "watch " + opts_.path));
    if (!*next) {
      // A server that ends every watch at once would otherwise be hammered in a tight loop.
      if (events == 0 && std::chrono::steady_clock::now() - started < std::chrono::seconds(1))
        return fail_msg("watch " + opts_.path + ": server closed the stream at once");
      return {};
    }
    ++events;
    WatchEvent& e = **next;
    if (e.type == WatchEvent::Type::kError) {
      if (status_code(e.object) == 410) {
        needs_list_ = true;
        return {};
      }
      const json::value* msg = e.object.is_object() ? e.object.get_object().if_contains("message") : nullptr;
      return fail_msg("watch " + opts_.path + ": server error " + std::to_string(status_code(e.object)) +
                      (msg && msg->is_string() ? ": " + std::string(msg->get_string()) : ""));
    }
    std::string rv = resource_version_of(e.object);
    if (e.type == WatchEvent::Type::kBookmark) {
      if (!rv.empty()) rv_ = std::move(rv);
      continue;
    }
    std::string key = object_key(e.object);
    if (key.empty()) return fail_msg("watch " + opts_.path + ": event object without metadata.name");
    if (e.type == WatchEvent::Type::kDeleted) {
      store_.erase(key);
      handler_.on_delete(e.object);
    } else {
      store_[key] = remember(e.object);
      handler_.on_upsert(e.object);
    }
    if (!rv.empty()) rv_ = std::move(rv);
  }
}

}  // namespace podnet::client
