#include "nft/ruleset.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace podnet::nft::detail {
namespace {

const char* fam(bool v6) {
  return v6 ? "ip6" : "ip";
}
const char* addr_type(bool v6) {
  return v6 ? "ipv6_addr" : "ipv4_addr";
}

// Without the scope id ("fe80::1%eth0" is not nft syntax).
std::string addr_text(const IpAddress& a) {
  if (a.is_v4()) return a.to_v4().to_string();
  return boost::asio::ip::address_v6(a.to_v6().to_bytes()).to_string();
}

// "10.88.0.0/24" -> "10_88_0_0-24": a chain name made of identifier characters only.
std::string net_suffix(const std::string& net) {
  std::string s = net;
  for (char& c : s) {
    if (c == '.' || c == ':') c = '_';
    if (c == '/') c = '-';
  }
  return s;
}

std::string hairpin_chain(const std::string& net) {
  return "hp-" + net_suffix(net);
}
std::string masq_chain(const std::string& net) {
  return "masq-" + net_suffix(net);
}

std::string normalize_protocol(const std::string& p) {
  std::string s = p;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Adds e unless an identical element is already planned; the same key with another value means
// the pod asked for one host port twice with different targets.
Status add_unique(std::vector<Element>& out, Element e) {
  for (const auto& o : out) {
    if (o.v6 != e.v6 || o.map != e.map || o.key != e.key) continue;
    if (o.value == e.value) return {};
    return fail("conflicting port mappings for " + std::string(family_of(e)) + " " + e.map + " key " + e.key,
                EINVAL);
  }
  out.push_back(std::move(e));
  return {};
}

std::string base_chains(const std::string& t, bool v6) {
  std::string f = fam(v6), a = addr_type(v6), p = "add chain " + f + " " + t + " ",
              r = "add rule " + f + " " + t + " ";
  std::string s;
  s += "add table " + f + " " + t + "\n";
  s += "add map " + f + " " + t + " hostports { type inet_proto . inet_service : " + a +
       " . inet_service; }\n";
  s += "add map " + f + " " + t + " hostip-ports { type " + a + " . inet_proto . inet_service : " + a +
       " . inet_service; }\n";
  s += "add map " + f + " " + t + " hairpin { type inet_proto . inet_service . " + a +
       " . inet_service : verdict; }\n";
  s += "add map " + f + " " + t + " masq { type " + a + " : verdict; }\n";
  s += p + "hostports\n";
  s += p + "prerouting { type nat hook prerouting priority dstnat; policy accept; }\n";
  // -100 is dstnat; nft 1.0.6 only accepts the keyword in prerouting.
  s += p + "output { type nat hook output priority -100; policy accept; }\n";
  s += p + "postrouting { type nat hook postrouting priority srcnat; policy accept; }\n";
  for (const char* c : {"hostports", "prerouting", "output", "postrouting"})
    s += "flush chain " + f + " " + t + " " + c + "\n";
  // Host-IP mappings first: they are more specific than "any local address".
  s += r + "hostports dnat " + f + " addr . port to " + f +
       " daddr . meta l4proto . th dport map @hostip-ports\n";
  s += r + "hostports fib daddr type local dnat " + f +
       " addr . port to meta l4proto . th dport map @hostports\n";
  s += r + "prerouting jump hostports\n";
  // No localhost hostPorts for IPv6 (like portmap): ::1 cannot be routed to a pod.
  s += r + "output " + (v6 ? "ip6 daddr != ::1 " : "") + "jump hostports\n";
  // Hairpin and localhost: a connection we DNATed (matched by its original port and its new
  // destination) whose source would get the reply straight from the pod must be masqueraded. The
  // per-subnet chain decides from the source address.
  s += r +
       "postrouting meta l4proto { tcp, udp, sctp } ct status dnat meta l4proto . ct original proto-dst . " +
       f + " daddr . th dport vmap @hairpin\n";
  s += r + "postrouting " + f + " saddr vmap @masq\n";
  return s;
}

std::string hairpin_chain_rules(const std::string& t, bool v6, const std::string& net) {
  std::string f = fam(v6), c = hairpin_chain(net);
  std::string s = "add chain " + f + " " + t + " " + c + "\nflush chain " + f + " " + t + " " + c + "\n";
  // IPv4 also covers node-local clients using 127.0.0.1 (route_localnet lets them out).
  std::string srcs = v6 ? net : "{ " + net + ", 127.0.0.0/8 }";
  s += "add rule " + f + " " + t + " " + c + " " + f + " saddr " + srcs + " masquerade\n";
  return s;
}

std::string masq_chain_rules(const std::string& t, bool v6, const std::string& net) {
  std::string f = fam(v6), c = masq_chain(net);
  std::string s = "add chain " + f + " " + t + " " + c + "\nflush chain " + f + " " + t + " " + c + "\n";
  // Like the bridge plugin's ipMasq: not within the pod's subnet, not multicast.
  std::string mcast = v6 ? "ff00::/8" : "224.0.0.0/4";
  s += "add rule " + f + " " + t + " " + c + " " + f + " daddr { " + net + ", " + mcast + " } return\n";
  s += "add rule " + f + " " + t + " " + c + " masquerade\n";
  return s;
}

// The table's one rule. Before everything else on the bridge (-300, like the reference plugin), so
// a spoofed frame is neither forwarded nor delivered to the node.
std::string bridge_chains(const std::string& t) {
  std::string p = "bridge " + t + " ";
  std::string s = "add table " + p + "\n";
  s += "add set " + p + "macspoof-checked { type ifname; }\n";
  s += "add set " + p + "macspoof-allowed { type ifname . ether_addr; }\n";
  s += "add chain " + p + "prerouting { type filter hook prerouting priority -300; policy accept; }\n";
  s += "flush chain " + p + "prerouting\n";
  s += "add rule " + p +
       "prerouting iifname @macspoof-checked iifname . ether saddr != @macspoof-allowed drop\n";
  return s;
}

// Host veth names go into nft text quoted: keep to characters that need no escaping there and
// that the state file accepts.
bool nft_safe_ifname(const std::string& n) {
  return !n.empty() && n.size() <= 15 && std::all_of(n.begin(), n.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

// "02:AB:..." -> "02:ab:..."; empty when it is not six colon-separated hex octets.
std::string normalize_mac(const std::string& mac) {
  if (mac.size() != 17) return "";
  std::string s = mac;
  for (size_t i = 0; i < s.size(); ++i) {
    bool colon = i % 3 == 2;
    if (colon != (s[i] == ':') || (!colon && !std::isxdigit(static_cast<unsigned char>(s[i])))) return "";
    s[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  }
  return s;
}

Status plan_mac_spoof_check(const MacSpoofCheck& check, Plan& plan) {
  if (!nft_safe_ifname(check.host_veth))
    return fail("macspoofchk: invalid host interface name \"" + check.host_veth + "\"", EINVAL);
  std::string mac = normalize_mac(check.mac);
  if (mac.empty()) return fail("macspoofchk: invalid MAC address \"" + check.mac + "\"", EINVAL);
  std::string port = "\"" + check.host_veth + "\"";
  plan.elements.push_back(Element{false, "macspoof-checked", port, ""});
  plan.elements.push_back(Element{false, "macspoof-allowed", port + " . " + mac, ""});
  plan.bridge = true;
  return {};
}

}  // namespace

bool is_bridge_set(const std::string& map) {
  return map == "macspoof-checked" || map == "macspoof-allowed";
}

const char* family_of(const Element& e) {
  return is_bridge_set(e.map) ? "bridge" : fam(e.v6);
}

Result<Plan> plan_pod(const PodRules& rules) {
  Plan plan;
  // Port mappings go to the first address of each family, like the portmap plugin.
  const IpPrefix* first[2] = {nullptr, nullptr};
  for (const auto& p : rules.pod_ips) {
    if (!first[p.addr.is_v6()]) first[p.addr.is_v6()] = &p;
  }
  for (const auto& m : rules.port_mappings) {
    std::string proto = normalize_protocol(m.protocol);
    if (proto != "tcp" && proto != "udp" && proto != "sctp")
      return fail("port mapping: unsupported protocol \"" + m.protocol + "\"", EINVAL);
    if (m.host_port == 0 || m.container_port == 0)
      return fail("port mapping: host and container ports must be non-zero", EINVAL);
    for (bool v6 : {false, true}) {
      const IpPrefix* pod = first[v6];
      if (!pod) continue;
      bool any = !m.host_ip || m.host_ip->is_unspecified();
      if (!any && m.host_ip->is_v6() != v6) continue;  // other family's host IP: not for this pod address
      std::string hp = std::to_string(m.host_port),
                  target = addr_text(pod->addr) + " . " + std::to_string(m.container_port);
      Element e{v6, any ? "hostports" : "hostip-ports",
                any ? proto + " . " + hp : addr_text(*m.host_ip) + " . " + proto + " . " + hp, target};
      if (auto r = add_unique(plan.elements, std::move(e)); !r) return std::unexpected(r.error());
      std::string net = pod->network().str();
      Element h{v6, "hairpin", proto + " . " + hp + " . " + target, "jump " + hairpin_chain(net)};
      if (auto r = add_unique(plan.elements, std::move(h)); !r) return std::unexpected(r.error());
      plan.hairpin_nets.insert({v6, net});
      (v6 ? plan.v6 : plan.v4) = true;
      if (!v6) plan.v4_port_mappings = true;
    }
  }
  if (rules.ip_masq) {
    for (const auto& p : rules.pod_ips) {
      bool v6 = p.addr.is_v6();
      std::string net = p.network().str();
      if (auto r =
              add_unique(plan.elements, Element{v6, "masq", addr_text(p.addr), "jump " + masq_chain(net)});
          !r)
        return std::unexpected(r.error());
      plan.masq_nets.insert({v6, net});
      (v6 ? plan.v6 : plan.v4) = true;
    }
  }
  if (rules.mac_spoof_check) {
    if (auto r = plan_mac_spoof_check(*rules.mac_spoof_check, plan); !r) return std::unexpected(r.error());
  }
  return plan;
}

std::string create_elements(const std::string& table, const std::vector<Element>& elems,
                            const std::string& comment) {
  std::string s;
  // One line per element: on a clash nft's message points at the offending one.
  for (const auto& e : elems)
    s += "create element " + std::string(family_of(e)) + " " + table + " " + e.map + " { " + e.key +
         " comment \"" + comment + "\"" + (e.value.empty() ? "" : " : " + e.value) + " }\n";
  return s;
}

std::string delete_elements(const std::string& table, const std::vector<Element>& elems) {
  std::string s;
  for (const auto& e : elems)
    s += "delete element " + std::string(family_of(e)) + " " + table + " " + e.map + " { " + e.key + " }\n";
  return s;
}

std::string get_element(const std::string& table, const Element& e) {
  return "get element " + std::string(family_of(e)) + " " + table + " " + e.map + " { " + e.key + " }";
}

std::string setup(const std::string& table, const Plan& plan) {
  std::string s;
  if (plan.v4) s += base_chains(table, false);
  if (plan.v6) s += base_chains(table, true);
  for (const auto& [v6, net] : plan.hairpin_nets) s += hairpin_chain_rules(table, v6, net);
  for (const auto& [v6, net] : plan.masq_nets) s += masq_chain_rules(table, v6, net);
  if (plan.bridge) s += bridge_chains(table);
  return s;
}

std::string remove_tables(const std::string& table) {
  std::string s;
  for (const char* f : {"ip", "ip6", "bridge"})
    s += "add table " + std::string(f) + " " + table + "\ndelete table " + f + " " + table + "\n";
  return s;
}

bool valid_table_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

std::string comment_for(const AttachmentKey& who) {
  std::string c = who.container_id + "/" + who.ifname;
  if (c.size() <= 128) return c;
  // Too long for an nft comment: keep a readable prefix and make it unique with a hash.
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : c) h = (h ^ ch) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return c.substr(0, 100) + "~" + hex;
}

}  // namespace podnet::nft::detail
