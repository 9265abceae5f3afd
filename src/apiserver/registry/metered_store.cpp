#include "apiserver/registry/metered_store.h"

#include <chrono>

namespace podnet::apiserver {

std::string resource_of_key(std::string_view key) {
  constexpr std::string_view kRoot = "/registry/";
  if (!key.starts_with(kRoot)) return {};
  key.remove_prefix(kRoot.size());
  return std::string(key.substr(0, key.find('/')));
}

template <class F>
auto MeteredStore::timed(const char* operation, std::string_view key, F&& call) {
  auto start = std::chrono::steady_clock::now();
  auto result = call();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  metrics_.observe_storage(operation, resource_of_key(key), took.count());
  return result;
}

storage::StoreResult<storage::KeyValue> MeteredStore::create(std::string_view key, std::string_view value) {
  return timed("create", key, [&] { return inner_.create(key, value); });
}

storage::StoreResult<storage::KeyValue> MeteredStore::update(std::string_view key, std::string_view value,
                                                             storage::Revision expected) {
  return timed("update", key, [&] { return inner_.update(key, value, expected); });
}

storage::StoreResult<storage::Removed> MeteredStore::remove(std::string_view key,
                                                            storage::Revision expected) {
  return timed("delete", key, [&] { return inner_.remove(key, expected); });
}

storage::StoreResult<storage::KeyValue> MeteredStore::get(std::string_view key, storage::Revision revision) {
  return timed("get", key, [&] { return inner_.get(key, revision); });
}

storage::StoreResult<storage::ListResult> MeteredStore::list(std::string_view prefix,
                                                             const storage::ListOptions& options) {
  return timed("list", prefix, [&] { return inner_.list(prefix, options); });
}

storage::StoreResult<std::unique_ptr<storage::Watch>> MeteredStore::watch(std::string_view prefix,
                                                                          storage::Revision from_revision) {
  return timed("watch", prefix, [&] { return inner_.watch(prefix, from_revision); });
}

storage::StoreStatus MeteredStore::compact(storage::Revision revision) {
  return timed("compact", "", [&] { return inner_.compact(revision); });
}

}  // namespace podnet::apiserver
