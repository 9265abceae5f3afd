// The rules kube-proxy writes for N ClusterIP services (TCP 80 -> 8080, 10 endpoints each), in its
// iptables mode (iptables-restore input) and its nftables mode (nft -f input), for the peer benchmark.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace podnet::bench {

struct PeerService {
  std::string name;                 // "bench/svc-3"
  uint32_t cluster_ip = 0;          // host order
  std::vector<uint32_t> endpoints;  // host order, port 8080
};

// kube-proxy's `--cluster-cidr`: clients inside it are not masqueraded (as with podnet).
inline constexpr const char* kClusterCidr = "10.244.0.0/16";

// KUBE-SERVICES -> KUBE-SVC-* (statistic random) -> KUBE-SEP-* (KUBE-MARK-MASQ, DNAT), nat and
// filter tables, in the order kube-proxy's iptables proxier writes them.
std::string iptables_restore_text(const std::vector<PeerService>& services);
// table ip kube-proxy: service-ips vmap -> service-* chain (numgen random vmap) -> endpoint-* chains.
std::string kube_proxy_nft_text(const std::vector<PeerService>& services);

std::string ipv4_text(uint32_t host_order);

}  // namespace podnet::bench
