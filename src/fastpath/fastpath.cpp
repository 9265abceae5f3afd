// Loading and filling the fast path with libbpf (Debian's libbpf-dev): it parses the embedded ELF
// object, resolves the conntrack kfuncs against the kernel's BTF, creates or reuses the pinned maps
// (LIBBPF_PIN_BY_NAME) and loads the programs.
#include "fastpath/fastpath.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <array>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "fastpath/bpf_sys.h"
#include "fastpath/fastpath_abi.h"
#include "fastpath/pod_attach.h"

namespace podnet::fastpath {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;
// Where the programs sit: a cls_bpf filter (direct action) at this priority and handle of the
// device's clsact ingress hook. Classic tc, not tcx: a tcx attach waits for an RCU grace period
// while holding RTNL (7-20 ms here), and one per new pod stalls every other pod's set-up.
constexpr uint32_t kTcPriority = 1;
constexpr uint32_t kTcHandle = 0x706e;  // "pn"

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  std::array<char, 1024> line{};
  int n = std::vsnprintf(line.data(), line.size(), fmt, args);
  std::string_view text(line.data(), n < 0 ? 0 : std::min<size_t>(n, line.size() - 1));
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (level == LIBBPF_WARN)
    spdlog::warn("libbpf: {}", text);
  else
    spdlog::debug("libbpf: {}", text);
  return n;
}

bool on_bpffs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == kBpfFsMagic;
}

Status ensure_bpffs(const std::string& dir) {
  // Created first: a new directory below a bpffs (/sys/fs/bpf/podnet) is on it, and needs no
  // instance of its own (which remove_pins() would not unmount).
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("create " + dir, ec.value());
  if (on_bpffs(dir)) return {};
  if (::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700") != 0) return fail("mount a bpffs at " + dir);
  return {};
}

std::string pin(const std::string& dir, const char* name) {
  return dir + "/" + name;
}

Result<UniqueFd> dup_fd(int fd, const std::string& what) {
  int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0) return fail("dup " + what);
  return UniqueFd(d);
}

uint32_t mask_be32(int len) {
  uint32_t host = len <= 0 ? 0 : ~uint32_t{0} << (32 - len);
  return htonl(host);
}

Result<std::string> prog_name(uint32_t id, UniqueFd& fd_out) {
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return fail("open program " + std::to_string(id), errno);
  fd_out.reset(fd);
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return fail("read program " + std::to_string(id), errno);
  return std::string(info.name);
}

}  // namespace

Result<FastPath> FastPath::open(const std::string& bpf_dir) {
  libbpf_set_print(libbpf_log);
  if (auto s = ensure_bpffs(bpf_dir); !s) return std::unexpected(s.error());
  FastPath fp;
  fp.dir_ = bpf_dir;

  // A restart: everything pinned already, nothing to load.
  auto from_pod = bpf_obj_get(pin(bpf_dir, kFromPodProgram));
  auto from_node = bpf_obj_get(pin(bpf_dir, kFromNodeProgram));
  if (from_pod && from_node) {
    fp.from_pod_ = std::move(*from_pod);
    fp.from_node_ = std::move(*from_node);
    UniqueFd flows, events, lost;  // only checked: a pin set from before flow events is reloaded
    std::array<std::pair<const char*, UniqueFd*>, 7> maps{{{kPodsMap, &fp.pods_},
                                                           {kConfigMap, &fp.config_},
                                                           {kTunnelsMap, &fp.tunnels_},
                                                           {kStatsMap, &fp.stats_},
                                                           {kFlowsMap, &flows},
                                                           {kEventsMap, &events},
                                                           {kEventsLostMap, &lost}}};
    bool all = true;
    for (auto& [name, fd] : maps) {
      auto m = bpf_obj_get(pin(bpf_dir, name));
      if (!m) {
        all = false;
        break;
      }
      *fd = std::move(*m);
    }
    if (all) return fp;
  }

  auto bytes = object_file();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "podnet_fastpath", .pin_root_path = bpf_dir.c_str());
  bpf_object* obj = bpf_object__open_mem(bytes.data(), bytes.size(), &opts);
  if (!obj) return fail("open the fast path's BPF object", errno);
  struct Closer {
    bpf_object* o;
    ~Closer() { bpf_object__close(o); }
  } closer{obj};
  if (int err = bpf_object__load(obj); err)
    return fail("load the fast path into the kernel (pinned maps of another podnet version in " + bpf_dir +
                    "? `podnet agent --cleanup` removes them)",
                -err);
  for (auto [name, out] :
       {std::pair{kFromPodProgram, &fp.from_pod_}, std::pair{kFromNodeProgram, &fp.from_node_}}) {
    bpf_program* prog = bpf_object__find_program_by_name(obj, name);
    if (!prog) return fail_msg(std::string("the BPF object has no program ") + name);
    std::string path = pin(bpf_dir, name);
    ::unlink(path.c_str());
    if (int err = bpf_program__pin(prog, path.c_str()); err) return fail("pin " + path, -err);
    PODNET_TRY(fd, dup_fd(bpf_program__fd(prog), name));
    *out = std::move(fd);
  }
  for (auto [name, out] : {std::pair{kPodsMap, &fp.pods_}, std::pair{kConfigMap, &fp.config_},
                           std::pair{kTunnelsMap, &fp.tunnels_}, std::pair{kStatsMap, &fp.stats_}}) {
    bpf_map* map = bpf_object__find_map_by_name(obj, name);
    if (!map) return fail_msg(std::string("the BPF object has no map ") + name);
    PODNET_TRY(fd, dup_fd(bpf_map__fd(map), name));
    *out = std::move(fd);
  }
  spdlog::info("fast path loaded and pinned in {}", bpf_dir);
  return fp;
}

Status FastPath::configure(const NodeConfig& c) {
  pn_config v{};
  if (!c.cluster.is_v4()) return fail_msg("fast path: the cluster range " + c.cluster.str() + " is not IPv4");
  v.cluster_net = ipv4_be32(c.cluster.network().addr);
  v.cluster_mask = mask_be32(c.cluster.len);
  v.bridge_ifindex = c.bridge_ifindex;
  std::memcpy(v.bridge_mac, c.bridge_mac.data(), 6);
  if (c.node_ip.is_v4()) v.node_ip = ipv4_be32(c.node_ip);
  v.uplink_ifindex = c.uplink_ifindex;
  if (c.vxlan && c.node_ip.is_v4()) {
    v.vxlan_port = htons(c.vxlan->port);
    v.vni = c.vxlan->vni;
    std::memcpy(v.vtep_mac, c.vxlan->vtep_mac.data(), 6);
  }
  uint32_t zero = 0;
  if (bpf_map_update_elem(config_.get(), &zero, &v, BPF_ANY) != 0)
    return fail("write " + pin(dir_, kConfigMap));
  return {};
}

Status FastPath::set_tunnels(const std::vector<Tunnel>& tunnels) {
  std::vector<std::pair<pn_tunnel_key, pn_tunnel>> want;
  for (const auto& t : tunnels) {
    if (!t.pod_cidr.is_v4() || !t.node_ip.is_v4()) continue;
    pn_tunnel_key k{static_cast<__u32>(t.pod_cidr.len), ipv4_be32(t.pod_cidr.network().addr)};
    pn_tunnel v{};
    v.node_ip = ipv4_be32(t.node_ip);
    std::memcpy(v.vtep_mac, t.vtep_mac.data(), 6);
    want.emplace_back(k, v);
  }
  auto same_key = [](const pn_tunnel_key& a, const pn_tunnel_key& b) {
    return a.prefixlen == b.prefixlen && a.addr == b.addr;
  };
  // Stale keys first (collected, then deleted: deleting while iterating restarts the walk).
  std::vector<pn_tunnel_key> stale;
  pn_tunnel_key key{}, next{};
  bool first = true;
  while (bpf_map_get_next_key(tunnels_.get(), first ? nullptr : &key, &next) == 0) {
    first = false;
    key = next;
    bool wanted = false;
    for (const auto& [k, _] : want) wanted |= same_key(k, key);
    if (!wanted) stale.push_back(key);
  }
  for (const auto& k : stale)
    if (bpf_map_delete_elem(tunnels_.get(), &k) != 0 && errno != ENOENT)
      return fail("delete from " + pin(dir_, kTunnelsMap));
  for (const auto& [k, v] : want) {
    pn_tunnel cur{};
    if (bpf_map_lookup_elem(tunnels_.get(), &k, &cur) == 0 && std::memcmp(&cur, &v, sizeof(v)) == 0) continue;
    if (bpf_map_update_elem(tunnels_.get(), &k, &v, BPF_ANY) != 0)
      return fail("write " + pin(dir_, kTunnelsMap));
  }
  return {};
}

namespace {

// Calls fn(key, value) for every pn_pods entry.
template <class F>
void each_pod(int pods_fd, F fn) {
  uint32_t key = 0, next = 0;
  bool first = true;
  while (bpf_map_get_next_key(pods_fd, first ? nullptr : &key, &next) == 0) {
    first = false;
    key = next;
    pn_pod pod{};
    if (bpf_map_lookup_elem(pods_fd, &key, &pod) == 0) fn(key, pod);
  }
}

}  // namespace

Result<uint32_t> attached_program(int ifindex) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, query, .handle = kTcHandle, .priority = kTcPriority);
  int err = bpf_tc_query(&hook, &query);
  if (err == -ENOENT || err == -EINVAL) return 0u;  // no clsact, or no filter of ours
  if (err) return fail("query the tc ingress filters of ifindex " + std::to_string(ifindex), -err);
  return query.prog_id;
}

Status FastPath::attach(int prog_fd, const char* name, int ifindex) {
  PODNET_TRY(ours, prog_id(prog_fd));
  PODNET_TRY(current, attached_program(ifindex));
  if (current == ours) return {};
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  if (int err = bpf_tc_hook_create(&hook); err && err != -EEXIST)
    return fail("add a clsact qdisc to ifindex " + std::to_string(ifindex), -err);
  // REPLACE: an earlier load's program at our handle is swapped atomically.
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle,
              .priority = kTcPriority);
  if (int err = bpf_tc_attach(&hook, &opts); err)
    return fail(std::string("attach ") + name + " at tc ingress of ifindex " + std::to_string(ifindex), -err);
  return {};
}

Status FastPath::attach_node(int ifindex) {
  return attach(from_node_.get(), kFromNodeProgram, ifindex);
}

Result<size_t> FastPath::attach_pods(std::map<int, netlink::Mac>& attached) {
  std::map<int, netlink::Mac> present;
  each_pod(pods_.get(), [&](uint32_t, const pn_pod& pod) {
    netlink::Mac mac;
    std::memcpy(mac.data(), pod.mac, 6);
    present[static_cast<int>(pod.ifindex)] = mac;
  });
  std::erase_if(attached, [&](const auto& kv) { return !present.contains(kv.first); });
  size_t n = 0;
  for (const auto& [ifindex, mac] : present) {
    // The same ifindex with another MAC is a new pod's veth that reused the number.
    if (auto it = attached.find(ifindex); it != attached.end() && it->second == mac) continue;
    auto s = attach(from_pod_.get(), kFromPodProgram, ifindex);
    if (!s && s.error().code == ENODEV) continue;  // gone already; forget_missing_pods() drops it
    if (!s) return std::unexpected(s.error());
    attached[ifindex] = mac;
    ++n;
  }
  return n;
}

Result<size_t> FastPath::forget_missing_pods() {
  std::vector<uint32_t> gone;
  each_pod(pods_.get(), [&](uint32_t key, const pn_pod& pod) {
    std::array<char, IF_NAMESIZE> name{};
    if (!::if_indextoname(pod.ifindex, name.data()) && errno == ENXIO) gone.push_back(key);
  });
  for (uint32_t k : gone)
    if (bpf_map_delete_elem(pods_.get(), &k) != 0 && errno != ENOENT)
      return fail("delete from " + pin(dir_, kPodsMap));
  return gone.size();
}

Result<size_t> FastPath::set_pod_flags(const std::map<uint32_t, uint16_t>& flags, uint16_t others) {
  std::vector<std::pair<uint32_t, pn_pod>> changed;
  each_pod(pods_.get(), [&](uint32_t key, const pn_pod& pod) {
    auto it = flags.find(key);
    uint16_t want = it == flags.end() ? others : it->second;
    if (pod.flags == want) return;
    pn_pod v = pod;
    v.flags = want;
    changed.emplace_back(key, v);
  });
  for (const auto& [key, v] : changed)
    // BPF_EXIST: an entry podnet-cni removed meanwhile stays removed.
    if (bpf_map_update_elem(pods_.get(), &key, &v, BPF_EXIST) != 0 && errno != ENOENT)
      return fail("update " + pin(dir_, kPodsMap));
  return changed.size();
}

namespace {

Result<Stats> stats_of(int fd, const std::string& what) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return fail("count possible CPUs", -cpus);
  std::vector<uint64_t> per_cpu(cpus);
  std::array<uint64_t, PN_STAT_MAX> sum{};
  for (uint32_t i = 0; i < PN_STAT_MAX; ++i) {
    if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) != 0) return fail("read " + what);
    for (auto v : per_cpu) sum[i] += v;
  }
  return Stats{sum[PN_STAT_TO_LOCAL_POD], sum[PN_STAT_TO_REMOTE_NODE], sum[PN_STAT_CONNTRACK],
               sum[PN_STAT_STACK],        sum[PN_STAT_ENCAP],          sum[PN_STAT_DECAP]};
}

}  // namespace

Result<Stats> FastPath::stats() const {
  return stats_of(stats_.get(), pin(dir_, kStatsMap));
}

Result<Stats> read_stats(const std::string& bpf_dir) {
  PODNET_TRY(fd, bpf_obj_get(pin(bpf_dir, kStatsMap)));
  return stats_of(fd.get(), pin(bpf_dir, kStatsMap));
}

Status detach_all() {
  struct if_nameindex* links = ::if_nameindex();
  if (!links) return fail("list links");
  std::unique_ptr<struct if_nameindex, decltype(&::if_freenameindex)> owned(links, &::if_freenameindex);
  for (auto* l = links; l->if_index != 0; ++l) {
    auto id = attached_program(static_cast<int>(l->if_index));
    if (!id || *id == 0) continue;
    UniqueFd fd;
    auto name = prog_name(*id, fd);
    if (!name || (*name != kFromNodeProgram && *name != kFromPodProgram)) continue;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(l->if_index), .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    if (int err = bpf_tc_detach(&hook, &opts); err && err != -ENOENT)
      return fail(std::string("detach ") + *name + " from " + l->if_name, -err);
  }
  return {};
}

Status remove_pins(const std::string& bpf_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(bpf_dir, ec)) return {};
  for (const char* name : {kFromPodProgram, kFromNodeProgram, kPodsMap, kConfigMap, kTunnelsMap, kStatsMap,
                           kFlowsMap, kEventsMap, kEventsLostMap}) {
    std::string path = pin(bpf_dir, name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail("remove " + path);
  }
  // Our own bpffs instance: on bpffs, but its parent is not.
  std::string parent = std::filesystem::path(bpf_dir).parent_path().string();
  if (on_bpffs(bpf_dir) && !on_bpffs(parent) && ::umount2(bpf_dir.c_str(), MNT_DETACH) != 0)
    return fail("unmount the bpffs at " + bpf_dir);
  if (::rmdir(bpf_dir.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY)
    return fail("remove " + bpf_dir);
  return {};
}

struct FlowEvents::Ring {
  ring_buffer* rb = nullptr;
  UniqueFd events, lost;
  const std::function<void(const FlowEvent&)>* fn = nullptr;
  ~Ring() {
    if (rb) ring_buffer__free(rb);
  }
};

namespace {

int on_event(void* ctx, void* data, size_t size) {
  auto* ring = static_cast<FlowEvents::Ring*>(ctx);
  if (size < sizeof(pn_flow_event) || !ring->fn) return 0;
  pn_flow_event ev{};
  std::memcpy(&ev, data, sizeof(ev));
  FlowEvent out;
  out.ts_ns = ev.ts_ns;
  out.saddr = ev.key.saddr;
  out.daddr = ev.key.daddr;
  out.sport = ntohs(ev.key.sport);
  out.dport = ntohs(ev.key.dport);
  out.proto = ev.key.proto;
  out.packets = ev.packets;
  out.bytes = ev.bytes;
  out.path = ev.path;
  out.tcp_flags = ev.tcp_flags;
  (*ring->fn)(out);
  return 0;
}

}  // namespace

Result<FlowEvents> FlowEvents::open(const std::string& bpf_dir) {
  auto ring = std::make_unique<Ring>();
  PODNET_TRY(events, bpf_obj_get(pin(bpf_dir, kEventsMap)));
  PODNET_TRY(lost, bpf_obj_get(pin(bpf_dir, kEventsLostMap)));
  ring->events = std::move(events);
  ring->lost = std::move(lost);
  ring->rb = ring_buffer__new(ring->events.get(), on_event, ring.get(), nullptr);
  if (!ring->rb) return fail("open the ring buffer " + pin(bpf_dir, kEventsMap), errno);
  FlowEvents out;
  out.ring_ = std::move(ring);
  return out;
}

FlowEvents::FlowEvents() = default;
FlowEvents::FlowEvents(FlowEvents&&) noexcept = default;
FlowEvents& FlowEvents::operator=(FlowEvents&&) noexcept = default;
FlowEvents::~FlowEvents() = default;

Result<size_t> FlowEvents::poll(int timeout_ms, const std::function<void(const FlowEvent&)>& fn) {
  ring_->fn = &fn;
  // The programs wake the reader only when the ring is half full: after the wait (woken or not),
  // everything queued is read.
  int n = ring_buffer__poll(ring_->rb, timeout_ms);
  int m = n < 0 && n != -EINTR ? 0 : ring_buffer__consume(ring_->rb);
  ring_->fn = nullptr;
  if (n == -EINTR) n = 0;
  if (n < 0) return fail("read the flow events", -n);
  if (m < 0) return fail("read the flow events", -m);
  return static_cast<size_t>(n + m);
}

Result<uint64_t> FlowEvents::lost() const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return fail("count possible CPUs", -cpus);
  std::vector<uint64_t> per_cpu(cpus);
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(ring_->lost.get(), &zero, per_cpu.data()) != 0) return fail("read pn_events_lost");
  uint64_t sum = 0;
  for (auto v : per_cpu) sum += v;
  return sum;
}

}  // namespace podnet::fastpath
