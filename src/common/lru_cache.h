// A map of bounded size that forgets the least recently used entry (golang's groupcache/lru, which
// client-go's event correlator and kube's EventRateLimit use): per-object state for unbounded key
// spaces (event sources, users, namespaces) in bounded memory. Not thread-safe: guard it.
#pragma once

#include <cstddef>
#include <list>
#include <unordered_map>
#include <utility>

namespace podnet {

template <class K, class V>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // The value, now the most recently used; null when absent.
  V* get(const K& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    items_.splice(items_.begin(), items_, it->second);
    return &it->second->second;
  }
  // Inserts or replaces; the least recently used entry goes when the cache is full.
  V& put(const K& key, V value) {
    if (V* v = get(key)) return *v = std::move(value);
    if (items_.size() >= capacity_) {
      index_.erase(items_.back().first);
      items_.pop_back();
    }
    items_.emplace_front(key, std::move(value));
    index_.emplace(key, items_.begin());
    return items_.front().second;
  }
  // The value for `key`, made by `make()` when absent.
  template <class F>
  V& get_or_put(const K& key, F make) {
    if (V* v = get(key)) return *v;
    return put(key, make());
  }
  size_t size() const { return items_.size(); }

 private:
  size_t capacity_;
  std::list<std::pair<K, V>> items_;  // most recently used first
  std::unordered_map<K, typename std::list<std::pair<K, V>>::iterator> index_;
};

}  // namespace podnet
