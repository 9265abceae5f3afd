// The CNI Result type (interfaces, ips, routes, dns) and its JSON forms for each supported spec
// version: 1.x, and 0.3.x/0.4.0 which add "version" to every IP. Decoding accepts any of them
// (prevResult, a delegated IPAM plugin's output).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cni/errors.h"
#include "common/ip.h"

namespace podnet::cni {

struct InterfaceResult {
  std::string name;
  std::string mac;
  std::string sandbox;  // netns path for container interfaces, empty for host ones
  unsigned mtu = 0;     // 1.1.0 only, 0 = omitted
};

struct IpResult {
  IpPrefix address;
  std::optional<IpAddress> gateway;
  std::optional<int> interface;  // index into interfaces
};

struct RouteResult {
  IpPrefix dst;
  std::optional<IpAddress> gw;
  bool operator==(const RouteResult&) const = default;
};

struct NetResult {
  std::vector<InterfaceResult> interfaces;
  std::vector<IpResult> ips;
  std::vector<RouteResult> routes;
  boost::json::value dns;
};

std::string encode_result(const NetResult& r, const std::string& cni_version);
CniResult<NetResult> decode_result(const boost::json::value& v);

}  // namespace podnet::cni
