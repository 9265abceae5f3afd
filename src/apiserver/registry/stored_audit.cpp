// Pages through /registry/ once; a repair or a quarantine is a compare-and-swap on the revision
// read, so a concurrent writer (there is none at start) could only make it fail, never lose data.
#include "apiserver/registry/stored_audit.h"

#include <boost/json.hpp>

#include "apiserver/http/limits.h"
#include "apiserver/validation/validation.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

// Keeps `value` under /quarantine/<key> (the latest copy wins).
Status keep_copy(storage::Store& store, const storage::KeyValue& kv) {
  std::string key = std::string(kQuarantinePrefix) + kv.key;
  auto created = store.create(key, kv.value);
  if (created) return {};
  if (created.error().code != storage::Errc::kAlreadyExists) return fail_msg(created.error().str());
  auto updated = store.update(key, kv.value, 0);
  if (!updated) return fail_msg(updated.error().str());
  return {};
}

// Drops annotation values that are not strings; true when something was dropped.
bool drop_bad_annotations(json::object& obj) {
  json::value* meta = obj.if_contains("metadata");
  if (!meta || !meta->is_object()) return false;
  json::object& m = meta->get_object();
  json::value* annotations = m.if_contains("annotations");
  if (!annotations || !annotations_type_error(annotations)) return false;
  if (!annotations->is_object()) {
    m.erase("annotations");
    return true;
  }
  json::object& a = annotations->get_object();
  for (auto it = a.begin(); it != a.end();) it = it->value().is_string() ? it + 1 : a.erase(it);
  return true;
}

}  // namespace

Result<AuditReport> audit_stored_objects(storage::Store& store) {
  AuditReport report;
  storage::ListOptions options;
  options.limit = 500;
  for (;;) {
    auto page = store.list("/registry/", options);
    if (!page) return fail_msg("audit stored objects: " + page.error().str());
    for (const auto& kv : page->items) {
      ++report.checked;
      boost::system::error_code ec;
      json::value v = limits::parse_stored(kv.value, ec);
      bool readable = !ec && v.is_object();
      if (readable && drop_bad_annotations(v.get_object()) && limits::depth(v) <= limits::kMaxWriteDepth) {
        if (auto s = keep_copy(store, kv); !s) return std::unexpected(s.error());
        auto updated = store.update(kv.key, json::serialize(v), kv.mod_revision);
        if (!updated) return fail_msg("repair " + kv.key + ": " + updated.error().str());
        report.findings.push_back(
            "stored object " + kv.key +
            " REPAIRED: annotation values that are not strings removed (the original is kept "
            "at " +
            kQuarantinePrefix + kv.key + ")");
        ++report.repaired;
        continue;
      }
      if (readable && limits::depth(v) <= limits::kMaxWriteDepth) {
        // Stored before the size limit: readable, and the next write must shrink it.
        if (kv.value.size() > limits::kMaxObjectBytes)
          report.findings.push_back("stored object " + kv.key + " is " + std::to_string(kv.value.size()) +
                                    " bytes, above the limit of " + std::to_string(limits::kMaxObjectBytes) +
                                    " for writes");
        continue;
      }
      if (auto s = keep_copy(store, kv); !s) return std::unexpected(s.error());
      auto removed = store.remove(kv.key, kv.mod_revision);
      if (!removed) return fail_msg("quarantine " + kv.key + ": " + removed.error().str());
      std::string why = !readable
                            ? (ec ? "unreadable JSON: " + ec.message() : std::string("not a JSON object"))
                            : "nested deeper than " + std::to_string(limits::kMaxWriteDepth) + " levels";
      report.findings.push_back("stored object " + kv.key + " QUARANTINED (" + why + "): moved to " +
                                kQuarantinePrefix + kv.key + " (" + std::to_string(kv.value.size()) +
                                " bytes)");
      ++report.quarantined;
    }
    if (page->continue_token.empty()) break;
    options.continue_token = page->continue_token;
  }
  return report;
}

}  // namespace podnet::apiserver
