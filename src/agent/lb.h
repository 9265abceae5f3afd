// LoadBalancer address announcement (MetalLB layer-2 style): which node answers ARP for an LB IP.
// Every agent computes the same owner from the same inputs, so no coordination is needed.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "common/ip.h"

namespace podnet::agent {

// status.loadBalancer.ingress[].ip of a Service of type LoadBalancer (empty otherwise).
std::vector<IpAddress> loadbalancer_ips(const boost::json::value& service);

// Rendezvous hashing: the Ready node with the highest hash(ip, node) owns the address. When a node
// goes, only its addresses move; when one comes, it takes over only the addresses it now wins.
// Empty when no node is Ready.
std::string lb_owner(const IpAddress& ip, const std::vector<std::string>& ready_nodes);

}  // namespace podnet::agent
