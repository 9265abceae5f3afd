// Hand-rolled matchers for kube's name regexes (std::regex is slow and throws on bad input).
#include "apiserver/validation.h"

#include <boost/json.hpp>
#include <cctype>

namespace podnet::apiserver {
namespace {

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool is_label(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (char c : s)
    if (!lower_alnum(c) && c != '-') return false;
  return true;
}

bool is_subdomain(std::string_view s) {
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    if (!is_label(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

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

constexpr const char* kLabelRule =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
constexpr const char* kSubdomainRule =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

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
    else if (slash != std::string::npos && (prefix.empty() || prefix.size() > 253 || !is_subdomain(prefix)))
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

std::vector<std::string> dns1123_label_errors(const std::string& value) {
  std::vector<std::string> out;
  if (value.size() > 63) out.push_back("must be no more than 63 characters");
  if (!is_label(value)) out.push_back(kLabelRule);
  return out;
}

std::vector<std::string> dns1123_subdomain_errors(const std::string& value) {
  std::vector<std::string> out;
  if (value.size() > 253) out.push_back("must be no more than 253 characters");
  if (!is_subdomain(value)) out.push_back(kSubdomainRule);
  return out;
}

std::vector<std::string> port_name_errors(const std::string& name) {
  std::vector<std::string> out;
  if (name.size() > 15) out.push_back("must be no more than 15 characters");
  bool charset = !name.empty(), letter = false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) charset = false;
    if (c >= 'a' && c <= 'z') letter = true;
  }
  if (!charset)
    out.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  else if (!letter)
    out.push_back("must contain at least one letter (a-z)");
  if (name.find("--") != std::string::npos) out.push_back("must not contain consecutive hyphens");
  if (!name.empty() && (name.front() == '-' || name.back() == '-'))
    out.push_back("must not begin or end with a hyphen");
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
      if (name.size() > 253) out.push_back(cause(name, "must be no more than 253 characters"));
      if (!is_subdomain(name))
        out.push_back(
            cause(name,
                  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                  "'-' or '.', and must start and end with an alphanumeric character (e.g. "
                  "'example.com', regex used for validation is "
                  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
      break;
    case NameRule::kDns1123Label:
      if (name.size() > 63) out.push_back(cause(name, "must be no more than 63 characters"));
      if (!is_label(name))
        out.push_back(
            cause(name,
                  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
                  "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
                  "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"));
      break;
    case NameRule::kDns1035Label:
      if (name.size() > 63) out.push_back(cause(name, "must be no more than 63 characters"));
      if (!is_label(name) || !(name[0] >= 'a' && name[0] <= 'z'))
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
