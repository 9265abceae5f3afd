// A hand-written tokenizer for selector strings: the grammar is small, and kube's error behaviour
// (a malformed selector is a 400, never an empty match) matters more than generality.
#include "apiserver/registry/selectors.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// Splits on commas outside parentheses: "a in (x,y),b" -> ["a in (x,y)", "b"].
std::vector<std::string> split_terms(std::string_view text) {
  std::vector<std::string> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      out.push_back(trim(text.substr(start, i - start)));
      start = i + 1;
    } else if (text[i] == '(') {
      ++depth;
    } else if (text[i] == ')') {
      --depth;
    }
  }
  return out;
}

bool valid_key(const std::string& key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

bool valid_value(const std::string& v) {
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

ApiResult<Requirement> parse_set_term(const std::string& term, size_t op_pos, size_t op_len,
                                      Requirement::Op op) {
  Requirement r;
  r.key = trim(std::string_view(term).substr(0, op_pos));
  r.op = op;
  std::string rest = trim(std::string_view(term).substr(op_pos + op_len));
  if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')')
    return api_fail(bad_request("unable to parse requirement: expected a parenthesised value list: " + term));
  for (const auto& v : split_terms(std::string_view(rest).substr(1, rest.size() - 2))) {
    if (!valid_value(v)) return api_fail(bad_request("invalid label value: \"" + v + "\""));
    r.values.push_back(v);
  }
  return r;
}

ApiResult<Requirement> parse_term(const std::string& term) {
  Requirement r;
  if (term.starts_with("!")) {
    r.key = trim(std::string_view(term).substr(1));
    r.op = Requirement::Op::kDoesNotExist;
  } else if (size_t p = term.find("!="); p != std::string::npos) {
    r.key = trim(std::string_view(term).substr(0, p));
    r.op = Requirement::Op::kNotEquals;
    r.values = {trim(std::string_view(term).substr(p + 2))};
  } else if (size_t p2 = term.find("=="); p2 != std::string::npos) {
    r.key = trim(std::string_view(term).substr(0, p2));
    r.values = {trim(std::string_view(term).substr(p2 + 2))};
  } else if (size_t p3 = term.find('='); p3 != std::string::npos) {
    r.key = trim(std::string_view(term).substr(0, p3));
    r.values = {trim(std::string_view(term).substr(p3 + 1))};
  } else if (size_t p4 = term.find(" notin "); p4 != std::string::npos) {
    return parse_set_term(term, p4, 7, Requirement::Op::kNotIn);
  } else if (size_t p5 = term.find(" in "); p5 != std::string::npos) {
    return parse_set_term(term, p5, 4, Requirement::Op::kIn);
  } else {
    r.key = term;
    r.op = Requirement::Op::kExists;
  }
  if (!valid_key(r.key))
    return api_fail(bad_request("unable to parse requirement: invalid key \"" + r.key + "\""));
  for (const auto& v : r.values)
    if (!valid_value(v)) return api_fail(bad_request("invalid label value: \"" + v + "\""));
  return r;
}

bool requirement_matches(const Requirement& r, const std::string* value) {
  auto in_values = [&] {
    return value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
  };
  switch (r.op) {
    case Requirement::Op::kEquals:
    case Requirement::Op::kIn:
      return in_values();
    case Requirement::Op::kNotEquals:
    case Requirement::Op::kNotIn:
      return !in_values();  // kube: a missing key satisfies != and notin
    case Requirement::Op::kExists:
      return value != nullptr;
    case Requirement::Op::kDoesNotExist:
      return value == nullptr;
  }
  return false;
}

// The value at a dotted path as a string (booleans and numbers as kube prints them); missing -> "".
std::string field_value(const json::value& object, const std::string& path) {
  const json::value* cur = &object;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const json::object* obj = cur->if_object();
    if (!obj) return {};
    cur = obj->if_contains(part);
    if (!cur) return {};
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cur->is_string()) return std::string(cur->get_string());
  if (cur->is_bool()) return cur->get_bool() ? "true" : "false";
  if (cur->is_null()) return {};
  return json::serialize(*cur);
}

}  // namespace

ApiResult<LabelSelector> parse_label_selector(std::string_view text) {
  LabelSelector sel;
  if (trim(text).empty()) return sel;
  for (const auto& term : split_terms(text)) {
    if (term.empty())
      return api_fail(
          bad_request("unable to parse requirement: empty term in \"" + std::string(text) + "\""));
    auto r = parse_term(term);
    if (!r) return std::unexpected(r.error());
    sel.requirements.push_back(std::move(*r));
  }
  return sel;
}

bool LabelSelector::matches(const json::value& object) const {
  const json::object* labels = nullptr;
  if (const auto* o = object.if_object())
    if (const auto* meta = o->if_contains("metadata"); meta && meta->is_object())
      if (const auto* l = meta->get_object().if_contains("labels")) labels = l->if_object();
  for (const auto& r : requirements) {
    std::string value;
    bool present = false;
    if (labels)
      if (const auto* v = labels->if_contains(r.key); v && v->is_string()) {
        value = std::string(v->get_string());
        present = true;
      }
    if (!requirement_matches(r, present ? &value : nullptr)) return false;
  }
  return true;
}

ApiResult<FieldSelector> parse_field_selector(std::string_view text,
                                              const std::vector<std::string>& allowed) {
  FieldSelector sel;
  if (trim(text).empty()) return sel;
  for (const auto& term : split_terms(text)) {
    Requirement r;
    size_t p = term.find("!=");
    size_t len = 2;
    r.op = Requirement::Op::kNotEquals;
    if (p == std::string::npos) {
      r.op = Requirement::Op::kEquals;
      p = term.find("==");
      if (p == std::string::npos) {
        p = term.find('=');
        len = 1;
      }
    }
    if (p == std::string::npos)
      return api_fail(
          bad_request("invalid selector: '" + std::string(text) + "'; can't understand '" + term + "'"));
    r.key = trim(std::string_view(term).substr(0, p));
    r.values = {trim(std::string_view(term).substr(p + len))};
    bool ok = r.key == "metadata.name" || r.key == "metadata.namespace" ||
              std::find(allowed.begin(), allowed.end(), r.key) != allowed.end();
    if (!ok) return api_fail(bad_request("field label not supported: " + r.key));
    sel.requirements.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::matches(const json::value& object) const {
  for (const auto& r : requirements) {
    std::string v = field_value(object, r.key);
    // The one selectable field that is not a path: an Event's "source" is source.component, or
    // reportingComponent when that is empty (kube's event ToSelectableFields).
    if (r.key == "source") {
      v = field_value(object, "source.component");
      if (v.empty()) v = field_value(object, "reportingComponent");
    }
    if (!requirement_matches(r, &v)) return false;
  }
  return true;
}

const std::string* FieldSelector::required_value(std::string_view field) const {
  for (const auto& r : requirements)
    if (r.key == field && r.op == Requirement::Op::kEquals) return &r.values[0];
  return nullptr;
}

}  // namespace podnet::apiserver
