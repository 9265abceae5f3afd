// Depth is counted with an explicit stack and the deep path is found by a walk that stops one level
// past the limit, so neither recurses further than the limit allows.
#include "apiserver/http/limits.h"

#include <boost/json.hpp>
#include <utility>
#include <vector>

namespace podnet::apiserver::limits {
namespace json = boost::json;

namespace {

json::value parse_within(std::string_view text, boost::system::error_code& ec, json::storage_ptr sp,
                         size_t max_depth) {
  json::parse_options options;
  options.max_depth = max_depth;
  try {
    return json::parse(text, ec, std::move(sp), options);
  } catch (const std::exception&) {  // std::bad_alloc: reported as the parse failing
    ec = json::error::exception;
    return nullptr;
  }
}

// The path of the first value nested deeper than `limit` below `v` (at level `level`), as kube
// writes field paths (metadata.annotations.x, items[3]); empty when there is none.
bool deep_path(const json::value& v, size_t level, size_t limit, std::string& path) {
  if (!v.is_structured()) return false;
  if (level > limit) return true;
  size_t mark = path.size();
  if (const json::object* o = v.if_object()) {
    for (const auto& [k, x] : *o) {
      if (!path.empty()) path += '.';
      path.append(k.data(), k.size());
      if (deep_path(x, level + 1, limit, path)) return true;
      path.resize(mark);
    }
  } else {
    const json::array& a = v.get_array();
    for (size_t i = 0; i < a.size(); ++i) {
      path += "[" + std::to_string(i) + "]";
      if (deep_path(a[i], level + 1, limit, path)) return true;
      path.resize(mark);
    }
  }
  return false;
}

}  // namespace

json::value parse_request(std::string_view text, boost::system::error_code& ec, json::storage_ptr sp) {
  return parse_within(text, ec, std::move(sp), kMaxWriteDepth);
}

json::value parse_stored(std::string_view text, boost::system::error_code& ec, json::storage_ptr sp) {
  return parse_within(text, ec, std::move(sp), kMaxReadDepth);
}

size_t depth(const json::value& v) {
  size_t deepest = 0;
  std::vector<std::pair<const json::value*, size_t>> stack{{&v, 1}};
  while (!stack.empty()) {
    auto [cur, level] = stack.back();
    stack.pop_back();
    if (const json::object* o = cur->if_object()) {
      deepest = std::max(deepest, level);
      for (const auto& [k, x] : *o)
        if (x.is_structured()) stack.emplace_back(&x, level + 1);
    } else if (const json::array* a = cur->if_array()) {
      deepest = std::max(deepest, level);
      for (const auto& x : *a)
        if (x.is_structured()) stack.emplace_back(&x, level + 1);
    }
  }
  return deepest;
}

size_t serialized_size(const json::value& v) {
  json::serializer sr;
  sr.reset(&v);
  char buf[4096];
  size_t total = 0;
  while (!sr.done()) total += sr.read(buf, sizeof buf).size();
  return total;
}

ApiResult<void> check_object(const json::value& object, std::string_view serialized, const std::string& group,
                             const std::string& kind, const std::string& name) {
  if (serialized.size() > kMaxObjectBytes)
    return api_fail({413, "RequestEntityTooLarge",
                     "Request entity too large: the object is " + std::to_string(serialized.size()) +
                         " bytes, the limit for a stored object is " + std::to_string(kMaxObjectBytes),
                     name, group, kind});
  if (depth(object) > kMaxWriteDepth) {
    std::string path;
    deep_path(object, 1, kMaxWriteDepth, path);
    return api_fail(invalid(
        group, kind, name,
        {{"FieldValueInvalid",
          "Invalid value: \"object\": nested deeper than " + std::to_string(kMaxWriteDepth) + " levels",
          path}}));
  }
  return {};
}

}  // namespace podnet::apiserver::limits
