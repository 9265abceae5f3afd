#include "controllers/objects.h"

#include <boost/json.hpp>

namespace podnet::controllers {
namespace json = boost::json;

std::string name_of(const json::value& obj) {
  return string_at(obj, {"metadata", "name"});
}
std::string namespace_of(const json::value& obj) {
  return string_at(obj, {"metadata", "namespace"});
}
std::string key_of(const json::value& obj) {
  std::string ns = namespace_of(obj);
  return ns.empty() ? name_of(obj) : ns + "/" + name_of(obj);
}
std::pair<std::string, std::string> split_key(const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace podnet::controllers
