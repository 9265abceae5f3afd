// The duplicate scan is a small tokenizer over already-parsed (so well-formed) JSON: Boost.JSON
// keeps one value per key and cannot report the others.
#include "apiserver/apply/field_validation.h"

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_set>

namespace podnet::apiserver {
namespace json = boost::json;

ApiResult<FieldValidation> parse_field_validation(const std::string& value) {
  if (value.empty() || value == "Warn") return FieldValidation::kWarn;
  if (value == "Strict") return FieldValidation::kStrict;
  if (value == "Ignore") return FieldValidation::kIgnore;
  return api_fail(bad_request("fieldValidation parameter unsupported: " + value +
                              ": supported values: Ignore, Warn, Strict"));
}

namespace {

struct UnknownWalker {
  PathStyle style;
  std::vector<std::string>& out;
  bool drop;

  std::string join(const std::string& path, const std::string& key) const {
    if (style == PathStyle::kApply) return path + "." + key;
    return path.empty() ? key : path + "." + key;
  }

  void walk(json::value& v, const Shape& s, const std::string& path) {
    if (s.type && s.type->kind == schema::Kind::kStruct) {
      json::object* o = v.if_object();
      if (!o) return;
      for (auto it = o->begin(); it != o->end();) {
        std::string key(it->key());
        if (!s.declared(key)) {
          out.push_back(join(path, key));
          it = drop ? o->erase(it) : it + 1;
          continue;
        }
        walk(it->value(), s.child(key), join(path, key));
        ++it;
      }
    } else if (s.type && s.type->kind == schema::Kind::kMap) {
      if (json::object* o = v.if_object())
        for (auto& [k, x] : *o) walk(x, s.child(std::string(k)), join(path, std::string(k)));
    } else if (s.type && s.type->kind == schema::Kind::kArray) {
      json::array* a = v.if_array();
      if (!a) return;
      for (size_t i = 0; i < a->size(); ++i) {
        std::string item = "[" + std::to_string(i) + "]";
        if (style == PathStyle::kApply)
          if (auto pe = item_element(s, (*a)[i])) item = path_string({*pe});
        walk((*a)[i], s.element(), path + item);
      }
    }
  }
};

}  // namespace

std::vector<std::string> unknown_fields(const json::value& object, const Shape& shape, PathStyle style) {
  std::vector<std::string> out;
  json::value copy = object;
  UnknownWalker{style, out, false}.walk(copy, shape, "");
  return out;
}

void drop_unknown_fields(json::value& object, const Shape& shape) {
  std::vector<std::string> ignored;
  UnknownWalker{PathStyle::kDecoder, ignored, true}.walk(object, shape, "");
}

std::vector<std::string> duplicate_fields(std::string_view text) {
  // An object's keys are a short list, scanned, until it has many: then a hash set, so the scan is
  // linear in the body (a list alone was quadratic: an 80k-key body cost 15 s of CPU).
  constexpr size_t kListedKeys = 16;
  struct Frame {
    bool object;
    std::string path;
    std::vector<std::string> listed;
    std::unordered_set<std::string> keys;
    size_t index = 0;
    bool insert(const std::string& key) {
      if (!keys.empty()) return keys.insert(key).second;
      if (std::find(listed.begin(), listed.end(), key) != listed.end()) return false;
      if (listed.size() < kListedKeys) {
        listed.push_back(key);
        return true;
      }
      keys.insert(std::make_move_iterator(listed.begin()), std::make_move_iterator(listed.end()));
      listed.clear();
      return keys.insert(key).second;
    }
  };
  std::vector<std::string> out;
  std::vector<Frame> stack;
  std::string pending_key;  // the key whose value comes next
  auto child_path = [&](const Frame& f) {
    if (f.object) return f.path.empty() ? pending_key : f.path + "." + pending_key;
    return f.path + "[" + std::to_string(f.index) + "]";
  };
  bool expect_key = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      size_t start = ++i;
      bool escaped = false;
      for (; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') {
          escaped = true;
          ++i;
        }
      }
      if (expect_key && !stack.empty() && stack.back().object) {
        std::string_view raw = text.substr(start, std::min(i, text.size()) - start);
        pending_key = std::string(raw);
        if (escaped) {  // only keys with escapes need decoding
          boost::system::error_code ec;
          json::value k = json::parse("\"" + pending_key + "\"", ec);
          if (!ec && k.is_string()) pending_key = std::string(k.get_string());
        }
        Frame& f = stack.back();
        if (!f.insert(pending_key)) out.push_back(child_path(f));
        expect_key = false;
      }
    } else if (c == '{' || c == '[') {
      std::string path = stack.empty() ? "" : child_path(stack.back());
      stack.push_back(Frame{c == '{', std::move(path), {}, {}, 0});
      expect_key = c == '{';
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
    } else if (c == ',') {
      if (!stack.empty()) {
        if (stack.back().object)
          expect_key = true;
        else
          ++stack.back().index;
      }
    }
  }
  return out;
}

ApiResult<void> enforce_field_validation(const ResourceType& type, json::value& object,
                                         FieldValidation validation, const std::vector<std::string>& found,
                                         std::vector<std::string>* warnings, bool decoding) {
  const auto* st = schema::Schema::builtin().for_kind(type.group, type.version, type.kind);
  if (!st) return {};
  Shape shape = Shape::root(st->name);
  std::vector<std::string> problems;
  for (const auto& f : unknown_fields(object, shape, PathStyle::kDecoder))
    problems.push_back("unknown field \"" + f + "\"");
  problems.insert(problems.end(), found.begin(), found.end());
  if (validation == FieldValidation::kStrict && !problems.empty()) {
    std::string message = "strict decoding error: ";
    for (size_t i = 0; i < problems.size(); ++i) message += (i ? ", " : "") + problems[i];
    if (decoding)
      message = type.kind + " in version \"" + type.version + "\" cannot be handled as a " + type.kind +
                ": " + message;
    return api_fail(bad_request(std::move(message)));
  }
  if (validation == FieldValidation::kWarn && warnings)
    warnings->insert(warnings->end(), problems.begin(), problems.end());
  drop_unknown_fields(object, shape);
  return {};
}

}  // namespace podnet::apiserver
