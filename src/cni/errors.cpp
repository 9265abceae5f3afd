#include "cni/errors.h"

#include <boost/json.hpp>

namespace podnet::cni {

std::string encode_error(const CniError& e, const std::string& cni_version) {
  boost::json::object o;
  o["cniVersion"] = cni_version;
  o["code"] = e.code;
  o["msg"] = e.msg;
  if (!e.details.empty()) o["details"] = e.details;
  return boost::json::serialize(o);
}

}  // namespace podnet::cni
