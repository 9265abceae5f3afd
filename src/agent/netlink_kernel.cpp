// NetKernel on the real kernel: rtnetlink through src/netlink, the masquerade table through
// libnftables (src/nft), gratuitous ARP through an AF_PACKET socket, unsolicited neighbour
// advertisements through a raw ICMPv6 socket.
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "agent/kernel.h"
#include "common/fd.h"
#include "nft/nft.h"

namespace podnet::agent {

using namespace netlink;

std::string masquerade_ruleset(const std::vector<IpPrefix>& pod_cidrs,
                               const std::vector<IpPrefix>& cluster_cidrs) {
  std::string out;
  for (const char* family : {"ip", "ip6"}) {
    bool v4 = std::string(family) == "ip";
    std::string t = std::string(family) + " " + kAgentTable;
    out += "add table " + t + "\ndelete table " + t + "\nadd table " + t + "\n";
    out += "add chain " + t +
           " postrouting { type nat hook postrouting priority srcnat + 10; policy accept; }\n";
    std::string cluster;
    for (const auto& c : cluster_cidrs)
      if (c.is_v4() == v4) cluster += (cluster.empty() ? "" : ", ") + c.network().str();
    const char* multicast = v4 ? "224.0.0.0/4" : "ff00::/8";
    for (const auto& p : pod_cidrs) {
      if (p.is_v4() != v4) continue;
      // Pod to pod (and pod to service, DNATed to a pod before this hook) keeps the pod's IP.
      out += "add rule " + t + " postrouting " + family + " saddr " + p.network().str();
      if (!cluster.empty()) out += " " + std::string(family) + " daddr != { " + cluster + " }";
      out += " " + std::string(family) + " daddr != " + multicast + " masquerade\n";
    }
  }
  return out;
}

namespace {

class NetlinkKernel : public NetKernel {
 public:
  explicit NetlinkKernel(Netlink nl) : nl_(std::move(nl)) {}

  Result<LinkInfo> link_with_address(const IpAddress& ip) override {
    PODNET_TRY(links, nl_.list_links());
    for (const auto& l : links) {
      PODNET_TRY(addrs, nl_.list_addresses(l.index));
      for (const auto& a : addrs)
        if (a.addr == ip) return l;
    }
    return fail("no link has address " + ip.to_string(), ENODEV);
  }
  Result<std::optional<LinkInfo>> find_link(const std::string& name) override { return nl_.find_link(name); }
  Status create_vxlan(const VxlanSpec& spec) override { return nl_.create_vxlan(spec); }
  Status delete_link(const std::string& name) override { return nl_.delete_link(name); }
  Status set_up(int ifindex) override { return nl_.set_up(ifindex); }
  Status set_mtu(int ifindex, unsigned mtu) override { return nl_.set_mtu(ifindex, mtu); }

  Result<NetState> observe(const Links& links, const std::string& label) override {
    NetState s;
    for (int family : {AF_INET, AF_INET6}) {
      PODNET_TRY(routes, nl_.list_routes(family));
      for (auto& r : routes)
        if (r.protocol == kRouteProtocol) s.routes.push_back(std::move(r));
    }
    if (links.vxlan) {
      PODNET_TRY(neigh, nl_.list_neighbours(links.vxlan));
      for (auto& n : neigh)
        if (n.permanent) s.neighbours.push_back(n);
      PODNET_TRY(fdb, nl_.list_fdb(links.vxlan));
      for (auto& n : fdb)
        if (n.fdb_dst && std::any_of(n.mac.begin(), n.mac.end(), [](uint8_t b) { return b != 0; }))
          s.fdb.push_back(n);
      PODNET_TRY(addrs, nl_.list_addresses(links.vxlan, AF_INET));
      s.vtep_addresses = std::move(addrs);
    }
    if (links.underlay) {
      PODNET_TRY(lb, nl_.list_labelled_addresses(links.underlay, label));
      s.lb_addresses = std::move(lb);
      PODNET_TRY(lb6, nl_.list_addresses_with_proto(links.underlay, AF_INET6, kAddressProtocol));
      for (auto& [_, a] : lb6) s.lb_addresses.push_back(a);
    }
    return s;
  }
  Status replace_route(const RouteSpec& r) override { return nl_.replace_route(r); }
  Status delete_route(const RouteSpec& r) override { return nl_.delete_route(r); }
  Status replace_neighbour(const NeighSpec& n) override { return nl_.add_neighbour(n); }
  Status delete_neighbour(const NeighSpec& n) override { return nl_.delete_neighbour(n); }
  Status replace_fdb(const NeighSpec& n) override { return nl_.add_fdb(n); }
  Status delete_fdb(const NeighSpec& n) override { return nl_.delete_fdb(n); }
  Status add_address(int ifindex, const IpPrefix& a, const std::string& label) override {
    if (a.is_v4()) return nl_.add_address(ifindex, a, 0, label);
    // No duplicate address detection: the owner election already makes the address this node's,
    // and a tentative address would answer no neighbour solicitation for a second or more.
    return nl_.add_address_with_proto(ifindex, a, IFA_F_NODAD, kAddressProtocol);
  }
  Status delete_address(int ifindex, const IpPrefix& a) override { return nl_.delete_address(ifindex, a); }

  Status announce(int ifindex, const Mac& mac, const IpAddress& ip) override {
    if (!ip.is_v4()) return advertise(ifindex, mac, ip);
    UniqueFd fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)));
    if (!fd.valid()) return fail("gratuitous ARP socket");
    // A gratuitous ARP request: sender and target are both the announced address.
    uint8_t pkt[28] = {};
    pkt[0] = 0, pkt[1] = ARPHRD_ETHER;
    pkt[2] = 0x08, pkt[3] = 0x00;
    pkt[4] = 6, pkt[5] = 4;
    pkt[6] = 0, pkt[7] = ARPOP_REQUEST;
    auto bytes = ip.to_v4().to_bytes();
    std::memcpy(pkt + 8, mac.data(), 6);
    std::memcpy(pkt + 14, bytes.data(), 4);
    std::memcpy(pkt + 24, bytes.data(), 4);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    std::memset(to.sll_addr, 0xff, 6);
    if (::sendto(fd.get(), pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      return fail("send gratuitous ARP for " + ip.to_string());
    return {};
  }

  // An unsolicited neighbour advertisement (RFC 4861 7.2.6) to all nodes: target the address,
  // Override set, our MAC as the target link-layer address, hop limit 255, sent from the address
  // itself; the kernel fills in the ICMPv6 checksum.
  static Status advertise(int ifindex, const Mac& mac, const IpAddress& ip) {
    std::string what = "send unsolicited neighbour advertisement for " + ip.to_string();
    UniqueFd fd(::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
    if (!fd.valid()) return fail(what + ": socket");
    int hops = 255;
    unsigned idx = static_cast<unsigned>(ifindex);
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) != 0 ||
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) != 0)
      return fail(what + ": socket options");
    auto target = ip.to_v6().to_bytes();
    sockaddr_in6 from{};
    from.sin6_family = AF_INET6;
    std::memcpy(&from.sin6_addr, target.data(), 16);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return fail(what + ": bind");
    struct {
      nd_neighbor_advert na;
      nd_opt_hdr opt;
      uint8_t lladdr[6];
    } __attribute__((packed)) pkt{};
    pkt.na.nd_na_type = ND_NEIGHBOR_ADVERT;
    pkt.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
    std::memcpy(&pkt.na.nd_na_target, target.data(), 16);
    pkt.opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
    pkt.opt.nd_opt_len = 1;  // in units of 8 bytes: type, length and the 6-byte MAC
    std::memcpy(pkt.lladdr, mac.data(), 6);
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    ::inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
    to.sin6_scope_id = idx;
    if (::sendto(fd.get(), &pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      return fail(what);
    return {};
  }

  Status set_masquerade(const std::vector<IpPrefix>& pod_cidrs,
                        const std::vector<IpPrefix>& cluster_cidrs) override {
    PODNET_TRY(nft, nft::Nft::open());
    return nft.run(masquerade_ruleset(pod_cidrs, cluster_cidrs));
  }

 private:
  Netlink nl_;
};

}  // namespace

Result<std::unique_ptr<NetKernel>> open_netlink_kernel() {
  PODNET_TRY(nl, Netlink::open());
  return std::unique_ptr<NetKernel>(new NetlinkKernel(std::move(nl)));
}

Status cleanup_agent_network() {
  PODNET_TRY(nft, nft::Nft::open());
  std::string cmds;
  for (const char* family : {"ip", "ip6"})
    cmds += std::string("add table ") + family + " " + kAgentTable + "\ndelete table " + family + " " +
            kAgentTable + "\n";
  if (auto s = nft.run(cmds); !s) return std::unexpected(wrap(s.error(), "remove agent tables"));
  PODNET_TRY(nl, Netlink::open());
  for (int family : {AF_INET, AF_INET6}) {
    PODNET_TRY(routes, nl.list_routes(family));
    for (const auto& r : routes)
      if (r.protocol == kRouteProtocol) {
        if (auto s = nl.delete_route(r); !s && s.error().code != ESRCH) return s;
      }
  }
  PODNET_TRY(links, nl.list_links());
  for (const auto& l : links) {
    PODNET_TRY(addrs,
               nl.list_labelled_addresses(l.index, l.name == "lo" ? kDnsAddressLabel : lb_label(l.name)));
    for (const auto& a : addrs)
      if (auto s = nl.delete_address(l.index, a); !s && s.error().code != EADDRNOTAVAIL) return s;
  }
  PODNET_TRY(v6, nl.list_addresses_with_proto(0, AF_INET6, kAddressProtocol));
  for (const auto& [index, a] : v6)
    if (auto s = nl.delete_address(index, a); !s && s.error().code != EADDRNOTAVAIL) return s;
  PODNET_TRY(vx, nl.find_link(kVxlanDevice));
  if (vx && vx->kind == "vxlan") {
    if (auto s = nl.delete_link(vx->index); !s) return s;
  }
  return {};
}

}  // namespace podnet::agent
