// The agent's side of the fast path with the real program (FastPath::open loads fastpath.bpf.c):
// the loader and its pins, the maps it fills, tc attachment, and packets between two pods on a
// bridge in namespaces of our own, with and without a Service-style DNAT in the node namespace.
#include "fastpath/fastpath.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fastpath/bpf_sys.h"
#include "fastpath/fastpath_abi.h"
#include "fastpath/pod_attach.h"
#include "netlink/link.h"
#include "netlink/netns.h"
#include "support/bpf_fixture.h"

namespace podnet::fastpath {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;

std::string random_suffix() {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", std::random_device{}());
  return buf;
}

IpAddress ip(const char* text) {
  auto a = parse_ip(text);
  EXPECT_TRUE(a) << text;
  return a ? *a : IpAddress{};
}

IpPrefix prefix(const char* text) {
  auto p = parse_prefix(text);
  EXPECT_TRUE(p) << text;
  return p ? *p : IpPrefix{};
}

__u32 be32(const char* text) {
  auto bytes = ip(text).to_v4().to_bytes();
  __u32 v;
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

// True when `path` is a mount point of a bpffs in this process's mount namespace.
bool bpffs_mounted_at(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point;
    fields >> id >> parent >> dev >> root >> mount_point;
    if (mount_point != path) continue;
    auto dash = line.find(" - ");
    if (dash != std::string::npos && line.compare(dash + 3, 4, "bpf ") == 0) return true;
  }
  return false;
}

bool on_bpffs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == kBpfFsMagic;
}

// /var/tmp/pn-fptest-XXXXXX, not on a bpffs: FastPath::open mounts one there. Whatever is left
// (a mount, pins, the directory) goes at scope exit, also when the test failed halfway.
class FreshDir {
 public:
  FreshDir() {
    std::string tmpl = "/var/tmp/pn-fptest-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
    else
      path_ = tmpl;
  }
  ~FreshDir() {
    if (path_.empty()) return;
    while (bpffs_mounted_at(path_))  // unmounting the private bpffs drops its pins with it
      if (::umount2(path_.c_str(), MNT_DETACH) != 0) {
        ADD_FAILURE() << "umount " << path_ << ": " << std::strerror(errno);
        break;
      }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec) ADD_FAILURE() << "remove " << path_ << ": " << ec.message();
  }
  FreshDir(const FreshDir&) = delete;
  FreshDir& operator=(const FreshDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A named namespace pn-fpt-<random>; deleting it destroys its links (veth pairs included) and
// the tc attachments on them.
class Netns {
 public:
  Netns() : name_("pn-fpt-" + random_suffix()) {
    auto ns = netlink::create_named_netns(name_);
    if (!ns) throw std::runtime_error("create netns " + name_ + ": " + ns.error().message());
    ns_.emplace(std::move(*ns));
    auto lo = ns_->run([]() -> Status {
      PODNET_TRY(nl, netlink::Netlink::open());
      PODNET_TRY(index, nl.index_of("lo"));
      return nl.set_up(index);
    });
    if (!lo) ADD_FAILURE() << "lo up in " << name_ << ": " << lo.error().message();
  }
  ~Netns() {
    ns_.reset();
    if (auto s = netlink::delete_named_netns(name_); !s) ADD_FAILURE() << s.error().message();
  }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  int fd() const { return ns_->fd(); }
  template <class F>
  auto run(F&& f) const -> decltype(f()) {
    return ns_->run(std::forward<F>(f));
  }
  // A netlink socket keeps the namespace it was opened in.
  netlink::Netlink netlink() const {
    auto nl = run([] { return netlink::Netlink::open(); });
    if (!nl) throw std::runtime_error("netlink in " + name_ + ": " + nl.error().message());
    return std::move(*nl);
  }
  // Runs a shell command (no single quotes) inside; returns its exit status and output.
  std::pair<int, std::string> sh(const std::string& cmd) const {
    std::string out;
    int rc = -1;
    if (FILE* p = ::popen(("ip netns exec " + name_ + " sh -c '" + cmd + "' 2>&1").c_str(), "r")) {
      char buf[4096];
      for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
      rc = ::pclose(p);
    }
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
  }

 private:
  std::string name_;
  std::optional<netlink::NetNs> ns_;
};

Result<uint32_t> pinned_prog_id(const std::string& dir, const char* name) {
  PODNET_TRY(fd, bpf_obj_get(dir + "/" + name));
  return prog_id(fd.get());
}

// ---------------------------------------------------------------------------------------------
// 1. The loader.

constexpr const char* kAllPins[] = {kFromPodProgram, kFromNodeProgram, kPodsMap,   kConfigMap,    kTunnelsMap,
                                    kStatsMap,       kFlowsMap,        kEventsMap, kEventsLostMap};

TEST(FastPathLoader, OpenMountsPinsReusesAndRemovePinsCleansUp) {
  ASSERT_EQ(::geteuid(), 0u) << "bpf tests need root";
  FreshDir dir;
  ASSERT_FALSE(dir.path().empty());
  ASSERT_FALSE(on_bpffs(dir.path()));

  auto fp = FastPath::open(dir.path());
  ASSERT_TRUE(fp) << fp.error().message();
  EXPECT_EQ(fp->dir(), dir.path());
  EXPECT_TRUE(bpffs_mounted_at(dir.path())) << "a private bpffs at " << dir.path();
  for (const char* name : kAllPins) {
    auto fd = bpf_obj_get(dir.path() + "/" + name);
    EXPECT_TRUE(fd) << name << ": " << (fd ? "" : fd.error().message());
  }
  auto from_pod = pinned_prog_id(dir.path(), kFromPodProgram);
  auto from_node = pinned_prog_id(dir.path(), kFromNodeProgram);
  ASSERT_TRUE(from_pod) << from_pod.error().message();
  ASSERT_TRUE(from_node) << from_node.error().message();
  EXPECT_NE(*from_pod, *from_node);
  auto zero = fp->stats();
  ASSERT_TRUE(zero) << zero.error().message();
  EXPECT_EQ(
      zero->to_local_pod + zero->to_remote_node + zero->conntrack + zero->stack + zero->encap + zero->decap,
      0u);

  // What podnet-cni writes stays across an agent restart.
  auto pins = open_pod_pins(dir.path());
  ASSERT_TRUE(pins && *pins);
  const netlink::Mac mac{0x02, 0, 0, 0xaa, 0xbb, 0xcc};
  ASSERT_TRUE(add_pod(**pins, 4242, mac, {ip("10.99.5.5")}));

  auto again = FastPath::open(dir.path());
  ASSERT_TRUE(again) << again.error().message();
  auto from_pod2 = pinned_prog_id(dir.path(), kFromPodProgram);
  auto from_node2 = pinned_prog_id(dir.path(), kFromNodeProgram);
  ASSERT_TRUE(from_pod2 && from_node2);
  EXPECT_EQ(*from_pod2, *from_pod) << "the pinned program, not a new load";
  EXPECT_EQ(*from_node2, *from_node);
  {
    auto pods = bpf_obj_get(dir.path() + "/" + kPodsMap);
    ASSERT_TRUE(pods);
    pn_pod v{};
    __u32 k = be32("10.99.5.5");
    auto found = map_lookup(pods->get(), &k, &v);
    ASSERT_TRUE(found && *found) << "the pn_pods entry survived the second open";
    EXPECT_EQ(v.ifindex, 4242u);
    EXPECT_EQ(std::memcmp(v.mac, mac.data(), 6), 0);
  }
  // The second instance writes the same maps: its configuration is read through the first one's
  // pinned pn_config.
  NodeConfig cfg;
  cfg.cluster = prefix("10.99.0.0/16");
  cfg.bridge_ifindex = 7;
  cfg.node_ip = ip("192.0.2.1");
  ASSERT_TRUE(again->configure(cfg));
  {
    auto config = bpf_obj_get(dir.path() + "/" + kConfigMap);
    ASSERT_TRUE(config);
    pn_config c{};
    __u32 k = 0;
    auto found = map_lookup(config->get(), &k, &c);
    ASSERT_TRUE(found && *found);
    EXPECT_EQ(c.cluster_net, be32("10.99.0.0"));
    EXPECT_EQ(c.cluster_mask, be32("255.255.0.0"));
    EXPECT_EQ(c.bridge_ifindex, 7u);
    EXPECT_EQ(c.node_ip, be32("192.0.2.1"));
    EXPECT_EQ(c.vxlan_port, 0) << "no VXLAN configured";
  }

  auto removed = remove_pins(dir.path());
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_FALSE(bpffs_mounted_at(dir.path()));
  EXPECT_FALSE(std::filesystem::exists(dir.path()));
  removed = remove_pins(dir.path());
  EXPECT_TRUE(removed) << "a directory that is gone is nothing to do: " << removed.error().message();
}

TEST(FastPathLoader, ADirectoryInsideABpffsGetsNoMountOfItsOwn) {
  ASSERT_EQ(::geteuid(), 0u) << "bpf tests need root";
  podnet::testing::BpfFs fs;
  ASSERT_TRUE(fs.ok());
  const std::string dir = fs.path() + "/podnet";
  auto fp = FastPath::open(dir);
  ASSERT_TRUE(fp) << fp.error().message();
  EXPECT_FALSE(bpffs_mounted_at(dir)) << "pinned in the bpffs that is already there";
  EXPECT_TRUE(pinned_prog_id(dir, kFromPodProgram));
  auto removed = remove_pins(dir);
  EXPECT_TRUE(removed) << removed.error().message();
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_TRUE(bpffs_mounted_at(fs.path())) << "the outer bpffs is not ours to unmount";
}

// ---------------------------------------------------------------------------------------------
// 2. Tunnels.

struct TunnelEntry {
  pn_tunnel_key key;
  pn_tunnel value;
};

std::vector<TunnelEntry> read_tunnels(const std::string& dir) {
  std::vector<TunnelEntry> out;
  auto fd = bpf_obj_get(dir + "/" + kTunnelsMap);
  EXPECT_TRUE(fd);
  if (!fd) return out;
  union bpf_attr attr;
  pn_tunnel_key key{}, next{};
  bool first = true;
  for (;;) {
    std::memset(&attr, 0, sizeof attr);
    attr.map_fd = static_cast<uint32_t>(fd->get());
    attr.key = first ? 0 : reinterpret_cast<uintptr_t>(&key);
    attr.next_key = reinterpret_cast<uintptr_t>(&next);
    if (podnet::testing::sys_bpf(BPF_MAP_GET_NEXT_KEY, attr) != 0) break;
    first = false;
    key = next;
    TunnelEntry e{key, {}};
    auto found = map_lookup(fd->get(), &key, &e.value);
    EXPECT_TRUE(found && *found);
    out.push_back(e);
  }
  return out;
}

TEST(FastPathTunnels, SetTunnelsMakesTheMapHoldExactlyTheSet) {
  ASSERT_EQ(::geteuid(), 0u) << "bpf tests need root";
  FreshDir dir;
  auto fp = FastPath::open(dir.path());
  ASSERT_TRUE(fp) << fp.error().message();

  const netlink::Mac mac_b{0x02, 0xbb, 0, 0, 0, 1}, mac_c{0x02, 0xcc, 0, 0, 0, 1};
  Tunnel b{prefix("10.99.1.0/24"), ip("192.0.2.11"), mac_b};
  Tunnel c{prefix("10.99.2.0/24"), ip("192.0.2.12"), mac_c};
  Tunnel v6{prefix("fd00:99:3::/64"), ip("2001:db8::13"), mac_c};
  Tunnel v6_node{prefix("10.99.4.0/24"), ip("2001:db8::14"), mac_c};
  auto s = fp->set_tunnels({b, c, v6, v6_node});
  ASSERT_TRUE(s) << s.error().message();
  auto all = read_tunnels(dir.path());
  ASSERT_EQ(all.size(), 2u) << "two IPv4 tunnels; the IPv6 ones skipped";

  s = fp->set_tunnels({c, v6});
  ASSERT_TRUE(s) << s.error().message();
  all = read_tunnels(dir.path());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].key.prefixlen, 24u);
  EXPECT_EQ(all[0].key.addr, be32("10.99.2.0"));
  EXPECT_EQ(all[0].value.node_ip, be32("192.0.2.12"));
  EXPECT_EQ(std::memcmp(all[0].value.vtep_mac, mac_c.data(), 6), 0);

  // A changed value for a kept prefix is rewritten.
  c.node_ip = ip("192.0.2.22");
  ASSERT_TRUE(fp->set_tunnels({c}));
  all = read_tunnels(dir.path());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].value.node_ip, be32("192.0.2.22"));

  ASSERT_TRUE(fp->set_tunnels({}));
  EXPECT_TRUE(read_tunnels(dir.path()).empty());
}

// ---------------------------------------------------------------------------------------------
// 3. Attaching.

struct Veth {
  int host = 0;  // ifindex of the end that stays in the namespace
  int peer = 0;
  std::string host_name, peer_name;
};

Veth make_veth(const Netns& ns, const std::string& tag) {
  auto nl = ns.netlink();
  Veth v;
  const std::string rnd = random_suffix();
  v.host_name = "pn" + tag + rnd;
  v.peer_name = "pn" + tag + "p" + rnd.substr(0, 6);
  netlink::VethSpec spec;
  spec.name = v.host_name;
  spec.peer_name = v.peer_name;
  spec.up = true;
  auto s = nl.create_veth(spec);
  EXPECT_TRUE(s) << s.error().message();
  auto host = nl.index_of(v.host_name);
  auto peer = nl.index_of(v.peer_name);
  EXPECT_TRUE(host && peer);
  v.host = host ? *host : 0;
  v.peer = peer ? *peer : 0;
  return v;
}

// The programs podnet has at tc ingress of `ifindex`: none or one.
Result<std::vector<uint32_t>> query_in(const Netns& ns, int ifindex) {
  auto id = ns.run([&] { return attached_program(ifindex); });
  if (!id) return std::unexpected(id.error());
  return *id ? std::vector<uint32_t>{*id} : std::vector<uint32_t>{};
}

TEST(FastPathAttach, AttachNodeAttachPodsForgetMissingPods) {
  ASSERT_EQ(::geteuid(), 0u) << "bpf tests need root";
  FreshDir dir;
  auto fp = FastPath::open(dir.path());
  ASSERT_TRUE(fp) << fp.error().message();
  auto from_pod = pinned_prog_id(dir.path(), kFromPodProgram);
  auto from_node = pinned_prog_id(dir.path(), kFromNodeProgram);
  ASSERT_TRUE(from_pod && from_node);
  Netns ns;
  Veth uplink = make_veth(ns, "fu");
  Veth pod1 = make_veth(ns, "f1");
  Veth pod2 = make_veth(ns, "f2");
  ASSERT_TRUE(uplink.host && pod1.host && pod2.host);

  // pn_from_node, once however often it is asked for.
  for (int i = 0; i < 2; ++i) {
    auto s = ns.run([&] { return fp->attach_node(uplink.host); });
    ASSERT_TRUE(s) << s.error().message();
  }
  auto ids = query_in(ns, uplink.host);
  ASSERT_TRUE(ids) << ids.error().message();
  EXPECT_EQ(*ids, std::vector<uint32_t>{*from_node});

  // pn_from_pod on the veths podnet-cni mapped; an entry for a device that is not there is skipped.
  auto pins = open_pod_pins(dir.path());
  ASSERT_TRUE(pins && *pins);
  const netlink::Mac mac1{0x02, 0, 0, 0, 1, 1}, mac2{0x02, 0, 0, 0, 2, 2};
  ASSERT_TRUE(add_pod(**pins, pod1.host, mac1, {ip("10.99.0.11"), ip("fd00:99::11")}));
  constexpr int kNoSuchIndex = 999999;
  ASSERT_TRUE(add_pod(**pins, kNoSuchIndex, mac2, {ip("10.99.0.99")}));
  std::map<int, netlink::Mac> attached;
  auto n = ns.run([&] { return fp->attach_pods(attached); });
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(attached.size(), 1u);
  EXPECT_TRUE(attached.contains(pod1.host));
  ids = query_in(ns, pod1.host);
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, std::vector<uint32_t>{*from_pod});
  n = ns.run([&] { return fp->attach_pods(attached); });
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 0u) << "attached already";
  ids = query_in(ns, pod1.host);
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->size(), 1u);

  // A second pod later: only it is attached. Called with a fresh memory (an agent restart), the
  // veth already carrying pn_from_pod keeps one attachment.
  ASSERT_TRUE(add_pod(**pins, pod2.host, mac2, {ip("10.99.0.12")}));
  n = ns.run([&] { return fp->attach_pods(attached); });
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 1u);
  std::map<int, netlink::Mac> restarted;
  n = ns.run([&] { return fp->attach_pods(restarted); });
  ASSERT_TRUE(n) << n.error().message();
  for (int ifindex : {pod1.host, pod2.host}) {
    ids = query_in(ns, ifindex);
    ASSERT_TRUE(ids);
    EXPECT_EQ(*ids, std::vector<uint32_t>{*from_pod}) << "ifindex " << ifindex;
  }

  // pod2's veth goes without CNI DEL: its entry and the one for the missing device are dropped.
  {
    auto nl = ns.netlink();
    ASSERT_TRUE(nl.delete_link(pod2.host));
  }
  auto gone = ns.run([&] { return fp->forget_missing_pods(); });
  ASSERT_TRUE(gone) << gone.error().message();
  EXPECT_EQ(*gone, 2u);
  pn_pod v{};
  for (const char* addr : {"10.99.0.12", "10.99.0.99"}) {
    __u32 k = be32(addr);
    auto found = map_lookup((*pins)->pods.get(), &k, &v);
    ASSERT_TRUE(found);
    EXPECT_FALSE(*found) << addr;
  }
  __u32 k = be32("10.99.0.11");
  auto found = map_lookup((*pins)->pods.get(), &k, &v);
  ASSERT_TRUE(found);
  EXPECT_TRUE(*found) << "pod1's veth is still there";
  n = ns.run([&] { return fp->attach_pods(attached); });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(attached.size(), 1u) << "pod2 forgotten";
}

// ---------------------------------------------------------------------------------------------
// 4. Packets: a node namespace with a bridge and two pods.

constexpr uint16_t kServerPort = 8080;
constexpr int kTimeoutMs = 5000;

struct Pod {
  std::unique_ptr<Netns> ns;
  std::string ip;
  int host_veth = 0;
  netlink::Mac mac{};
};

struct Exchange {
  std::string error;      // empty: the connection and both messages went through
  std::string peer_seen;  // the client address the server's socket reports
  std::string reply;
};

Result<UniqueFd> tcp_socket_in(const Netns& ns) {
  return ns.run([]() -> Result<UniqueFd> {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fail("socket");
    return UniqueFd(fd);
  });
}

Result<UniqueFd> listen_in(const Netns& ns, uint16_t port) {
  PODNET_TRY(fd, tcp_socket_in(ns));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return fail("bind");
  if (::listen(fd.get(), 8) != 0) return fail("listen");
  return fd;
}

bool wait_for(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, kTimeoutMs) == 1 && (p.revents & events);
}

// A TCP connection from `client` to dst:port, accepted on `listener`: "ping" one way, "pong" back.
Exchange exchange(const Netns& client, int listener, const std::string& dst, uint16_t port) {
  Exchange x;
  auto c = tcp_socket_in(client);
  if (!c) return {c.error().message()};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, dst.c_str(), &a.sin_addr);
  if (::connect(c->get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS)
    return {std::string("connect: ") + std::strerror(errno)};
  if (!wait_for(listener, POLLIN)) return {"the server accepted nothing within 5 s"};
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  UniqueFd s(::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!s.valid()) return {std::string("accept: ") + std::strerror(errno)};
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
  x.peer_seen = text;
  if (!wait_for(c->get(), POLLOUT)) return {"the client never connected", x.peer_seen};
  int err = 0;
  len = sizeof err;
  ::getsockopt(c->get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return {std::string("connect: ") + std::strerror(err), x.peer_seen};
  if (::send(c->get(), "ping", 4, MSG_NOSIGNAL) != 4) return {"client send", x.peer_seen};
  char buf[16] = {};
  if (!wait_for(s.get(), POLLIN) || ::recv(s.get(), buf, sizeof buf, 0) != 4 || std::string(buf, 4) != "ping")
    return {"the server did not get ping", x.peer_seen};
  if (::send(s.get(), "pong", 4, MSG_NOSIGNAL) != 4) return {"server send", x.peer_seen};
  std::memset(buf, 0, sizeof buf);
  if (!wait_for(c->get(), POLLIN)) return {"the client got no answer", x.peer_seen};
  ssize_t n = ::recv(c->get(), buf, sizeof buf, 0);
  x.reply.assign(buf, n > 0 ? n : 0);
  return x;
}

// Waits until each link reports operstate UP (a fresh veth drops what is sent before).
void wait_oper_up(netlink::Netlink& nl, std::initializer_list<int> links) {
  for (int index : links) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      auto l = nl.get_link(index);
      ASSERT_TRUE(l) << l.error().message();
      if (l->oper_up) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << l->name << " never came up";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

class FastPathDatapath : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "bpf tests need root";
    node_ = std::make_unique<Netns>();
    auto nl = node_->netlink();
    const std::string rnd = random_suffix();

    netlink::BridgeSpec br;
    br.name = "pnbr" + rnd;
    auto bridge = nl.ensure_bridge(br);
    ASSERT_TRUE(bridge) << bridge.error().message();
    bridge_ = bridge->index;
    bridge_mac_ = netlink::random_mac();
    ASSERT_TRUE(nl.set_mac(bridge_, bridge_mac_));  // fixed, whatever ports join
    ASSERT_TRUE(nl.add_address(bridge_, prefix("10.99.0.1/24")));
    ASSERT_TRUE(nl.set_up(bridge_));
    // The uplink: a veth whose far end stays here too, with the node's IP.
    netlink::VethSpec up;
    up.name = "pnup" + rnd;
    up.peer_name = "pnupp" + rnd.substr(0, 6);
    up.up = true;
    ASSERT_TRUE(nl.create_veth(up));
    auto uplink = nl.index_of(up.name);
    auto uplink_peer = nl.index_of(up.peer_name);
    ASSERT_TRUE(uplink && uplink_peer);
    uplink_ = *uplink;
    ASSERT_TRUE(nl.set_up(*uplink_peer));
    ASSERT_TRUE(nl.add_address(uplink_, prefix("192.0.2.1/24")));
    auto fwd = node_->run([] { return netlink::set_sysctl("net.ipv4.ip_forward", "1"); });
    ASSERT_TRUE(fwd) << fwd.error().message();
    // Bridged IPv4 through netfilter, as Services on a bridge need (the kernel's default once
    // br_netfilter is loaded): the reply of a DNATed connection between two pods of one bridge is
    // bridged, and only this gives conntrack the chance to undo the DNAT.
    auto brnf = node_->run([] { return netlink::set_sysctl("net.bridge.bridge-nf-call-iptables", "1"); });
    ASSERT_TRUE(brnf) << "br_netfilter is needed: " << brnf.error().message();

    for (const char* addr : {"10.99.0.2", "10.99.0.3"}) {
      Pod p;
      p.ns = std::make_unique<Netns>();
      p.ip = addr;
      netlink::VethSpec v;
      v.name = "pnv" + random_suffix();
      v.peer_name = "eth0";
      v.peer_netns_fd = p.ns->fd();
      v.master = bridge_;
      v.up = true;
      auto s = nl.create_veth(v);
      ASSERT_TRUE(s) << s.error().message();
      auto host = nl.index_of(v.name);
      ASSERT_TRUE(host);
      p.host_veth = *host;
      auto pnl = p.ns->netlink();
      auto eth0 = pnl.get_link("eth0");
      ASSERT_TRUE(eth0) << eth0.error().message();
      p.mac = eth0->mac;
      ASSERT_TRUE(pnl.add_address(eth0->index, prefix((std::string(addr) + "/24").c_str())));
      ASSERT_TRUE(pnl.set_up(eth0->index));
      netlink::RouteSpec def;
      def.dst = prefix("0.0.0.0/0");
      def.gateway = ip("10.99.0.1");
      auto r = pnl.add_route(def);
      ASSERT_TRUE(r) << r.error().message();
      wait_oper_up(pnl, {eth0->index});
      if (HasFatalFailure()) return;
      pods_.push_back(std::move(p));
    }
    wait_oper_up(nl, {bridge_, uplink_, pods_[0].host_veth, pods_[1].host_veth});
    if (HasFatalFailure()) return;

    // A Service: 10.96.77.77:80 DNATed to pod B in the node's stack, in a table of our own.
    table_ = "pn-fpt-" + rnd;
    auto [rc, out] =
        node_->sh("nft add table ip " + table_ + " && nft add chain ip " + table_ +
                  " pre { type nat hook prerouting priority dstnat \\; } && nft add rule ip " + table_ +
                  " pre ip daddr 10.96.77.77 tcp dport 80 dnat to 10.99.0.3:" + std::to_string(kServerPort));
    ASSERT_EQ(rc, 0) << out;

    auto server = listen_in(*pods_[1].ns, kServerPort);
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(*server);
  }

  void TearDown() override {
    if (node_ && !table_.empty()) {
      auto [rc, out] = node_->sh("nft delete table ip " + table_);
      EXPECT_EQ(rc, 0) << out;
    }
    server_.reset();
    pods_.clear();
    node_.reset();
  }

  Result<FastPath> open_configured() {
    PODNET_TRY(fp, FastPath::open(dir_.path()));
    NodeConfig cfg;
    cfg.cluster = prefix("10.99.0.0/16");
    cfg.bridge_ifindex = bridge_;
    cfg.bridge_mac = bridge_mac_;
    cfg.node_ip = ip("192.0.2.1");
    cfg.uplink_ifindex = uplink_;
    if (auto s = fp.configure(cfg); !s) return std::unexpected(s.error());
    PODNET_TRY(pins, open_pod_pins(dir_.path()));
    if (!pins) return fail_msg("pn_pods is not pinned");
    for (const auto& p : pods_)
      if (auto s = add_pod(*pins, p.host_veth, p.mac, {ip(p.ip.c_str())}); !s)
        return std::unexpected(s.error());
    return fp;
  }

  // Pod A connects to dst:port and pings; the server (pod B) must see A's own address and answer.
  ::testing::AssertionResult a_talks_to(const std::string& dst, uint16_t port) {
    auto x = exchange(*a().ns, server_.get(), dst, port);
    if (!x.error.empty()) return ::testing::AssertionFailure() << x.error;
    if (x.peer_seen != a().ip) return ::testing::AssertionFailure() << "the server saw " << x.peer_seen;
    if (x.reply != "pong") return ::testing::AssertionFailure() << "the reply was " << x.reply;
    return ::testing::AssertionSuccess();
  }

  Pod& a() { return pods_[0]; }
  Pod& b() { return pods_[1]; }

  FreshDir dir_;  // destroyed last: the bpffs outlives the namespaces
  std::unique_ptr<Netns> node_;
  std::vector<Pod> pods_;
  int bridge_ = 0, uplink_ = 0;
  netlink::Mac bridge_mac_{};
  std::string table_;
  UniqueFd server_;
};

TEST_F(FastPathDatapath, PodToPodIsFastAndServiceRepliesGoThroughConntrack) {
  auto fp = open_configured();
  ASSERT_TRUE(fp) << fp.error().message();

  // c. Without pn_from_pod on the veths both work through the bridge and the stack alone.
  ASSERT_TRUE(a_talks_to(b().ip, kServerPort)) << "pod to pod without the fast path";
  ASSERT_TRUE(a_talks_to("10.96.77.77", 80)) << "pod to Service without the fast path";
  auto before = fp->stats();
  ASSERT_TRUE(before) << before.error().message();
  EXPECT_EQ(before->to_local_pod + before->conntrack + before->stack, 0u) << "nothing attached yet";

  std::map<int, netlink::Mac> attached;
  auto n = node_->run([&] { return fp->attach_pods(attached); });
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 2u);

  // a. Pod to pod: past the bridge, both ways, and the server sees pod A's own address.
  ASSERT_TRUE(a_talks_to(b().ip, kServerPort)) << "pod to pod with the fast path";
  auto fast = fp->stats();
  ASSERT_TRUE(fast) << fast.error().message();
  // SYN, SYN-ACK, ACK, ping, its ACK, pong: each one redirected into the other pod.
  EXPECT_GE(fast->to_local_pod, before->to_local_pod + 6);
  EXPECT_EQ(fast->conntrack, before->conntrack) << "no node conntrack entry for a pod-IP connection";
  EXPECT_EQ(fast->to_remote_node, 0u);

  // b. Pod to Service: the request is not for the cluster range and takes the stack, which
  // DNATs it; B's replies, addressed to pod A, must go through the stack too, or A sees answers
  // from 10.99.0.3 it never asked and resets the connection.
  ASSERT_TRUE(a_talks_to("10.96.77.77", 80)) << "pod to Service with the fast path";
  auto service = fp->stats();
  ASSERT_TRUE(service) << service.error().message();
  // SYN-ACK, ping's ACK, pong, at least.
  EXPECT_GE(service->conntrack, fast->conntrack + 3) << "B's replies found the node's conntrack entry";
  EXPECT_EQ(service->to_local_pod, fast->to_local_pod)
      << "no packet of a DNATed connection went past the stack";

  // And pod to pod again afterwards: still fast.
  ASSERT_TRUE(a_talks_to(b().ip, kServerPort)) << "pod to pod after the Service";
  auto again = fp->stats();
  ASSERT_TRUE(again);
  EXPECT_GE(again->to_local_pod, service->to_local_pod + 6);

  // c. Flags (NetworkPolicy, datapath.md section 3): a pod selected in either direction, or
  // pending, takes the stack both ways; clearing the flags brings the fast path back.
  for (uint16_t flag : {PN_POD_INGRESS_ISOLATED, PN_POD_EGRESS_ISOLATED, PN_POD_PENDING}) {
    for (int who = 0; who < 2; ++who) {
      std::map<uint32_t, uint16_t> flags{{ipv4_be32(ip((who ? b() : a()).ip.c_str())), flag}};
      auto set = fp->set_pod_flags(flags, 0);
      ASSERT_TRUE(set) << set.error().message();
      EXPECT_EQ(*set, 1u);
      auto pre = fp->stats();
      ASSERT_TRUE(pre);
      ASSERT_TRUE(a_talks_to(b().ip, kServerPort)) << "flag " << flag << " on pod " << who;
      auto post = fp->stats();
      ASSERT_TRUE(post);
      EXPECT_EQ(post->to_local_pod, pre->to_local_pod) << "flag " << flag << " on pod " << who;
      ASSERT_TRUE(fp->set_pod_flags({}, 0));
    }
  }
  auto cleared = fp->stats();
  ASSERT_TRUE(a_talks_to(b().ip, kServerPort));
  auto fast_again = fp->stats();
  EXPECT_GE(fast_again->to_local_pod, cleared->to_local_pod + 6);
}

// Flow reports (`podnet flows`): one TCP connection carried by the fast path is reported in the
// pn_events ring buffer at its first packet each way (SYN, SYN+ACK), and again at the FIN, with
// the packets counted in between; nothing is lost; a connection through the stack (the Service)
// is not reported by the fast path.
TEST_F(FastPathDatapath, CarriedConnectionsAreReportedInTheRingBuffer) {
  auto fp = open_configured();
  ASSERT_TRUE(fp) << fp.error().message();
  std::map<int, netlink::Mac> attached;
  auto n = node_->run([&] { return fp->attach_pods(attached); });
  ASSERT_TRUE(n && *n == 2u);
  auto events = FlowEvents::open(dir_.path());
  ASSERT_TRUE(events) << events.error().message();

  ASSERT_TRUE(a_talks_to(b().ip, kServerPort));
  ASSERT_TRUE(a_talks_to("10.96.77.77", 80));  // DNATed in the stack: no fast-path report
  const uint32_t a_ip = ipv4_be32(ip(a().ip.c_str())), b_ip = ipv4_be32(ip(b().ip.c_str()));
  std::vector<FlowEvent> got;
  std::function<void(const FlowEvent&)> keep = [&](const FlowEvent& e) { got.push_back(e); };
  bool fin_out = false, fin_back = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
       std::chrono::steady_clock::now() < deadline && !(fin_out && fin_back);) {
    auto r = events->poll(100, keep);
    ASSERT_TRUE(r) << r.error().message();
    fin_out = fin_back = false;
    for (const auto& e : got) {
      fin_out |= e.saddr == a_ip && (e.tcp_flags & PN_TCP_FIN);
      fin_back |= e.saddr == b_ip && (e.tcp_flags & PN_TCP_FIN);
    }
  }
  EXPECT_TRUE(fin_out && fin_back) << got.size() << " reports";
  uint64_t out_packets = 0;
  bool syn = false, synack = false;
  for (const auto& e : got) {
    EXPECT_EQ(e.proto, IPPROTO_TCP);
    EXPECT_EQ(e.path, PN_FLOW_TO_LOCAL_POD);
    EXPECT_TRUE((e.saddr == a_ip && e.daddr == b_ip) || (e.saddr == b_ip && e.daddr == a_ip));
    if (e.saddr == a_ip) {
      EXPECT_EQ(e.dport, kServerPort);
      out_packets += e.packets;
      syn |= e.tcp_flags == PN_TCP_SYN && e.packets == 1;
    } else {
      EXPECT_EQ(e.sport, kServerPort);
      synack |= e.tcp_flags == (PN_TCP_SYN | PN_TCP_ACK);
    }
  }
  EXPECT_TRUE(syn && synack);
  EXPECT_GE(out_packets, 4u);  // SYN, ACK, ping, FIN at least
  auto lost = events->lost();
  ASSERT_TRUE(lost) << lost.error().message();
  EXPECT_EQ(*lost, 0u);
}

}  // namespace
}  // namespace podnet::fastpath
