// flows_bench: the cost of `podnet flows`' fast-path half at a high rate of new connections. A node
// namespace with a bridge and two pod namespaces (pn-fb-*), the real fast path loaded and attached
// (bpffs under /var/tmp/pn-flowbench-*), a client in pod A opening and resetting TCP connections
// to a server in pod B at --rate per second for --seconds, and the agent's consumer (libbpf's
// ring buffer into agent::FlowLog, as `podnet agent` runs it) on its own thread. Prints, per run:
// connections/s reached, reports/s read, reports lost (pn_events_lost), the consumer thread's CPU
// as % of one core (and scaled to 10,000 connections/s), and pn_from_pod's mean run time per
// packet (BPF_ENABLE_STATS, held only while the bench runs). Needs root. Removes what it made,
// also on SIGINT/SIGTERM.
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "agent/flows.h"
#include "common/fd.h"
#include "fastpath/bpf_sys.h"
#include "fastpath/fastpath.h"
#include "fastpath/pins.h"
#include "fastpath/pod_attach.h"
#include "netlink/link.h"
#include "stop_signal.h"

using namespace podnet;

#define TRY_S(expr) \
  if (auto s_ = (expr); !s_) return std::unexpected(s_.error())
using namespace std::chrono_literals;

namespace {

std::string rnd() {
  static std::mt19937 g(std::random_device{}());
  return std::to_string(g() % 1000000);
}

double thread_cpu_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct ProgStats {
  uint64_t ns = 0, count = 0;
};
ProgStats prog_stats(int prog_fd) {
  bpf_prog_info info{};
  union bpf_attr attr {};
  attr.info.bpf_fd = prog_fd;
  attr.info.info_len = sizeof info;
  attr.info.info = reinterpret_cast<uint64_t>(&info);
  if (::syscall(__NR_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof attr) != 0) return {};
  return {info.run_time_ns, info.run_cnt};
}

struct Topology {
  std::string node_name, a_name, b_name;
  std::optional<netlink::NetNs> node, a, b;
  int bridge = 0;
  netlink::Mac bridge_mac{};
  std::vector<std::pair<int, netlink::Mac>> pods;  // host veth, pod MAC
  ~Topology() {
    for (auto* n : {&a_name, &b_name, &node_name})
      if (!n->empty()) (void)bench::StopSignal::delete_netns(*n);
  }
};

Status build(Topology& t) {
  std::string r = rnd();
  t.node_name = "pn-fb-node-" + r;
  PODNET_TRY(node, bench::StopSignal::create_netns(t.node_name));
  t.node.emplace(std::move(node));
  t.a_name = "pn-fb-a-" + r;
  PODNET_TRY(a, bench::StopSignal::create_netns(t.a_name));
  t.a.emplace(std::move(a));
  t.b_name = "pn-fb-b-" + r;
  PODNET_TRY(b, bench::StopSignal::create_netns(t.b_name));
  t.b.emplace(std::move(b));
  return t.node->run([&]() -> Status {
    PODNET_TRY(nl, netlink::Netlink::open());
    netlink::BridgeSpec br;
    br.name = "pnbr" + r;
    PODNET_TRY(bridge, nl.ensure_bridge(br));
    t.bridge = bridge.index;
    t.bridge_mac = netlink::random_mac();
    TRY_S(nl.set_mac(t.bridge, t.bridge_mac));
    TRY_S(nl.add_address(t.bridge, *parse_prefix("10.99.0.1/24")));
    TRY_S(nl.set_up(t.bridge));
    int i = 0;
    for (auto* pod : {&*t.a, &*t.b}) {
      std::string addr = i == 0 ? "10.99.0.2/24" : "10.99.0.3/24";
      netlink::VethSpec v;
      v.name = "pnfb" + std::to_string(i++) + r;
      v.peer_name = "eth0";
      v.peer_netns_fd = pod->fd();
      v.master = t.bridge;
      v.up = true;
      TRY_S(nl.create_veth(v));
      PODNET_TRY(host, nl.index_of(v.name));
      auto mac = pod->run([&]() -> Result<netlink::Mac> {
        PODNET_TRY(pnl, netlink::Netlink::open());
        PODNET_TRY(lo, pnl.index_of("lo"));
        TRY_S(pnl.set_up(lo));
        PODNET_TRY(eth0, pnl.get_link("eth0"));
        TRY_S(pnl.add_address(eth0.index, *parse_prefix(addr)));
        TRY_S(pnl.set_up(eth0.index));
        netlink::RouteSpec def;
        def.dst = *parse_prefix("0.0.0.0/0");
        def.gateway = *parse_ip("10.99.0.1");
        TRY_S(pnl.add_route(def));
        return eth0.mac;
      });
      if (!mac) return std::unexpected(mac.error());
      t.pods.emplace_back(host, *mac);
    }
    return {};
  });
}

}  // namespace

int main(int argc, char** argv) {
  bench::StopSignal stop("flows_bench", 5s);
  CLI::App app{"flows_bench: CPU cost of the fast path's flow reports at a rate of new connections"};
  int rate = 10000, seconds = 10, runs = 5, clients = 2;
  app.add_option("--rate", rate, "New connections per second to aim at")->check(CLI::Range(100, 200000));
  app.add_option("--seconds", seconds, "Length of one run")->check(CLI::Range(1, 600));
  app.add_option("--runs", runs, "Runs")->check(CLI::Range(1, 50));
  app.add_option("--clients", clients, "Client threads")->check(CLI::Range(1, 16));
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) {
    std::fprintf(stderr, "flows_bench: needs root\n");
    return 2;
  }
  char tmpl[] = "/var/tmp/pn-flowbench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  bench::StopSignal::track_path(dir);
  int code = 0;
  {
    Topology t;
    auto fail_with = [&](const std::string& what, const Error& e) {
      std::fprintf(stderr, "flows_bench: %s: %s\n", what.c_str(), e.message().c_str());
      code = 1;
    };
    std::optional<fastpath::FastPath> fp;
    if (auto s = build(t); !s) {
      fail_with("topology", s.error());
    } else if (auto f = t.node->run([&] { return fastpath::FastPath::open(dir); }); !f) {
      fail_with("fast path", f.error());
    } else {
      fp.emplace(std::move(*f));
      fastpath::NodeConfig cfg;
      cfg.cluster = *parse_prefix("10.99.0.0/16");
      cfg.bridge_ifindex = t.bridge;
      cfg.bridge_mac = t.bridge_mac;
      cfg.node_ip = *parse_ip("192.0.2.1");
      auto pins = fastpath::open_pod_pins(dir);
      Status s = fp->configure(cfg);
      if (s && pins && *pins) {
        s = add_pod(**pins, t.pods[0].first, t.pods[0].second, {*parse_ip("10.99.0.2")});
        if (s) s = add_pod(**pins, t.pods[1].first, t.pods[1].second, {*parse_ip("10.99.0.3")});
      }
      std::map<int, netlink::Mac> attached;
      auto n = t.node->run([&] { return fp->attach_pods(attached); });
      if (!s || !n) fail_with("configure", !s ? s.error() : n.error());
    }
    // Statistics of pn_from_pod's run time, only while this fd is open.
    union bpf_attr sattr {};
    sattr.enable_stats.type = BPF_STATS_RUN_TIME;
    UniqueFd stats_fd(static_cast<int>(::syscall(__NR_bpf, BPF_ENABLE_STATS, &sattr, sizeof sattr)));
    auto from_pod = fastpath::bpf_obj_get(dir + "/" + fastpath::kFromPodProgram);

    // The server: pod B accepts and closes.
    UniqueFd listener;
    if (code == 0) {
      auto l = t.b->run([]() -> Result<UniqueFd> {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return fail("socket");
        UniqueFd out(fd);
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(8080);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0)
          return fail("bind/listen");
        return out;
      });
      if (!l)
        fail_with("server", l.error());
      else
        listener = std::move(*l);
    }
    std::atomic<bool> done{false};
    std::thread server;
    if (code == 0)
      server = std::thread([&] {
        while (!done) {
          pollfd p{listener.get(), POLLIN, 0};
          if (::poll(&p, 1, 100) <= 0) continue;
          int c = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) ::close(c);
        }
      });
    std::printf("%-4s %10s %10s %8s %10s %14s %12s\n", "run", "conn/s", "reports/s", "lost", "cpu%",
                "cpu%@10k/s", "ns/packet");
    for (int run = 0; code == 0 && run < runs && !bench::StopSignal::requested(); ++run) {
      agent::FlowLog log;
      auto events = fastpath::FlowEvents::open(dir);
      if (!events) {
        fail_with("ring buffer", events.error());
        break;
      }
      uint64_t lost0 = events->lost().value_or(0);
      ProgStats p0 = from_pod ? prog_stats(from_pod->get()) : ProgStats{};
      std::atomic<bool> run_done{false};
      std::atomic<uint64_t> connections{0}, reports{0};
      double consumer_cpu = 0;
      std::thread consumer([&] {
        double c0 = thread_cpu_s();
        std::function<void(const fastpath::FlowEvent&)> fn = [&](const fastpath::FlowEvent& e) {
          log.add_carried(e, agent::unix_ms_now());
          ++reports;
        };
        while (!run_done) (void)events->poll(100, fn);
        (void)events->poll(0, fn);
        consumer_cpu = thread_cpu_s() - c0;
      });
      auto start = std::chrono::steady_clock::now();
      auto end = start + std::chrono::seconds(seconds);
      std::vector<std::thread> clients_t;
      for (int c = 0; c < clients; ++c)
        clients_t.emplace_back([&, c] {
          (void)t.a->run([&]() -> Status {
            const double per_thread = double(rate) / clients;
            uint64_t mine = 0;
            sockaddr_in dst{};
            dst.sin_family = AF_INET;
            dst.sin_port = htons(8080);
            ::inet_pton(AF_INET, "10.99.0.3", &dst.sin_addr);
            for (auto now = std::chrono::steady_clock::now(); now < end && !bench::StopSignal::requested();
                 now = std::chrono::steady_clock::now()) {
              auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(mine / per_thread));
              if (due > now) std::this_thread::sleep_for(due - now);
              int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
              if (fd < 0) continue;
              linger l{1, 0};  // RST on close: no TIME_WAIT, so the ports last the run
              ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
              if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0) ++connections;
              ::close(fd);
              ++mine;
            }
            (void)c;
            return {};
          });
        });
      for (auto& th : clients_t) th.join();
      double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::this_thread::sleep_for(200ms);
      run_done = true;
      consumer.join();
      uint64_t lost = events->lost().value_or(0) - lost0;
      ProgStats p1 = from_pod ? prog_stats(from_pod->get()) : ProgStats{};
      double cps = connections / wall, cpu = 100.0 * consumer_cpu / wall;
      double ns_packet = p1.count > p0.count ? double(p1.ns - p0.ns) / double(p1.count - p0.count) : 0;
      std::printf("%-4d %10.0f %10.0f %8llu %10.2f %14.2f %12.0f\n", run + 1, cps, reports / wall,
                  static_cast<unsigned long long>(lost), cpu, cps > 0 ? cpu * 10000.0 / cps : 0, ns_packet);
      std::fflush(stdout);
    }
    done = true;
    if (server.joinable()) server.join();
    if (stats_fd.get() < 0) std::fprintf(stderr, "flows_bench: BPF_ENABLE_STATS refused: no ns/packet\n");
    fp.reset();
  }
  (void)fastpath::remove_pins(dir);
  ::rmdir(dir.c_str());
  bench::StopSignal::untrack_path(dir);
  return code;
}
