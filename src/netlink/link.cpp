#include "netlink/link.h"

#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/socket.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstring>

#include "netlink/nl_util.h"

namespace podnet::netlink {
using namespace detail;
namespace {

Status check_ifname(const std::string& name, const std::string& what) {
  // libnl silently truncates longer names, which would create a link under an unexpected name.
  if (name.empty() || name.size() >= IFNAMSIZ)
    return fail(what + ": invalid interface name \"" + name + "\"", EINVAL);
  return {};
}

LinkInfo to_info(rtnl_link* l) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(l);
  if (const char* name = rtnl_link_get_name(l)) info.name = name;
  if (const char* kind = rtnl_link_get_type(l)) info.kind = kind;
  if (nl_addr* a = rtnl_link_get_addr(l); a && nl_addr_get_len(a) == info.mac.size())
    std::memcpy(info.mac.data(), nl_addr_get_binary_addr(a), info.mac.size());
  info.mtu = rtnl_link_get_mtu(l);
  unsigned flags = rtnl_link_get_flags(l);
  info.up = flags & IFF_UP;
  info.oper_up = rtnl_link_get_operstate(l) == IF_OPER_UP;
  info.promisc = flags & IFF_PROMISC;
  info.master = rtnl_link_get_master(l);
  return info;
}

// RTM_NEWLINK on an existing link; `orig` only carries the index, so no lookup round trip is needed.
template <class Edit>
Status change_link(nl_sock* sk, int index, const std::string& what, Edit&& edit) {
  LinkPtr orig(must(rtnl_link_alloc()));
  LinkPtr changes(must(rtnl_link_alloc()));
  rtnl_link_set_ifindex(orig.get(), index);
  edit(changes.get());
  if (int err = rtnl_link_change(sk, orig.get(), changes.get(), 0); err < 0) return nl_fail(what, err);
  return {};
}

// libnl 3.7 cannot express IFLA_BR_VLAN_FILTERING, so this one message is built by hand.
Status set_vlan_filtering(nl_sock* sk, int index, bool on, const std::string& what) {
  nl_msg* msg = must(nlmsg_alloc_simple(RTM_NEWLINK, 0));
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  nlattr *info, *data;
  if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
      !(info = nla_nest_start(msg, IFLA_LINKINFO)) || nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0 ||
      !(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
      nla_put_u8(msg, IFLA_BR_VLAN_FILTERING, on ? 1 : 0) < 0) {
    nlmsg_free(msg);
    return fail(what + ": build vlan_filtering request", EMSGSIZE);
  }
  nla_nest_end(msg, data);
  nla_nest_end(msg, info);
  if (int err = nl_send_sync(sk, msg); err < 0) return nl_fail(what + ": set vlan_filtering", err);
  return {};
}

// An ifreq naming `name` (the caller has checked it fits IFNAMSIZ), for the interface ioctls.
ifreq named_ifreq(const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  return ifr;
}

// What ensure_bridge needs of an existing link (index, flags, MTU, MAC, kind), through interface
// ioctls on the netlink socket, which answer for its namespace: no RTM_GETLINK reply with
// statistics to build and parse. podnet-cni pays for the lookup on every ADD; a cold libnl parse
// of the bridge was 0.1 ms of it. The kind is the driver's name (ETHTOOL_GDRVINFO: "bridge",
// "veth", "vxlan", ...; "" for a device without one). master and oper_up are not filled in.
Result<std::optional<LinkInfo>> brief_link(nl_sock* sk, const std::string& name) {
  std::string what = "look up link " + name;
  ifreq ifr = named_ifreq(name);
  int fd = nl_socket_get_fd(sk);
  auto io = [&](unsigned long request) { return ::ioctl(fd, request, &ifr) == 0; };
  if (!io(SIOCGIFINDEX)) {
    if (errno == ENODEV) return std::optional<LinkInfo>();
    return fail(what);
  }
  LinkInfo info;
  info.name = name;
  info.index = ifr.ifr_ifindex;
  if (!io(SIOCGIFFLAGS)) return fail(what);
  info.up = ifr.ifr_flags & IFF_UP;
  info.promisc = ifr.ifr_flags & IFF_PROMISC;
  if (!io(SIOCGIFMTU)) return fail(what);
  info.mtu = static_cast<unsigned>(ifr.ifr_mtu);
  if (!io(SIOCGIFHWADDR)) return fail(what);
  if (ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER)
    std::memcpy(info.mac.data(), ifr.ifr_hwaddr.sa_data, info.mac.size());
  ethtool_drvinfo drv{};
  drv.cmd = ETHTOOL_GDRVINFO;
  ifr.ifr_data = reinterpret_cast<char*>(&drv);
  if (io(SIOCETHTOOL)) info.kind.assign(drv.driver, ::strnlen(drv.driver, sizeof drv.driver));
  return std::optional<LinkInfo>(std::move(info));
}

// Brings an existing bridge to the spec, sending nothing when it already matches.
Result<LinkInfo> adopt_bridge(nl_sock* sk, LinkInfo info, const BridgeSpec& spec, const std::string& what) {
  if (info.kind != "bridge") {
    std::string kind = info.kind.empty() ? "device" : info.kind;
    return fail(what + ": " + spec.name + " exists and is a " + kind + ", not a bridge", EEXIST);
  }
  bool mtu = spec.mtu != 0 && info.mtu != spec.mtu;
  bool promisc = spec.promisc && !info.promisc;
  if (mtu || promisc || !info.up) {
    auto s = change_link(sk, info.index, what, [&](rtnl_link* c) {
      if (mtu) rtnl_link_set_mtu(c, spec.mtu);
      rtnl_link_set_flags(c, IFF_UP | (promisc ? IFF_PROMISC : 0));
    });
    if (!s) return std::unexpected(s.error());
    if (mtu) info.mtu = spec.mtu;
    info.promisc = info.promisc || spec.promisc;
    info.up = true;
  }
  if (spec.vlan_filtering) {
    if (auto s = set_vlan_filtering(sk, info.index, true, what); !s) return std::unexpected(s.error());
  }
  return info;
}

}  // namespace

// ---- MAC addresses ------------------------------------------------------------------------------

std::string format_mac(const Mac& mac) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i) out += ':';
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0xf];
  }
  return out;
}

Result<Mac> parse_mac(std::string_view text) {
  auto bad = [&] { return fail_msg("invalid MAC address \"" + std::string(text) + "\""); };
  if (text.size() != 17) return bad();
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Mac mac{};
  for (size_t i = 0; i < mac.size(); ++i) {
    int hi = nibble(text[i * 3]), lo = nibble(text[i * 3 + 1]);
    if (hi < 0 || lo < 0) return bad();
    if (i + 1 < mac.size() && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-') return bad();
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

Mac random_mac() {
  Mac mac{};
  if (::getrandom(mac.data(), mac.size(), 0) != static_cast<ssize_t>(mac.size())) {
    uint64_t t =
        static_cast<uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(&mac);
    std::memcpy(mac.data(), &t, mac.size());
  }
  mac[0] = static_cast<uint8_t>((mac[0] & 0xfe) | 0x02);  // unicast, locally administered
  return mac;
}

// ---- socket -----------------------------------------------------------------------------------

Result<Netlink> Netlink::open() {
  nl_sock* sk = nl_socket_alloc();
  if (!sk) return fail("allocate netlink socket", ENOMEM);
  Netlink nl(sk);
  if (int err = nl_connect(sk, NETLINK_ROUTE); err < 0) return nl_fail("connect rtnetlink socket", err);
  // Every request waits for its ACK, so errors belong to the call that caused them.
  nl_socket_enable_auto_ack(sk);
  return nl;
}

Netlink::Netlink(Netlink&& o) noexcept : sock_(std::exchange(o.sock_, nullptr)) {}

Netlink& Netlink::operator=(Netlink&& o) noexcept {
  if (this != &o) {
    if (sock_) nl_socket_free(sock_);
    sock_ = std::exchange(o.sock_, nullptr);
  }
  return *this;
}

Netlink::~Netlink() {
  if (sock_) nl_socket_free(sock_);
}

// ---- links ------------------------------------------------------------------------------------

Result<LinkInfo> Netlink::get_link(const std::string& name) {
  std::string what = "get link " + name;
  if (auto s = check_ifname(name, what); !s) return std::unexpected(s.error());
  rtnl_link* l = nullptr;
  if (int err = rtnl_link_get_kernel(sock_, 0, name.c_str(), &l); err < 0) return nl_fail(what, err);
  LinkPtr link(l);
  return to_info(link.get());
}

Result<int> Netlink::index_of(const std::string& name) {
  std::string what = "get index of link " + name;
  if (auto s = check_ifname(name, what); !s) return std::unexpected(s.error());
  // Any socket answers the interface ioctls for its own namespace, a netlink one included.
  ifreq ifr = named_ifreq(name);
  if (::ioctl(nl_socket_get_fd(sock_), SIOCGIFINDEX, &ifr) != 0) return fail(what);
  return ifr.ifr_ifindex;
}

Result<LinkInfo> Netlink::get_link(int index) {
  rtnl_link* l = nullptr;
  if (int err = rtnl_link_get_kernel(sock_, index, nullptr, &l); err < 0)
    return nl_fail("get " + link_ref(index), err);
  LinkPtr link(l);
  return to_info(link.get());
}

Result<std::optional<LinkInfo>> Netlink::find_link(const std::string& name) {
  auto info = get_link(name);
  if (info) return std::optional<LinkInfo>(std::move(*info));
  if (info.error().code == ENODEV) return std::optional<LinkInfo>();
  return std::unexpected(info.error());
}

Result<std::vector<LinkInfo>> Netlink::list_links() {
  nl_cache* c = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_, AF_UNSPEC, &c); err < 0) return nl_fail("list links", err);
  CachePtr cache(c);
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o))
    out.push_back(to_info(reinterpret_cast<rtnl_link*>(o)));
  return out;
}

Result<LinkInfo> Netlink::ensure_bridge(const BridgeSpec& spec) {
  std::string what = "ensure bridge " + spec.name;
  if (auto s = check_ifname(spec.name, what); !s) return std::unexpected(s.error());
  // Two rounds: a concurrent ADD may create the bridge between our lookup and our create.
  for (int round = 0; round < 2; ++round) {
    auto found = brief_link(sock_, spec.name);
    if (!found) return std::unexpected(wrap(found.error(), what));
    if (*found) return adopt_bridge(sock_, **found, spec, what);

    LinkPtr link(must(rtnl_link_alloc()));
    if (int err = rtnl_link_set_type(link.get(), "bridge"); err < 0) return nl_fail(what, err);
    rtnl_link_set_name(link.get(), spec.name.c_str());
    if (spec.mtu) rtnl_link_set_mtu(link.get(), spec.mtu);
    rtnl_link_set_flags(link.get(), IFF_UP | (spec.promisc ? IFF_PROMISC : 0));
    // An explicit MAC pins it: otherwise the bridge takes its lowest port's MAC and changes it as
    // pods come and go, and every pod's ARP entry for the gateway goes stale.
    rtnl_link_set_addr(link.get(), nl_mac(random_mac()).get());
    int err = rtnl_link_add(sock_, link.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err == -NLE_EXIST) continue;
    if (err < 0) return nl_fail("create bridge " + spec.name, err);

    auto info = get_link(spec.name);
    if (!info) return std::unexpected(wrap(info.error(), what));
    if (spec.vlan_filtering) {
      if (auto s = set_vlan_filtering(sock_, info->index, true, what); !s) return std::unexpected(s.error());
    }
    return info;
  }
  return fail(what + ": link keeps appearing and disappearing", EAGAIN);
}

Status Netlink::create_veth(const VethSpec& spec) {
  std::string what = "create veth " + spec.name + " with peer " + spec.peer_name;
  if (spec.peer_netns_fd >= 0) what += " in netns fd " + std::to_string(spec.peer_netns_fd);
  if (auto s = check_ifname(spec.name, what); !s) return s;
  if (auto s = check_ifname(spec.peer_name, what); !s) return s;

  LinkPtr link(must(rtnl_link_veth_alloc()));
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(link.get(), spec.name.c_str());
  rtnl_link_set_name(peer.get(), spec.peer_name.c_str());
  if (spec.mtu) {
    rtnl_link_set_mtu(link.get(), spec.mtu);
    rtnl_link_set_mtu(peer.get(), spec.mtu);
  }
  if (spec.peer_netns_fd >= 0) rtnl_link_set_ns_fd(peer.get(), spec.peer_netns_fd);
  // One queue each way on both ends, said up front. Without it the kernel allocates one per CPU
  // and then lowers the real count to 1, and each lowering waits for an expedited RCU grace
  // period: two of them were most of the time a veth took to create. One queue is also what it
  // uses either way.
  for (auto* l : {link.get(), peer.get()}) {
    rtnl_link_set_num_tx_queues(l, 1);
    rtnl_link_set_num_rx_queues(l, 1);
  }
  if (spec.peer_mac) rtnl_link_set_addr(peer.get(), nl_mac(*spec.peer_mac).get());
  if (spec.mac) rtnl_link_set_addr(link.get(), nl_mac(*spec.mac).get());
  // The kernel applies the request's flags to the new device (libnl cannot pass flags for the peer).
  if (spec.up) rtnl_link_set_flags(link.get(), IFF_UP);
  // The kernel applies IFLA_MASTER after creating the pair, so enslaving costs no extra message.
  if (spec.master) rtnl_link_set_master(link.get(), spec.master);
  if (int err = rtnl_link_add(sock_, link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return nl_fail(what, err);
  return {};
}

Status Netlink::create_vxlan(const VxlanSpec& spec) {
  std::string what = "create vxlan " + spec.name + " id " + std::to_string(spec.vni);
  if (auto s = check_ifname(spec.name, what); !s) return s;
  LinkPtr link(must(rtnl_link_vxlan_alloc()));
  rtnl_link_set_name(link.get(), spec.name.c_str());
  if (int err = rtnl_link_vxlan_set_id(link.get(), spec.vni); err < 0) return nl_fail(what, err);
  if (spec.local) {
    if (int err = rtnl_link_vxlan_set_local(link.get(), nl_ip(*spec.local).get()); err < 0)
      return nl_fail(what, err);
  }
  if (spec.underlay_ifindex) rtnl_link_vxlan_set_link(link.get(), spec.underlay_ifindex);
  rtnl_link_vxlan_set_port(link.get(), spec.dst_port);
  rtnl_link_vxlan_set_learning(link.get(), spec.learning ? 1 : 0);
  if (spec.mtu) rtnl_link_set_mtu(link.get(), spec.mtu);
  if (spec.mac) rtnl_link_set_addr(link.get(), nl_mac(*spec.mac).get());
  if (int err = rtnl_link_add(sock_, link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return nl_fail(what, err);
  return {};
}

Status Netlink::delete_link(int index) {
  LinkPtr link(must(rtnl_link_alloc()));
  rtnl_link_set_ifindex(link.get(), index);
  if (int err = rtnl_link_delete(sock_, link.get()); err < 0)
    return nl_fail("delete " + link_ref(index), err);
  return {};
}

Status Netlink::delete_link(const std::string& name) {
  std::string what = "delete link " + name;
  if (auto s = check_ifname(name, what); !s) return s;
  LinkPtr link(must(rtnl_link_alloc()));
  rtnl_link_set_name(link.get(), name.c_str());
  if (int err = rtnl_link_delete(sock_, link.get()); err < 0) return nl_fail(what, err);
  return {};
}

Status Netlink::set_up(int index, bool up) {
  return change_link(sock_, index, "set " + link_ref(index) + (up ? " up" : " down"), [&](rtnl_link* c) {
    up ? rtnl_link_set_flags(c, IFF_UP) : rtnl_link_unset_flags(c, IFF_UP);
  });
}

Status Netlink::set_mtu(int index, unsigned mtu) {
  return change_link(sock_, index, "set mtu " + std::to_string(mtu) + " on " + link_ref(index),
                     [&](rtnl_link* c) { rtnl_link_set_mtu(c, mtu); });
}

Status Netlink::set_master(int index, int master) {
  return change_link(sock_, index, "set master of " + link_ref(index) + " to #" + std::to_string(master),
                     [&](rtnl_link* c) { rtnl_link_set_master(c, master); });
}

Status Netlink::set_promisc(int index, bool on) {
  return change_link(sock_, index,
                     std::string("set promisc ") + (on ? "on" : "off") + " on " + link_ref(index),
                     [&](rtnl_link* c) {
                       on ? rtnl_link_set_flags(c, IFF_PROMISC) : rtnl_link_unset_flags(c, IFF_PROMISC);
                     });
}

Status Netlink::set_mac(int index, const Mac& mac) {
  return change_link(sock_, index, "set mac " + format_mac(mac) + " on " + link_ref(index),
                     [&](rtnl_link* c) { rtnl_link_set_addr(c, nl_mac(mac).get()); });
}

Status Netlink::set_hairpin(int index, bool on) {
  std::string what = std::string("set hairpin ") + (on ? "on" : "off") + " on bridge port " + link_ref(index);
  // AF_BRIDGE makes libnl send RTM_SETLINK with IFLA_PROTINFO/IFLA_BRPORT_MODE, which the kernel
  // hands to the port's bridge (EOPNOTSUPP when the link is not enslaved).
  LinkPtr orig(must(rtnl_link_alloc()));
  LinkPtr changes(must(rtnl_link_alloc()));
  rtnl_link_set_ifindex(orig.get(), index);
  rtnl_link_set_family(orig.get(), AF_BRIDGE);
  rtnl_link_set_family(changes.get(), AF_BRIDGE);
  int err = on ? rtnl_link_bridge_set_flags(changes.get(), RTNL_BRIDGE_HAIRPIN_MODE)
               : rtnl_link_bridge_unset_flags(changes.get(), RTNL_BRIDGE_HAIRPIN_MODE);
  if (err >= 0) err = rtnl_link_change(sock_, orig.get(), changes.get(), 0);
  if (err < 0) return nl_fail(what, err);
  return {};
}

Status Netlink::add_clsact(int index) {
  std::string what = "add clsact qdisc on " + link_ref(index);
  // Built by hand, like set_vlan_filtering: libnl's rtnl_qdisc crashed the static podnet-cni
  // (SIGSEGV on its first use there).
  nl_msg* msg = must(nlmsg_alloc_simple(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL));
  tcmsg tc{};
  tc.tcm_family = AF_UNSPEC;
  tc.tcm_ifindex = index;
  tc.tcm_parent = TC_H_CLSACT;
  tc.tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
  if (nlmsg_append(msg, &tc, sizeof tc, NLMSG_ALIGNTO) < 0 || nla_put_string(msg, TCA_KIND, "clsact") < 0) {
    nlmsg_free(msg);
    return fail(what + ": build request", EMSGSIZE);
  }
  if (int err = nl_send_sync(sock_, msg); err < 0) return nl_fail(what, err);
  return {};
}

}  // namespace podnet::netlink
