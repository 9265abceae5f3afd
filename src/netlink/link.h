// rtnetlink operations on links, addresses, routes and neighbours through libnl-route-3.
// A Netlink handle works on the namespace it was opened in; open one per namespace.
// Lookups go by name or index, never by dumping every link, so the cost of an operation does not
// grow with the number of pods on the node.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/ip.h"

struct nl_sock;

namespace podnet::netlink {

using Mac = std::array<uint8_t, 6>;
std::string format_mac(const Mac& mac);
Result<Mac> parse_mac(std::string_view text);
// A random locally administered unicast MAC, as the kernel would pick.
Mac random_mac();

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;  // "bridge", "veth", "vxlan", "" for plain devices
  Mac mac{};
  unsigned mtu = 0;
  bool up = false;
  // operstate UP (RFC 2863): carrier on, and the kernel's link watch has caught up with it (until
  // then a new veth reports UNKNOWN, and its queue and bridge port drop what is sent).
  bool oper_up = false;
  int master = 0;  // ifindex of the bridge this link is enslaved to, 0 if none
  bool promisc = false;
};

struct BridgeSpec {
  std::string name;
  unsigned mtu = 0;  // 0: kernel default
  bool promisc = false;
  bool vlan_filtering = false;
};

struct VethSpec {
  std::string name;             // end that stays in this namespace
  std::string peer_name;        // end created directly in peer_netns_fd
  int peer_netns_fd = -1;       // target namespace of the peer
  unsigned mtu = 0;             // 0: kernel default
  int master = 0;               // enslave `name` to this bridge ifindex at creation
  std::optional<Mac> peer_mac;  // fixed MAC for the peer, else random
  std::optional<Mac> mac;       // fixed MAC for `name`, else random
  bool up = false;              // create `name` administratively up (saves a message)
};

struct VxlanSpec {
  std::string name;
  uint32_t vni = 1;
  std::optional<IpAddress> local;
  int underlay_ifindex = 0;
  uint16_t dst_port = 4789;
  unsigned mtu = 0;
  bool learning = false;
  std::optional<Mac> mac;
};

struct RouteSpec {
  IpPrefix dst;  // 0.0.0.0/0 for default
  std::optional<IpAddress> gateway;
  int oif = 0;      // output ifindex, 0: let the kernel pick from the gateway
  int table = 254;  // main
  std::optional<IpAddress> src;
  bool onlink = false;
  int scope = -1;  // -1: universe for gateway routes, link for direct ones
  unsigned mtu = 0;
  int protocol = -1;  // RTPROT_*; -1: boot when adding, any when deleting
};

struct NeighSpec {
  int ifindex = 0;
  std::optional<IpAddress> ip;  // unset for bridge FDB entries (AF_BRIDGE)
  Mac mac{};
  std::optional<IpAddress> fdb_dst;  // VXLAN FDB: remote VTEP
  bool permanent = true;             // listings: NUD_PERMANENT (or NUD_NOARP for FDB entries) is set
};

class Netlink {
 public:
  // Opens a NETLINK_ROUTE socket in the calling thread's current namespace.
  static Result<Netlink> open();
  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  ~Netlink();

  // ENODEV in the error when the link does not exist.
  Result<LinkInfo> get_link(const std::string& name);
  Result<LinkInfo> get_link(int index);
  // Only the index of `name` in the socket's namespace (one ioctl, nothing to parse); ENODEV when
  // the link does not exist.
  Result<int> index_of(const std::string& name);
  // nullopt when absent; errors only for real failures.
  Result<std::optional<LinkInfo>> find_link(const std::string& name);
  Result<std::vector<LinkInfo>> list_links();

  // Creates the bridge if missing (and sets it up); EEXIST-style error if `name` exists with another kind.
  // vlan_filtering fails with EOPNOTSUPP on kernels built without bridge VLAN filtering.
  Result<LinkInfo> ensure_bridge(const BridgeSpec& spec);
  Status create_veth(const VethSpec& spec);
  Status create_vxlan(const VxlanSpec& spec);
  Status delete_link(int index);
  Status delete_link(const std::string& name);  // ENODEV when absent
  Status set_up(int index, bool up = true);
  Status set_mtu(int index, unsigned mtu);
  Status set_master(int index, int master);
  Status set_promisc(int index, bool on);
  Status set_mac(int index, const Mac& mac);
  // Bridge port flags of an enslaved link (EOPNOTSUPP when it has no bridge master).
  Status set_hairpin(int index, bool on);
  // Adds the clsact qdisc (the tc ingress/egress hooks BPF programs attach to); EEXIST when the
  // link has one. Do it while the link is down: grafting a qdisc onto an up link deactivates its
  // transmit queues for an RCU grace period, and packets sent meanwhile are dropped.
  Status add_clsact(int index);

  // flags: IFA_F_NODAD etc. Adding an address that exists is EEXIST. An IPv4 `label` (at most 15
  // characters) marks an address as someone's, so it can be found again after a restart.
  Status add_address(int index, const IpPrefix& addr, unsigned flags = 0, const std::string& label = {});
  Status delete_address(int index, const IpPrefix& addr);  // EADDRNOTAVAIL when absent
  // family: AF_INET, AF_INET6 or AF_UNSPEC
  Result<std::vector<IpPrefix>> list_addresses(int index, int family = 0);
  // IPv4 addresses of the link carrying exactly this label.
  Result<std::vector<IpPrefix>> list_labelled_addresses(int index, const std::string& label);
  // The IPv6 way to mark an address (IPv6 has no labels): the address protocol (IFA_PROTO,
  // Linux 5.18+; `ip addr add ... proto N`), a byte that is the owner's. Built by hand: libnl
  // 3.7 knows no IFA_PROTO. Adding an address that exists is EEXIST.
  Status add_address_with_proto(int index, const IpPrefix& addr, unsigned flags, uint8_t proto);
  // Addresses of `family` on the link with this address protocol; index 0: on every link (the
  // link's index is then in each pair's first member).
  Result<std::vector<std::pair<int, IpPrefix>>> list_addresses_with_proto(int index, int family,
                                                                          uint8_t proto);

  Status add_route(const RouteSpec& route);      // EEXIST if present
  Status replace_route(const RouteSpec& route);  // create or replace
  Status delete_route(const RouteSpec& route);   // ESRCH when absent; unset fields match any route
  // Unicast routes of one table; a multipath route shows its first nexthop only.
  Result<std::vector<RouteSpec>> list_routes(int family, int table = 254);

  Status add_neighbour(const NeighSpec& n);     // replaces an existing entry
  Status delete_neighbour(const NeighSpec& n);  // ENOENT when absent
  // AF_BRIDGE entry on n.ifindex (VXLAN: with fdb_dst). An all-zero MAC (VXLAN flood list) gets
  // fdb_dst appended as one more remote; any other MAC has its entry replaced.
  Status add_fdb(const NeighSpec& n);
  Status delete_fdb(const NeighSpec& n);  // ENOENT when absent
  // Neighbour entries (ARP/NDP) of one link, any state; family AF_INET, AF_INET6 or AF_UNSPEC.
  Result<std::vector<NeighSpec>> list_neighbours(int ifindex, int family = 0);
  // Bridge FDB entries of one link (for VXLAN: with their fdb_dst).
  Result<std::vector<NeighSpec>> list_fdb(int ifindex);

  nl_sock* socket() const { return sock_; }

 private:
  explicit Netlink(nl_sock* sock) : sock_(sock) {}
  nl_sock* sock_ = nullptr;
};

// Writes /proc/sys/KEY (dots or slashes) in the calling thread's current network namespace.
Status set_sysctl(const std::string& key, const std::string& value);
Result<std::string> get_sysctl(const std::string& key);

}  // namespace podnet::netlink
