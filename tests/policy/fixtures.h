// Small builders of pods, namespaces and policies (as API JSON) for the policy tests.
#pragma once

#include <boost/json.hpp>
#include <string>

namespace podnet::testing {

inline boost::json::value pod_json(const std::string& ns, const std::string& name, const std::string& node,
                                   const std::string& ip, boost::json::object labels = {},
                                   boost::json::array ports = {}) {
  return boost::json::object{
      {"metadata", {{"namespace", ns}, {"name", name}, {"labels", std::move(labels)}}},
      {"spec",
       {{"nodeName", node},
        {"containers", boost::json::array{{{"name", "c"}, {"ports", std::move(ports)}}}}}},
      {"status", {{"phase", "Running"}, {"podIP", ip}, {"podIPs", boost::json::array{{{"ip", ip}}}}}}};
}

inline boost::json::value ns_json(const std::string& name, boost::json::object labels = {}) {
  return boost::json::object{{"metadata", {{"name", name}, {"labels", std::move(labels)}}}};
}

inline boost::json::value policy_json(const std::string& ns, const std::string& name,
                                      boost::json::object spec) {
  return boost::json::object{{"metadata", {{"namespace", ns}, {"name", name}}}, {"spec", std::move(spec)}};
}

}  // namespace podnet::testing
