// The parts of the client interface's contract that are not I/O: how a failed answer becomes an
// Error, how a watch line and a LIST answer are read, and how LIST and WATCH targets are written.
#include "k8s/api_client.h"

#include <boost/json/parse.hpp>
#include <cctype>

namespace podnet::k8s {
namespace json = boost::json;
namespace {

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

Error status_error(unsigned status, std::string_view body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* msg = o ? o->if_contains("message") : nullptr;
  const json::value* reason = o ? o->if_contains("reason") : nullptr;
  std::string text = "HTTP " + std::to_string(status);
  // An API error body is a metav1.Status; its message says more than the status line.
  if (msg && msg->is_string())
    text += ": " + std::string(msg->get_string());
  else if (!body.empty())
    text += ": " + std::string(body.substr(0, 200));
  int code = 0;
  switch (status) {
    case 404:
      code = kNotFound;
      break;
    case 409:
      code = reason && reason->is_string() && reason->get_string() == "AlreadyExists" ? kAlreadyExists
                                                                                      : kConflict;
      break;
    case 410:
      code = kExpired;
      break;
    case 401:
    case 403:
      code = EACCES;
      break;
    case 400:
    case 422:
      code = EINVAL;
      break;
    default:
      break;
  }
  return Error{code, std::move(text)};
}

Result<WatchEvent> parse_watch_event(std::string_view json_text) {
  json::error_code ec;
  json::value v = json::parse(json_text, ec);
  if (ec) return fail_msg("watch event: " + ec.message());
  const json::object* o = v.if_object();
  const json::value* type = o ? o->if_contains("type") : nullptr;
  const json::value* object = o ? o->if_contains("object") : nullptr;
  if (!type || !type->is_string() || !object || !object->is_object())
    return fail_msg("watch event: want {\"type\": string, \"object\": object}");
  WatchEvent e;
  std::string_view t = type->get_string();
  if (t == "ADDED")
    e.type = WatchEvent::Type::kAdded;
  else if (t == "MODIFIED")
    e.type = WatchEvent::Type::kModified;
  else if (t == "DELETED")
    e.type = WatchEvent::Type::kDeleted;
  else if (t == "BOOKMARK")
    e.type = WatchEvent::Type::kBookmark;
  else if (t == "ERROR")
    e.type = WatchEvent::Type::kError;
  else
    return fail_msg("watch event: unknown type " + std::string(t));
  e.object = std::move(*object);
  return e;
}

Result<ListPage> parse_list_page(const json::value& v, const std::string& path) {
  const json::object* o = v.if_object();
  const json::value* items = o ? o->if_contains("items") : nullptr;
  const json::value* meta = o ? o->if_contains("metadata") : nullptr;
  if (!items || !(items->is_array() || items->is_null()) || !meta || !meta->is_object())
    return fail_msg("list " + path + ": not a list (want items and metadata)");
  ListPage page;
  if (items->is_array()) page.items.assign(items->get_array().begin(), items->get_array().end());
  const json::object& m = meta->get_object();
  if (auto* rv = m.if_contains("resourceVersion"); rv && rv->is_string())
    page.resource_version = rv->get_string();
  if (auto* c = m.if_contains("continue"); c && c->is_string()) page.continue_token = c->get_string();
  return page;
}

std::string list_target(const std::string& path, size_t limit, const std::string& continue_token) {
  std::string target =
      path + (path.find('?') == std::string::npos ? "?" : "&") + "limit=" + std::to_string(limit);
  if (!continue_token.empty()) target += "&continue=" + percent_encode(continue_token);
  return target;
}

std::string watch_target(const std::string& path, const std::string& resource_version, int timeout_seconds) {
  std::string target = path + (path.find('?') == std::string::npos ? "?" : "&") +
                       "watch=1&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout_seconds);
  if (!resource_version.empty()) target += "&resourceVersion=" + percent_encode(resource_version);
  return target;
}

}  // namespace podnet::k8s
