// Watch stream decoding: the API server writes each event as one JSON document followed by "\n"
// (JSON never contains a raw newline), so splitting at newlines finds event boundaries.
#include "client/watch_decoder.h"

#include <boost/json/parse.hpp>

namespace podnet::client {

namespace json = boost::json;
using k8s::WatchEvent;

Status WatchDecoder::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      partial_.append(bytes);
      return {};
    }
    std::string_view line = bytes.substr(0, nl);
    bytes.remove_prefix(nl + 1);
    Status s;
    if (partial_.empty()) {
      s = decode_line(line);
    } else {
      partial_.append(line);
      s = decode_line(partial_);
      partial_.clear();
    }
    if (!s) return s;
  }
  return {};
}

Status WatchDecoder::decode_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return {};
  PODNET_TRY(event, parse_watch_event(line));
  events_.push_back(std::move(event));
  return {};
}

WatchEvent WatchDecoder::pop() {
  WatchEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

int status_code(const json::value& status) {
  const json::object* o = status.if_object();
  const json::value* c = o ? o->if_contains("code") : nullptr;
  return c && c->is_int64() ? static_cast<int>(c->get_int64()) : 0;
}

namespace {
std::string meta_string(const json::value& object, std::string_view field) {
  const json::object* o = object.if_object();
  const json::value* m = o ? o->if_contains("metadata") : nullptr;
  const json::value* f = m && m->is_object() ? m->get_object().if_contains(field) : nullptr;
  return f && f->is_string() ? std::string(f->get_string()) : std::string();
}
}  // namespace

std::string resource_version_of(const json::value& object) {
  return meta_string(object, "resourceVersion");
}

std::string object_key(const json::value& object) {
  std::string name = meta_string(object, "name");
  if (name.empty()) return name;
  std::string ns = meta_string(object, "namespace");
  return ns.empty() ? name : ns + "/" + name;
}

}  // namespace podnet::client
