// A storage::Store that times every call into Metrics (operation and resource from the key,
// /registry/<resource>/...) and forwards it unchanged to the real store.
#pragma once

#include "apiserver/http/metrics.h"
#include "storage/store.h"

namespace podnet::apiserver {

class MeteredStore final : public storage::Store {
 public:
  MeteredStore(storage::Store& inner, Metrics& metrics) : inner_(inner), metrics_(metrics) {}

  storage::StoreResult<storage::KeyValue> create(std::string_view key, std::string_view value) override;
  storage::StoreResult<storage::KeyValue> update(std::string_view key, std::string_view value,
                                                 storage::Revision expected_mod_revision) override;
  storage::StoreResult<storage::Removed> remove(std::string_view key,
                                                storage::Revision expected_mod_revision = 0) override;
  storage::StoreResult<storage::KeyValue> get(std::string_view key, storage::Revision revision = 0) override;
  storage::StoreResult<storage::ListResult> list(std::string_view prefix,
                                                 const storage::ListOptions& options = {}) override;
  storage::StoreResult<std::unique_ptr<storage::Watch>> watch(std::string_view prefix,
                                                              storage::Revision from_revision) override;
  storage::StoreStatus compact(storage::Revision revision) override;
  storage::Revision current_revision() const override { return inner_.current_revision(); }
  storage::Revision compacted_revision() const override { return inner_.compacted_revision(); }

 private:
  template <class F>
  auto timed(const char* operation, std::string_view key, F&& call);

  storage::Store& inner_;
  Metrics& metrics_;
};

// "pods" for /registry/pods/default/x; "" for keys outside /registry/.
std::string resource_of_key(std::string_view key);

}  // namespace podnet::apiserver
