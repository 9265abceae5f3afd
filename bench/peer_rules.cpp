// The shapes follow kube-proxy 1.31's iptables and nftables proxiers for ClusterIP services with a
// cluster CIDR: same chains, same per-packet matches, names hashed like theirs (not the same hash).
#include "bench/peer_rules.h"

#include <cstdio>

namespace podnet::bench {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64: stable, well spread chain-name hashes
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// kube-proxy: base32 of a sha256 of the service port (and endpoint), truncated to 16 / 8 chars.
std::string hash_name(uint64_t seed, size_t len) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint64_t h = mix(seed);
  for (size_t i = 0; i < len; ++i) {
    if (i == 12) h = mix(h);
    out += kAlphabet[h & 31];
    h >>= 5;
  }
  return out;
}

std::string probability(size_t remaining) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.11f", 1.0 / static_cast<double>(remaining));
  return buf;
}

}  // namespace

std::string ipv4_text(uint32_t a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
  return buf;
}

std::string iptables_restore_text(const std::vector<PeerService>& services) {
  std::string filter =
      "*filter\n"
      ":KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n"
      ":KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n"
      "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j "
      "KUBE-PROXY-FIREWALL\n"
      "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n"
      "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service "
      "portals\" -j KUBE-EXTERNAL-SERVICES\n"
      "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j "
      "KUBE-PROXY-FIREWALL\n"
      "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n"
      "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j "
      "KUBE-SERVICES\n"
      "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j "
      "KUBE-SERVICES\n"
      "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
      "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j "
      "ACCEPT\n"
      "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate "
      "RELATED,ESTABLISHED -j ACCEPT\n"
      "COMMIT\n";
  std::string chains =
      "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n"
      ":KUBE-MARK-MASQ - [0:0]\n";
  std::string rules =
      "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
      "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
      "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
      "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
      "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
      "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
      "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE "
      "--random-fully\n";
  std::string services_chain, svc_rules, sep_rules;
  uint64_t seed = 0;
  for (const auto& svc : services) {
    const std::string comment = "\"" + svc.name + ":http cluster IP\"";
    const std::string vip = ipv4_text(svc.cluster_ip);
    const std::string svc_chain = "KUBE-SVC-" + hash_name(++seed, 16);
    chains += ":" + svc_chain + " - [0:0]\n";
    services_chain += "-A KUBE-SERVICES -d " + vip + "/32 -p tcp -m comment --comment " + comment +
                      " -m tcp --dport 80 -j " + svc_chain + "\n";
    svc_rules += "-A " + svc_chain + " ! -s " + kClusterCidr + " -d " + vip +
                 "/32 -p tcp -m comment --comment " + comment + " -m tcp --dport 80 -j KUBE-MARK-MASQ\n";
    for (size_t i = 0; i < svc.endpoints.size(); ++i) {
      const std::string ep = ipv4_text(svc.endpoints[i]);
      const std::string sep_chain = "KUBE-SEP-" + hash_name(++seed, 16);
      chains += ":" + sep_chain + " - [0:0]\n";
      const size_t remaining = svc.endpoints.size() - i;
      svc_rules +=
          "-A " + svc_chain + " -m comment --comment \"" + svc.name + ":http -> " + ep + ":8080\"" +
          (remaining > 1 ? " -m statistic --mode random --probability " + probability(remaining) : "") +
          " -j " + sep_chain + "\n";
      sep_rules += "-A " + sep_chain + " -s " + ep + "/32 -m comment --comment \"" + svc.name +
                   ":http\" -j KUBE-MARK-MASQ\n";
      sep_rules += "-A " + sep_chain + " -p tcp -m comment --comment \"" + svc.name +
                   ":http\" -m tcp -j DNAT "
                   "--to-destination " +
                   ep + ":8080\n";
    }
  }
  services_chain +=
      "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last "
      "rule "
      "in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n";
  return filter + chains + rules + services_chain + svc_rules + sep_rules + "COMMIT\n";
}

std::string kube_proxy_nft_text(const std::vector<PeerService>& services) {
  std::string s =
      "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n"
      "add chain ip kube-proxy mark-for-masquerade\n"
      "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000\n"
      "add chain ip kube-proxy masquerading\n"
      "add rule ip kube-proxy masquerading mark and 0x4000 == 0 return\n"
      "add rule ip kube-proxy masquerading mark set mark xor 0x4000\n"
      "add rule ip kube-proxy masquerading masquerade fully-random\n"
      "add set ip kube-proxy cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }\n"
      "add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; "
      "comment \"vmap to drop or reject packets to services with no endpoints\" ; }\n"
      "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "
      "\"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }\n"
      "add chain ip kube-proxy services\n"
      "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips\n"
      "add chain ip kube-proxy service-endpoints-check\n"
      "add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap "
      "@no-endpoint-services\n"
      "add chain ip kube-proxy cluster-ips-check\n"
      "add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment \"Reject traffic to "
      "invalid ports of ClusterIPs\"\n"
      "add rule ip kube-proxy cluster-ips-check ip daddr { 10.96.0.0/12 } drop comment \"Drop traffic to "
      "unallocated ClusterIPs\"\n"
      "add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; }\n"
      "add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check\n"
      "add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check\n"
      "add chain ip kube-proxy filter-output { type filter hook output priority -110 ; }\n"
      "add rule ip kube-proxy filter-output ct state new jump service-endpoints-check\n"
      "add chain ip kube-proxy filter-output-post-dnat { type filter hook output priority -90 ; }\n"
      "add rule ip kube-proxy filter-output-post-dnat ct state new jump cluster-ips-check\n"
      "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }\n"
      "add rule ip kube-proxy nat-prerouting jump services\n"
      "add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }\n"
      "add rule ip kube-proxy nat-output jump services\n"
      "add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }\n"
      "add rule ip kube-proxy nat-postrouting jump masquerading\n";
  std::string elements;
  uint64_t seed = 1u << 31;
  for (const auto& svc : services) {
    const std::string vip = ipv4_text(svc.cluster_ip);
    const std::string port_name = svc.name + "/tcp/http";
    const std::string chain = "service-" + hash_name(++seed, 8) + "-" + port_name;
    s += "add chain ip kube-proxy " + chain + "\n";
    s += "add rule ip kube-proxy " + chain + " ip daddr " + vip +
         " tcp dport 80 ip saddr != " + kClusterCidr + " jump mark-for-masquerade\n";
    std::string vmap;
    for (size_t i = 0; i < svc.endpoints.size(); ++i) {
      const std::string ep = ipv4_text(svc.endpoints[i]);
      const std::string ep_chain = "endpoint-" + hash_name(++seed, 8) + "-" + port_name + "__" + ep + "/8080";
      s += "add chain ip kube-proxy " + ep_chain + "\n";
      s += "add rule ip kube-proxy " + ep_chain + " ip saddr " + ep + " jump mark-for-masquerade\n";
      s += "add rule ip kube-proxy " + ep_chain + " meta l4proto tcp dnat to " + ep + ":8080\n";
      vmap += (i ? ", " : "") + std::to_string(i) + " : goto " + ep_chain;
    }
    s += "add rule ip kube-proxy " + chain + " numgen random mod " + std::to_string(svc.endpoints.size()) +
         " vmap { " + vmap + " }\n";
    elements += "add element ip kube-proxy cluster-ips { " + vip + " }\n";
    elements += "add element ip kube-proxy service-ips { " + vip + " . tcp . 80 : goto " + chain + " }\n";
  }
  return s + elements;
}

}  // namespace podnet::bench
