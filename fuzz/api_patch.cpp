// The four PATCH engines on (target, patch) pairs. Input: a JSON array
// [engine, target, patch] with engine "merge", "strategic", "json" or "apply" (server-side apply,
// with and without force, then the Update record every other write makes). The target's "kind"
// picks the schema apply merges by.
#include <boost/json.hpp>

#include "apiserver/apply/patch.h"
#include "apiserver/apply/server_side_apply.h"
#include "apiserver/apply/strategic_patch.h"
#include "apiserver/registry/resources.h"
#include "fuzz_target.h"

namespace json = boost::json;
using namespace podnet::apiserver;

namespace {

const ResourceType& type_of(const ResourceRegistry& registry, const json::value& target) {
  const json::object* obj = target.if_object();
  const json::value* kind = obj ? obj->if_contains("kind") : nullptr;
  std::string want = kind && kind->is_string() ? std::string(kind->get_string()) : "Pod";
  for (const auto& t : registry.all())
    if (t.kind == want) return t;
  return *registry.find("", "v1", "pods");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  static const ResourceRegistry registry = ResourceRegistry::builtin();
  boost::system::error_code ec;
  json::value input = json::parse(podnet::fuzz::as_text(data, size), ec);
  if (ec || !input.is_array() || input.get_array().size() != 3 || !input.get_array()[0].is_string()) return 0;
  const json::array& a = input.get_array();
  std::string_view engine = a[0].get_string();
  const json::value& target = a[1];
  const json::value& patch = a[2];
  if (engine == "merge") {
    (void)apply_merge_patch(target, patch);
  } else if (engine == "strategic") {
    (void)apply_strategic_merge_patch(target, patch);
  } else if (engine == "json") {
    (void)apply_json_patch(target, patch);
  } else if (engine == "apply") {
    // The server checks these before apply runs (check_type): both sides are objects.
    if (!target.is_object() || !patch.is_object()) return 0;
    const ResourceType& type = type_of(registry, target);
    FieldOwner owner{"fuzz", false, "2026-01-01T00:00:00Z"};
    for (bool force : {false, true}) {
      auto applied = server_side_apply(type, &target, patch, owner, force);
      if (!applied) continue;
      json::value after = *applied;
      record_update(type, target, after, FieldOwner{"other", false, owner.now});
    }
    (void)server_side_apply(type, nullptr, patch, owner, false);
  }
  return 0;
}
