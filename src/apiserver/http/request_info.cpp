// kube's RequestInfoFactory rules: /namespaces/<ns>/status and /finalize are subresources of the
// namespace itself, any other third segment makes <ns> the namespace of a namespaced resource.
#include "apiserver/http/request_info.h"

#include <cctype>
#include <vector>

namespace podnet::apiserver {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

}  // namespace

bool query_flag(const QueryParams& query, std::string_view key) {
  auto it = query.find(std::string(key));
  if (it == query.end()) return false;
  const std::string& v = it->second;
  if (v == "0") return false;
  constexpr std::string_view kFalse = "false";
  if (v.size() != kFalse.size()) return true;
  for (size_t i = 0; i < v.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != kFalse[i]) return true;
  return false;
}

Target parse_target(std::string_view target) {
  Target t;
  size_t q = target.find('?');
  t.path = decode(target.substr(0, q), false);
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    std::string key = decode(pair.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1), true);
    if (!key.empty()) t.query.emplace(std::move(key), std::move(value));  // first value wins
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return t;
}

std::optional<ResourcePath> parse_resource_path(const std::string& path) {
  auto parts = segments(path);
  ResourcePath r;
  size_t i = 0;
  if (parts.size() >= 3 && parts[0] == "api") {
    r.version = parts[1];
    i = 2;
  } else if (parts.size() >= 4 && parts[0] == "apis") {
    r.group = parts[1];
    r.version = parts[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  std::vector<std::string> rest(parts.begin() + static_cast<std::ptrdiff_t>(i), parts.end());
  if (rest.size() >= 2 && rest[0] == "namespaces") {
    bool ns_subresource = rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize");
    if (rest.size() >= 3 && !ns_subresource) {
      r.ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  // kube's proxy subresource carries a path of its own: nodes/<name>/proxy/<path...>.
  if (rest.size() > 3 && rest[2] == "proxy") {
    for (size_t k = 3; k < rest.size(); ++k) r.subpath += "/" + rest[k];
    rest.resize(3);
  }
  if (rest.empty() || rest.size() > 3) return std::nullopt;
  r.resource = rest[0];
  if (rest.size() >= 2) r.name = rest[1];
  if (rest.size() == 3) r.subresource = rest[2];
  return r;
}

}  // namespace podnet::apiserver
