// JSON pointer navigation for RFC 6902 over Boost.JSON values; every failure is an ApiError,
// nothing throws (array indices are range-checked before use).
#include "apiserver/apply/patch.h"

#include <boost/json.hpp>
#include <charconv>
#include <vector>

#include "apiserver/http/limits.h"

namespace podnet::apiserver {
namespace json = boost::json;

json::value apply_merge_patch(const json::value& target, const json::value& patch) {
  if (!patch.is_object()) return patch;
  json::object result = target.is_object() ? target.get_object() : json::object{};
  for (const auto& [key, value] : patch.get_object()) {
    if (value.is_null()) {
      result.erase(key);
    } else {
      const json::value* existing = result.if_contains(key);
      result[key] = apply_merge_patch(existing ? *existing : json::value(nullptr), value);
    }
  }
  return result;
}

namespace {

ApiError patch_error(std::string message) {
  ApiError e{422, "Invalid", std::move(message)};
  return e;
}

ApiResult<std::vector<std::string>> parse_pointer(std::string_view ptr) {
  std::vector<std::string> tokens;
  if (ptr.empty()) return tokens;
  if (ptr.front() != '/') return api_fail(bad_request("invalid JSON pointer \"" + std::string(ptr) + "\""));
  size_t start = 1;
  for (;;) {
    size_t slash = ptr.find('/', start);
    std::string raw(
        ptr.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    std::string tok;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        tok += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        tok += raw[i];
      }
    }
    tokens.push_back(std::move(tok));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return tokens;
}

// Array index for a token; `allow_end` accepts "-" and size() (the insertion point of add).
std::optional<size_t> array_index(const std::string& tok, size_t size, bool allow_end) {
  if (tok == "-") return allow_end ? std::optional<size_t>(size) : std::nullopt;
  if (tok.empty() || (tok.size() > 1 && tok[0] == '0')) return std::nullopt;
  size_t idx = 0;
  auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), idx);
  if (ec != std::errc() || p != tok.data() + tok.size()) return std::nullopt;
  if (idx > size || (idx == size && !allow_end)) return std::nullopt;
  return idx;
}

// The value at `tokens` (all of them), or nullptr.
json::value* resolve(json::value& doc, const std::vector<std::string>& tokens, size_t count) {
  json::value* cur = &doc;
  for (size_t i = 0; i < count; ++i) {
    if (auto* o = cur->if_object()) {
      cur = o->if_contains(tokens[i]);
    } else if (auto* a = cur->if_array()) {
      auto idx = array_index(tokens[i], a->size(), false);
      cur = idx ? &(*a)[*idx] : nullptr;
    } else {
      cur = nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

ApiResult<json::value> remove_at(json::value& doc, const std::vector<std::string>& tokens,
                                 const std::string& path) {
  if (tokens.empty()) return api_fail(patch_error("cannot remove the whole document"));
  json::value* parent = resolve(doc, tokens, tokens.size() - 1);
  if (parent) {
    if (auto* o = parent->if_object()) {
      if (auto it = o->find(tokens.back()); it != o->end()) {
        json::value old = it->value();
        o->erase(it);
        return old;
      }
    } else if (auto* a = parent->if_array()) {
      if (auto idx = array_index(tokens.back(), a->size(), false)) {
        json::value old = (*a)[*idx];
        a->erase(a->begin() + static_cast<std::ptrdiff_t>(*idx));
        return old;
      }
    }
  }
  return api_fail(
      patch_error("the server rejected our request due to an error in our request: remove operation "
                  "does not apply: doc is missing path: \"" +
                  path + "\""));
}

// False when the parent of the target location does not exist.
bool add_at(json::value& doc, const std::vector<std::string>& tokens, json::value value) {
  if (tokens.empty()) {
    doc = std::move(value);
    return true;
  }
  json::value* parent = resolve(doc, tokens, tokens.size() - 1);
  if (parent) {
    if (auto* o = parent->if_object()) {
      (*o)[tokens.back()] = std::move(value);
      return true;
    }
    if (auto* a = parent->if_array()) {
      if (auto idx = array_index(tokens.back(), a->size(), true)) {
        a->insert(a->begin() + static_cast<std::ptrdiff_t>(*idx), std::move(value));
        return true;
      }
    }
  }
  return false;
}

}  // namespace

ApiResult<json::value> apply_json_patch(json::value doc, const json::value& patch) {
  const json::array* ops = patch.if_array();
  if (!ops) return api_fail(bad_request("json patch must be an array of operations"));
  if (ops->size() > limits::kMaxJsonPatchOperations)
    return api_fail({413, "RequestEntityTooLarge",
                     "Request entity too large: The allowed maximum operations in a JSON patch is " +
                         std::to_string(limits::kMaxJsonPatchOperations) + ", got " +
                         std::to_string(ops->size())});
  size_t copied = 0;  // what copy operations added so far (kube's AccumulatedCopySizeLimit)
  // A value placed this deep would make the document deeper than any object may be: refused at
  // once, so a patch cannot build a document deeper than that operation by operation.
  auto too_deep = [](const std::vector<std::string>& at, const json::value& v) -> std::optional<ApiError> {
    if (at.size() + limits::depth(v) <= limits::kMaxWriteDepth) return std::nullopt;
    return patch_error("the patched document would nest deeper than " +
                       std::to_string(limits::kMaxWriteDepth) + " levels");
  };
  for (const auto& op_value : *ops) {
    const json::object* op = op_value.if_object();
    const json::value* op_name = op ? op->if_contains("op") : nullptr;
    const json::value* path_value = op ? op->if_contains("path") : nullptr;
    if (!op_name || !op_name->is_string() || !path_value || !path_value->is_string())
      return api_fail(bad_request("json patch operation needs string \"op\" and \"path\""));
    std::string name(op_name->get_string());
    std::string path(path_value->get_string());
    auto tokens = parse_pointer(path);
    if (!tokens) return std::unexpected(tokens.error());
    const json::value* value = op->if_contains("value");
    auto need_value = [&]() -> ApiResult<json::value> {
      if (!value) return api_fail(bad_request("json patch \"" + name + "\" operation needs a value"));
      return *value;
    };
    auto from_tokens = [&]() -> ApiResult<std::vector<std::string>> {
      const json::value* from = op->if_contains("from");
      if (!from || !from->is_string())
        return api_fail(bad_request("json patch \"" + name + "\" needs \"from\""));
      return parse_pointer(from->get_string());
    };
    if (name == "add") {
      auto v = need_value();
      if (!v) return std::unexpected(v.error());
      if (auto deep = too_deep(*tokens, *v)) return api_fail(*deep);
      if (!add_at(doc, *tokens, std::move(*v)))
        return api_fail(patch_error("add operation does not apply: doc is missing path: \"" + path + "\""));
    } else if (name == "remove") {
      auto r = remove_at(doc, *tokens, path);
      if (!r) return std::unexpected(r.error());
    } else if (name == "replace") {
      auto v = need_value();
      if (!v) return std::unexpected(v.error());
      if (auto deep = too_deep(*tokens, *v)) return api_fail(*deep);
      json::value* target = resolve(doc, *tokens, tokens->size());
      if (!target)
        return api_fail(patch_error("replace operation does not apply: doc is missing key: " + path));
      *target = std::move(*v);
    } else if (name == "move" || name == "copy") {
      auto from = from_tokens();
      if (!from) return std::unexpected(from.error());
      json::value moved;
      if (name == "move") {
        auto r = remove_at(doc, *from, "from");
        if (!r) return std::unexpected(r.error());
        moved = std::move(*r);
      } else {
        json::value* src = resolve(doc, *from, from->size());
        if (!src) return api_fail(patch_error("copy operation does not apply: missing from path"));
        copied += limits::serialized_size(*src);
        if (copied > limits::kMaxJsonPatchCopyBytes)
          return api_fail(
              patch_error("Unable to complete the copy, the accumulated size increase of copy is " +
                          std::to_string(copied) + ", exceeding the limit " +
                          std::to_string(limits::kMaxJsonPatchCopyBytes)));
        moved = *src;
      }
      if (auto deep = too_deep(*tokens, moved)) return api_fail(*deep);
      if (!add_at(doc, *tokens, std::move(moved)))
        return api_fail(
            patch_error(name + " operation does not apply: doc is missing path: \"" + path + "\""));
    } else if (name == "test") {
      auto v = need_value();
      if (!v) return std::unexpected(v.error());
      json::value* target = resolve(doc, *tokens, tokens->size());
      if (!target || *target != *v) return api_fail(patch_error("testing value " + path + " failed"));
    } else {
      return api_fail(bad_request("unexpected json patch operation \"" + name + "\""));
    }
  }
  return doc;
}

}  // namespace podnet::apiserver
