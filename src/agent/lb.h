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

// The addresses of `ips` inside one of `pools` (the node announces only those: whoever can write
// a Service's status must not make nodes answer ARP for any address, e.g. the gateway's); the
// others are appended to `outside`. No pools: none is inside.
std::vector<IpAddress> inside_pools(const std::vector<IpAddress>& ips, const std::vector<IpPrefix>& pools,
                                    std::vector<IpAddress>& outside);

// Rendezvous hashing: the Ready node with the highest hash(ip, node) owns the address. When a node
// goes, only its addresses move; when one comes, it takes over only the addresses it now wins.
// Empty when no node is Ready.
std::string lb_owner(const IpAddress& ip, const std::vector<std::string>& ready_nodes);

}  // namespace podnet::agent
