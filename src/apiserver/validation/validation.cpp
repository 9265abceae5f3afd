// Hand-rolled matchers for kube's name regexes (std::regex is slow and throws on bad input).
#include "apiserver/validation/validation.h"

#include <boost/json.hpp>
#include <cctype>

#include "apiserver/http/limits.h"
#include "k8s/names.h"

namespace podnet::apiserver {
namespace {

StatusCause cause(const std::string& name, const std::string& why) {
  return {"FieldValueInvalid", "Invalid value: \"" + name + "\": " + why, "metadata.name"};
}

bool alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 characters.
bool is_label_name(std::string_view s) {
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

constexpr const char* kNameRule =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
constexpr const char* kValueRule =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

}  // namespace

std::vector<StatusCause> validate_labels(const boost::json::value* labels) {
  std::vector<StatusCause> out;
  if (!labels || labels->is_null()) return out;
  if (!labels->is_object()) {
    out.push_back({"FieldValueInvalid", "Invalid value: labels must be an object", "metadata.labels"});
    return out;
  }
  for (const auto& [k, v] : labels->get_object()) {
    std::string key(k);
    size_t slash = key.find('/');
    std::string_view name =
        slash == std::string::npos ? std::string_view(key) : std::string_view(key).substr(slash + 1);
    std::string_view prefix =
        slash == std::string::npos ? std::string_view() : std::string_view(key).substr(0, slash);
    if (!is_label_name(name))
      out.push_back({"FieldValueInvalid", "Invalid value: \"" + key + "\": " + kNameRule, "metadata.labels"});
    else if (slash != std::string::npos &&
             (prefix.empty() || prefix.size() > 253 || !k8s::is_dns1123_subdomain(prefix)))
      out.push_back(
          {"FieldValueInvalid",
           "Invalid value: \"" + key +
               "\": prefix part a lowercase RFC 1123 subdomain must consist of "
               "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
               "character",
           "metadata.labels"});
    if (!v.is_string()) {
      out.push_back({"FieldValueInvalid", "Invalid value: label values must be strings", "metadata.labels"});
      continue;
    }
    std::string_view value = v.get_string();
    if (!value.empty() && !is_label_name(value))
      out.push_back({"FieldValueInvalid", "Invalid value: \"" + std::string(value) + "\": " + kValueRule,
                     "metadata.labels"});
  }
  return out;
}

std::vector<std::string> qualified_name_errors(std::string_view value) {
  constexpr std::string_view kRule =
      "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  std::vector<std::string> errs;
  std::string_view name = value;
  if (size_t slash = value.find('/'); slash != std::string_view::npos) {
    if (value.find('/', slash + 1) != std::string_view::npos)
      return {"a qualified name " + std::string(kRule) +
              " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"};
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty())
      errs.push_back("prefix part must be non-empty");
    else
      for (const auto& msg : k8s::dns1123_subdomain_errors(prefix)) errs.push_back("prefix part " + msg);
  }
  if (name.empty())
    errs.push_back("name part must be non-empty");
  else if (name.size() > 63)
    errs.push_back("name part must be no more than 63 characters");
  bool pattern = !name.empty() && alnum(name.front()) && alnum(name.back());
  for (char c : name) pattern = pattern && (alnum(c) || c == '-' || c == '_' || c == '.');
  if (!pattern) errs.push_back("name part " + std::string(kRule));
  return errs;
}

std::vector<std::string> label_value_errors(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back("must be no more than 63 characters");
  bool pattern = value.empty() || (alnum(value.front()) && alnum(value.back()));
  for (char c : value) pattern = pattern && (alnum(c) || c == '-' || c == '_' || c == '.');
  if (!pattern) errs.push_back(kValueRule);
  return errs;
}

std::optional<std::string> annotations_type_error(const boost::json::value* annotations) {
  auto go_type = [](const boost::json::value& v) {
    switch (v.kind()) {
      case boost::json::kind::object:
        return "object";
      case boost::json::kind::array:
        return "array";
      case boost::json::kind::string:
        return "string";
      case boost::json::kind::bool_:
        return "bool";
      case boost::json::kind::null:
        return "null";
      default:
        return "number";
    }
  };
  constexpr std::string_view kField = "Go struct field ObjectMeta.metadata.annotations of type ";
  if (!annotations || annotations->is_null()) return std::nullopt;
  if (!annotations->is_object())
    return "json: cannot unmarshal " + std::string(go_type(*annotations)) + " into " + std::string(kField) +
           "map[string]string";
  for (const auto& [k, v] : annotations->get_object())
    if (!v.is_string() && !v.is_null())  // Go decodes null into a map value as ""
      return "json: cannot unmarshal " + std::string(go_type(v)) + " into " + std::string(kField) + "string";
  return std::nullopt;
}

std::vector<StatusCause> validate_annotations(const boost::json::value* annotations) {
  std::vector<StatusCause> out;
  if (!annotations || !annotations->is_object()) return out;
  size_t total = 0;
  for (const auto& [k, v] : annotations->get_object()) {
    std::string key(k);
    std::string lower = key;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& msg : qualified_name_errors(lower))
      out.push_back({"FieldValueInvalid",
                     "Invalid value: " + boost::json::serialize(boost::json::value(key)) + ": " + msg,
                     "metadata.annotations"});
    total += k.size() + (v.is_string() ? v.get_string().size() : 0);
  }
  if (total > limits::kMaxAnnotationsBytes)
    out.push_back({"FieldValueTooLong",
                   "Too long: must have at most " + std::to_string(limits::kMaxAnnotationsBytes) + " bytes",
                   "metadata.annotations"});
  return out;
}

std::vector<StatusCause> validate_name(NameRule rule, const std::string& name) {
  std::vector<StatusCause> out;
  if (name.empty()) {
    out.push_back(
        {"FieldValueRequired", "Required value: name or generateName is required", "metadata.name"});
    return out;
  }
  switch (rule) {
    case NameRule::kDns1123Subdomain:
      for (const auto& msg : k8s::dns1123_subdomain_errors(name)) out.push_back(cause(name, msg));
      break;
    case NameRule::kDns1123Label:
      for (const auto& msg : k8s::dns1123_label_errors(name)) out.push_back(cause(name, msg));
      break;
    case NameRule::kDns1035Label:
      if (name.size() > 63) out.push_back(cause(name, "must be no more than 63 characters"));
      if (!k8s::is_dns1123_label(name) || !(name[0] >= 'a' && name[0] <= 'z'))
        out.push_back(
            cause(name,
                  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                  "with an alphabetic character, and end with an alphanumeric character (e.g. "
                  "'my-name',  or 'abc-123', regex used for validation is "
                  "'[a-z]([-a-z0-9]*[a-z0-9])?')"));
      break;
  }
  return out;
}

}  // namespace podnet::apiserver
