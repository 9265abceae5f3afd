// cluster_bench: issue 5's benchmarks on real `podnet up` clusters (3 nodes each, brought up in a
// private state dir on a free underlay and removed with `podnet down`, also on failure or Ctrl-C):
//   netprog  Service / EndpointSlice write -> rule live on every node, detected by the datapath: a
//            connect() from each node's namespace to the ClusterIP succeeds (backend: one pod)
//   podstart create -> Ready (seen on a watch) of N pods with a tcpSocket probe, scheduled over 3 nodes
//   iperf    iperf3 pod-to-pod on one node and across nodes (vxlan, host-gw, and vxlan without the
//            eBPF fast path) against a bare veth pair between two namespaces made here
//   npiperf  iperf3 across nodes (fast path on): a pair no NetworkPolicy selects, a pair an allow
//            policy selects, a bare veth pair, interleaved (issue 15)
//   nplabel  one pod label change -> live on all 3 nodes (a policy admits the label at servers on
//            node1..3): PATCH -> the client connects to all of them, --np-changes times (issue 15)
//   rss      VmRSS of the agents with N selector-less Services (one endpoint each) programmed; with
//            --rss-dns on,off once per cluster DNS setting (`up --no-dns`) and the difference: the
//            node-local DNS server's memory (its records for N Services), as issue 16 asks
//   dns      the node-local cluster DNS (docs/dns.md): Service create -> its name answers an A record
//            at the kube-dns ClusterIP from all 3 node namespaces (asked once before the create, so
//            the NXDOMAIN path is warm), and the longest gap in answers on a node while its agent is
//            killed (SIGKILL) and restarted by its supervisor
// Needs root, podnet, podnet-cni, pod_tool, iperf3.
//
//   cluster_bench [--bench netprog,podstart,iperf,rss,dns] [--changes 200] [--pods 100]
//                 [--services 10000] [--rss-dns on|off|on,off] [--iperf-seconds 5] [--iperf-reps 5]
//                 [--iperf-pin yes|no]
//
// iperf3's client and server run pinned to CPUs 0 and 1 (iperf3 -A 0,1) in every case, the bare
// veth pair's included, when the machine has 2 CPUs or more: the two ends get a CPU each, as two
// machines would give them, instead of whatever the scheduler's wake-up placement decides on each
// run (on 2 CPUs that placement alone moves a run by +-20%). --iperf-pin no measures unpinned.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "bench_cluster.h"
#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "common/fd.h"
#include "netlink/netns.h"

namespace {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using podnet::bench::BenchCluster;
using podnet::bench::shell;
using podnet::client::HttpsApiClient;

const std::string kBin = PODNET_BINARY_DIR;
const std::string kPodnet = kBin + "/podnet";
const std::string kPodTool = kBin + "/tests/runtime/pod_tool";

double ms_since(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - t0).count();
}

// Nearest-rank percentile of sorted values.
double pct(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return NAN;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}
std::string summary(std::vector<double> v, const char* unit = "ms") {
  std::sort(v.begin(), v.end());
  char buf[200];
  std::snprintf(buf, sizeof buf, "n=%zu p50 %.1f %s, p95 %.1f, p99 %.1f, max %.1f", v.size(), pct(v, 0.5),
                unit, pct(v, 0.95), pct(v, 0.99), v.empty() ? NAN : v.back());
  return buf;
}

std::unique_ptr<HttpsApiClient> api_for(const BenchCluster& c) {
  auto access = podnet::client::load_kubeconfig(c.kubeconfig());
  if (!access) return nullptr;
  auto api = HttpsApiClient::create(*access);
  return api ? std::move(*api) : nullptr;
}

std::string str(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* cur = &v;
  for (const char* k : path) {
    if (!cur->is_object()) return "";
    cur = cur->as_object().if_contains(k);
    if (!cur) return "";
  }
  return cur->is_string() ? std::string(cur->as_string()) : "";
}

bool pod_ready(const json::value& pod) {
  const auto* st = pod.as_object().if_contains("status");
  const auto* cs = st && st->is_object() ? st->as_object().if_contains("conditions") : nullptr;
  if (!cs || !cs->is_array()) return false;
  for (const auto& c : cs->as_array())
    if (str(c, {"type"}) == "Ready" && str(c, {"status"}) == "True") return true;
  return false;
}

// A pod with one container; a tcpSocket readiness probe on `probe_port` unless 0.
json::value pod_spec(const std::string& name, const std::string& node, std::vector<std::string> command,
                     int probe_port) {
  json::array cmd;
  for (auto& a : command) cmd.emplace_back(a);
  json::object c{{"name", "c"}, {"image", "none"}, {"command", cmd}};
  if (probe_port)
    c["readinessProbe"] = json::object{{"tcpSocket", {{"port", probe_port}}}, {"periodSeconds", 1}};
  json::object spec{{"containers", json::array{c}}, {"terminationGracePeriodSeconds", 1}};
  if (!node.empty()) spec["nodeName"] = node;
  return json::object{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", spec}};
}

// Waits until the pod is Ready; returns it (nullopt after `timeout`).
std::optional<json::value> wait_ready(HttpsApiClient& api, const std::string& name,
                                      std::chrono::seconds timeout = std::chrono::seconds(90)) {
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    auto p = api.get("/api/v1/namespaces/default/pods/" + name);
    if (p && pod_ready(*p) && !str(*p, {"status", "podIP"}).empty()) return *p;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::fprintf(stderr, "pod %s not Ready within %llds\n", name.c_str(), (long long)timeout.count());
  return std::nullopt;
}

json::value service(const std::string& name) {
  return json::object{
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"ports", json::array{json::object{{"port", 80}, {"targetPort", 8080}, {"protocol", "TCP"}}}}}}};
}
json::value slice(const std::string& service, const std::string& ip) {
  return json::object{
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata",
       {{"name", service + "-bench"},
        {"labels",
         {{"kubernetes.io/service-name", service},
          {"endpointslice.kubernetes.io/managed-by", "cluster-bench"}}}}},
      {"addressType", "IPv4"},
      {"endpoints", json::array{json::object{{"addresses", json::array{json::value(ip)}},
                                             {"conditions", {{"ready", true}}}}}},
      {"ports", json::array{json::object{{"name", ""}, {"port", 8080}, {"protocol", "TCP"}}}}};
}
const char* kServices = "/api/v1/namespaces/default/services";
const char* kSlices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
const char* kPods = "/api/v1/namespaces/default/pods";

// One TCP connect attempt; true when the handshake completed within `wait`.
bool try_connect(const sockaddr_in& sa, std::chrono::milliseconds wait) {
  podnet::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

// From every node's namespace, connects to ip:port until one succeeds; the time of the last node's
// success (nullopt when a node did not get through within 10 s). A refused attempt (the proxy's
// reject of a frontend without endpoints) is retried after 1 ms, one that hangs (no rule yet:
// the SYN leaves the node and dies in the root namespace, which does not forward) after 5 ms.
std::optional<Clock::time_point> wait_live(const std::vector<std::string>& node_netns, const std::string& ip,
                                           int port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  std::vector<std::optional<Clock::time_point>> done(node_netns.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < node_netns.size(); ++i)
    threads.emplace_back([&, i] {
      auto ns = podnet::netlink::NetNs::open("/run/netns/" + node_netns[i]);
      if (!ns) return;
      (void)ns->run([&]() -> podnet::Status {
        auto end = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < end) {
          auto before = Clock::now();
          if (try_connect(sa, std::chrono::milliseconds(5))) {
            done[i] = Clock::now();
            break;
          }
          if (Clock::now() - before < std::chrono::milliseconds(4))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return {};
      });
    });
  for (auto& t : threads) t.join();
  Clock::time_point last{};
  for (auto& d : done) {
    if (!d) return std::nullopt;
    last = std::max(last, *d);
  }
  return last;
}

std::vector<std::string> node_namespaces(const BenchCluster& c, int nodes) {
  std::vector<std::string> v;
  for (int i = 1; i <= nodes; ++i) v.push_back(c.layout().node_netns(i));
  return v;
}

// ---- netprog -------------------------------------------------------------------------------------

int bench_netprog(int changes) {
  BenchCluster c(kPodnet);
  if (!c.up(3, "vxlan")) return 1;
  auto api = api_for(c);
  auto nodes = node_namespaces(c, 3);
  if (!api->create(kPods, pod_spec("np-backend", "node1", {kPodTool, "serve", "8080", "x"}, 8080))) return 1;
  auto backend = wait_ready(*api, "np-backend");
  if (!backend) return 1;
  std::string backend_ip = str(*backend, {"status", "podIP"});

  // The agent's proxy syncs at most once per --min-sync-interval (50 ms): a change that comes less
  // than that after the previous sync waits for the window to end. Back to back, every change does;
  // with a gap longer than the window, none does. Both are measured.
  int failed = 0;
  auto phases = [&](int gap_ms) -> int {
    std::string tag = std::to_string(gap_ms);
    // (a) EndpointSlice write: the Services exist (no endpoints: refused), the slice makes them live.
    std::vector<std::string> vips;
    for (int i = 0; i < changes; ++i) {
      auto s = api->create(kServices, service("np-a" + tag + "-" + std::to_string(i)));
      if (!s) return std::fprintf(stderr, "create service: %s\n", s.error().message().c_str()), 1;
      vips.push_back(str(*s, {"spec", "clusterIP"}));
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));
    std::vector<double> slice_ms, slice_write_ms, slice_ack_ms;
    for (int i = 0; i < changes; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
      auto t0 = Clock::now();
      auto r = api->create(kSlices, slice("np-a" + tag + "-" + std::to_string(i), backend_ip));
      auto t1 = Clock::now();
      slice_write_ms.push_back(ms_since(t0, t1));
      if (!r) return std::fprintf(stderr, "create slice: %s\n", r.error().message().c_str()), 1;
      auto live = wait_live(nodes, vips[i], 80);
      if (live) {
        slice_ms.push_back(ms_since(t0, *live));
        slice_ack_ms.push_back(ms_since(t1, *live));
      } else {
        ++failed;
      }
    }
    // (b) Service write: the slice exists first, the Service (new ClusterIP) makes it live.
    for (int i = 0; i < changes; ++i)
      if (!api->create(kSlices, slice("np-b" + tag + "-" + std::to_string(i), backend_ip))) return 1;
    std::this_thread::sleep_for(std::chrono::seconds(2));
    std::vector<double> svc_ms, svc_write_ms, svc_ack_ms;
    for (int i = 0; i < changes; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
      auto t0 = Clock::now();
      auto s = api->create(kServices, service("np-b" + tag + "-" + std::to_string(i)));
      auto t1 = Clock::now();
      svc_write_ms.push_back(ms_since(t0, t1));
      if (!s) return std::fprintf(stderr, "create service: %s\n", s.error().message().c_str()), 1;
      auto live = wait_live(nodes, str(*s, {"spec", "clusterIP"}), 80);
      if (live) {
        svc_ms.push_back(ms_since(t0, *live));
        svc_ack_ms.push_back(ms_since(t1, *live));
      } else {
        ++failed;
      }
    }
    std::printf("  changes %s:\n", gap_ms ? ("every " + tag + " ms after the last one went live").c_str()
                                          : "back to back (the next write as soon as the last one is live)");
    std::printf("    EndpointSlice create -> live on all nodes: %s\n", summary(slice_ms).c_str());
    std::printf("      (the POST itself: %s)\n", summary(slice_write_ms).c_str());
    std::printf("      (POST response -> live: %s)\n", summary(slice_ack_ms).c_str());
    std::printf("    Service create (slice already there) -> live on all nodes: %s\n",
                summary(svc_ms).c_str());
    std::printf("      (the POST itself: %s)\n", summary(svc_write_ms).c_str());
    std::printf("      (POST response -> live: %s)\n", summary(svc_ack_ms).c_str());
    std::fflush(stdout);
    return 0;
  };
  std::printf(
      "netprog (3 nodes, vxlan; live = connect() to the ClusterIP succeeds from all 3 node netns):\n");
  for (int gap : {0, 150})
    if (phases(gap)) return 1;
  std::printf("  not live within 10 s: %d; target p99 < 100 ms\n", failed);
  std::fflush(stdout);
  return failed ? 1 : 0;
}

// ---- podstart ------------------------------------------------------------------------------------

using WallClock = std::chrono::system_clock;

double wall_ms(WallClock::time_point t) {
  return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
}

// The agents' one line per pod start (runtime::PodWorker::report_start): "pod NS/NAME: start
// phases, seen at <unix ms>: <phase> +<ms>; <phase> +<ms>; ...". Returns, per pod name in
// `default`, each phase's wall-clock time (unix ms), "seen by the agent" included.
std::map<std::string, std::map<std::string, double>> agent_start_phases(const BenchCluster& c, int nodes) {
  std::map<std::string, std::map<std::string, double>> out;
  for (int i = 1; i <= nodes; ++i) {
    std::ifstream f(c.layout().log_path(podnet::cluster::Layout::agent_daemon(c.layout().node_name(i))));
    for (std::string line; std::getline(f, line);) {
      const std::string head = "pod default/", mid = ": start phases, seen at ";
      auto h = line.find(head), m = line.find(mid);
      if (h == std::string::npos || m == std::string::npos || m < h) continue;
      std::string name = line.substr(h + head.size(), m - h - head.size());
      std::string rest = line.substr(m + mid.size());
      auto colon = rest.find(": ");
      if (colon == std::string::npos) continue;
      double seen = std::atof(rest.substr(0, colon).c_str());
      auto& phases = out[name];
      phases["seen by the agent"] = seen;
      std::stringstream ss(rest.substr(colon + 2));
      for (std::string item; std::getline(ss, item, ';');) {
        auto plus = item.rfind(" +");
        if (plus == std::string::npos) continue;
        size_t b = item.find_first_not_of(' ');
        phases[item.substr(b, plus - b)] = seen + std::atof(item.c_str() + plus + 2);
      }
    }
  }
  return out;
}

const char* kNetpols = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies";

json::value netpol(const std::string& name, json::object spec) {
  return json::object{{"apiVersion", "networking.k8s.io/v1"},
                      {"kind", "NetworkPolicy"},
                      {"metadata", {{"name", name}}},
                      {"spec", std::move(spec)}};
}

// "pn-<node>-" + the first 8 hex digits of the uid (runtime::NodeContext::netns_name, agent_pods.cpp).
std::string pod_netns(const std::string& node, const std::string& uid) {
  std::string hex;
  for (char ch : uid)
    if (std::isxdigit(static_cast<unsigned char>(ch)) && hex.size() < 8)
      hex += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return "pn-" + node + "-" + hex;
}

std::pair<uint64_t, uint64_t> cpu_jiffies();  // below, with iperf

// CPU seconds a process used, with its reaped children (the CNI plugins the agent runs).
double process_cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), {});
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; in >> field && i <= 17; ++i)
    if (i >= 14) ticks += std::atof(field.c_str());  // utime, stime, cutime, cstime
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct PodstartRun {
  std::vector<double> ready;  // create response -> Ready on the watch, ms
  int first_connect_ok = 0, first_connect_tried = 0;
};

// variant "plain": pods as they come (per-pod resolver files and mount namespaces are the default);
// "policy": a default-deny ingress policy and an allow policy (TCP 8080 from the client pod)
// select every started pod before the first is created (issue 15). In both, a client pod on node1
// connects to each pod's IP:8080 the moment its Ready is seen (one attempt, 1 s): the first allowed
// connection must work then.
int bench_podstart(int pods, const std::string& variant, const std::string& podnet, PodstartRun& result) {
  BenchCluster c(podnet);
  if (!c.up(3, "vxlan")) return 1;
  auto api = api_for(c);
  auto watch_api = api_for(c);
  if (variant == "policy") {
    auto deny =
        api->create(kNetpols, netpol("deny-ingress", json::object{{"podSelector", json::object{}},
                                                                  {"policyTypes", json::array{"Ingress"}}}));
    auto allow = api->create(
        kNetpols,
        netpol("allow-client",
               json::object{
                   {"podSelector", {{"matchLabels", {{"app", "start"}}}}},
                   {"policyTypes", json::array{"Ingress"}},
                   {"ingress",
                    json::array{json::object{
                        {"from",
                         json::array{json::object{{"podSelector", {{"matchLabels", {{"role", "client"}}}}}}}},
                        {"ports", json::array{json::object{{"protocol", "TCP"}, {"port", 8080}}}}}}}}));
    if (!deny || !allow)
      return std::fprintf(stderr, "network policies: %s\n", (!deny ? deny : allow).error().message().c_str()),
             1;
  }
  auto client_spec = pod_spec("start-client", "node1", {kPodTool, "serve", "8081", "x"}, 0);
  client_spec.as_object()["metadata"].as_object()["labels"] = json::object{{"role", "client"}};
  auto client = api->create(kPods, client_spec);
  if (!client) return std::fprintf(stderr, "client pod: %s\n", client.error().message().c_str()), 1;
  if (!wait_ready(*api, "start-client")) return 1;
  auto client_ns =
      podnet::netlink::NetNs::open("/run/netns/" + pod_netns("node1", str(*client, {"metadata", "uid"})));
  if (!client_ns) return std::fprintf(stderr, "client netns: %s\n", client_ns.error().message().c_str()), 1;

  auto list = api->list(kPods, 500, "");
  if (!list) return 1;
  auto watch = watch_api->watch(kPods, list->resource_version);
  if (!watch) return std::fprintf(stderr, "watch: %s\n", watch.error().message().c_str()), 1;

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Clock::time_point> ready_at;
  std::map<std::string, std::string> node_of;
  // Stages seen on the watch: bound to a node, podIP in the status (network set up, containers
  // started), Ready.
  std::map<std::string, Clock::time_point> bound_at, ip_at;
  std::vector<std::pair<std::string, std::string>> to_connect;  // (name, podIP) just Ready
  std::map<std::string, bool> connected_first;
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    while (!stop) {
      auto ev = (*watch)->next();
      if (!ev || !*ev) break;
      auto now = Clock::now();
      const auto& obj = (*ev)->object;
      std::string name = str(obj, {"metadata", "name"});
      if (!name.starts_with("start-") || name == "start-client") continue;
      std::lock_guard lock(mu);
      if (!str(obj, {"spec", "nodeName"}).empty() && !bound_at.contains(name)) bound_at[name] = now;
      if (!str(obj, {"status", "podIP"}).empty() && !ip_at.contains(name)) ip_at[name] = now;
      if (pod_ready(obj) && !ready_at.contains(name)) {
        ready_at[name] = now;
        node_of[name] = str(obj, {"spec", "nodeName"});
        to_connect.emplace_back(name, str(obj, {"status", "podIP"}));
        cv.notify_one();
      }
    }
  });
  std::thread connector([&] {
    (void)client_ns->run([&]() -> podnet::Status {
      std::unique_lock lock(mu);
      while (!stop || !to_connect.empty()) {
        if (to_connect.empty()) {
          cv.wait_for(lock, std::chrono::milliseconds(100));
          continue;
        }
        auto [name, ip] = to_connect.front();
        to_connect.erase(to_connect.begin());
        lock.unlock();
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(8080);
        ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
        bool ok = try_connect(sa, std::chrono::milliseconds(1000));
        lock.lock();
        connected_first[name] = ok;
      }
      return {};
    });
  });
  std::vector<pid_t> agents;
  for (int i = 1; i <= 3; ++i) agents.push_back(c.daemon_pid("agent-node" + std::to_string(i)));
  auto cpu_of = [&] {
    std::vector<double> v;
    for (pid_t p : agents) v.push_back(process_cpu_seconds(p));
    v.push_back(process_cpu_seconds(c.daemon_pid("server")));
    return v;
  };
  auto cpu_before = cpu_of();
  auto machine_before = cpu_jiffies();
  auto wall_before = Clock::now();
  std::map<std::string, Clock::time_point> requested, responded;
  std::map<std::string, WallClock::time_point> responded_wall;
  for (int i = 0; i < pods; ++i) {
    std::string name = "start-" + std::to_string(i);
    auto spec = pod_spec(name, "", {kPodTool, "serve", "8080", "x"}, 8080);
    spec.as_object()["metadata"].as_object()["labels"] = json::object{{"app", "start"}};
    auto t0 = Clock::now();
    auto r = api->create(kPods, spec);
    auto t1 = Clock::now();
    auto w1 = WallClock::now();
    if (!r) {
      std::fprintf(stderr, "create %s: %s\n", name.c_str(), r.error().message().c_str());
      continue;
    }
    requested[name] = t0;
    responded[name] = t1;
    responded_wall[name] = w1;
  }
  auto created_all = Clock::now();
  for (int i = 0; i < 1200; ++i) {
    {
      std::lock_guard lock(mu);
      if (ready_at.size() >= responded.size() && connected_first.size() >= ready_at.size()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto cpu_after = cpu_of();
  auto machine_after = cpu_jiffies();
  double wall_s = std::chrono::duration<double>(Clock::now() - wall_before).count();
  stop = true;
  cv.notify_all();
  (*watch)->cancel();
  watcher.join();
  connector.join();

  // Per pod, every stage as ms after its create response: the watch's, and the agent's phases
  // (wall clock: the agents log on this machine's clock).
  auto agent = agent_start_phases(c, 3);
  std::map<std::string, std::vector<double>> at;    // phase -> ms after the create response
  std::map<std::string, std::vector<double>> step;  // phase -> ms after the phase before it
  std::vector<std::map<std::string, double>> per_pod;
  std::vector<double> from_resp, from_req;
  std::map<std::string, int> per_node;
  int retried = 0;
  for (auto& [name, t] : ready_at) {
    if (!responded.contains(name)) continue;
    std::map<std::string, double> p;
    if (bound_at.contains(name)) p["bound (watch)"] = ms_since(responded[name], bound_at[name]);
    if (ip_at.contains(name)) p["podIP (watch)"] = ms_since(responded[name], ip_at[name]);
    p["Ready (watch)"] = ms_since(responded[name], t);
    if (auto a = agent.find(name); a != agent.end())
      for (auto& [phase, wall] : a->second) p[phase] = wall - wall_ms(responded_wall[name]);
    if (p.contains("ready after probe retries")) ++retried;
    for (auto& [phase, ms] : p) at[phase].push_back(ms);
    per_pod.push_back(std::move(p));
    from_resp.push_back(ms_since(responded[name], t));
    from_req.push_back(ms_since(requested[name], t));
    per_node[node_of[name]]++;
  }
  // Phases in the order a start goes through them (the agent's names, pod_worker.cpp), then any
  // other phase the agents logged; each pod's step is from the latest earlier phase it has.
  static const char* const kOrder[] = {"bound (watch)",
                                       "seen by the agent",
                                       "worker running",
                                       "sandbox start",
                                       "netns ready",
                                       "lo up",
                                       "CNI ADD done",
                                       "network policy programmed",
                                       "mount namespace ready",
                                       "container launching",
                                       "container launched",
                                       "ready at the first probe",
                                       "status published",
                                       "podIP published",
                                       "ready after probe retries",
                                       "status Ready published",
                                       "podIP (watch)",
                                       "Ready (watch)"};
  std::vector<std::string> order;
  for (const char* phase : kOrder)
    if (at.contains(phase)) order.emplace_back(phase);
  for (auto& [phase, v] : at)
    if (std::find(std::begin(kOrder), std::end(kOrder), phase) == std::end(kOrder)) order.push_back(phase);
  for (const auto& p : per_pod) {
    double prev = 0;
    for (const auto& phase : order) {
      auto it = p.find(phase);
      if (it == p.end()) continue;
      step[phase].push_back(it->second - prev);
      prev = it->second;
    }
  }
  for (const auto& [name, ok] : connected_first) {
    result.first_connect_tried++;
    result.first_connect_ok += ok ? 1 : 0;
  }
  result.ready = from_resp;
  std::printf("podstart %s (%d pods, tcpSocket probe periodSeconds 1, `pod_tool serve 8080`, 3 nodes%s):\n",
              variant.c_str(), pods,
              variant == "policy" ? ", default-deny ingress + allow from the client pod on 8080" : "");
  std::printf("  created in %.0f ms (sequential POSTs); Ready: %zu\n",
              requested.empty() ? 0.0 : ms_since(requested.begin()->second, created_all), from_resp.size());
  std::printf("  create response -> Ready=True on the watch: %s\n", summary(from_resp).c_str());
  std::printf("  create request  -> Ready=True on the watch: %s\n", summary(from_req).c_str());
  std::printf("  %-32s %20s %20s %5s\n", "phase (agent's, or the watch's)", "after create p50/p99",
              "step p50/p99", "n");
  for (const auto& phase : order) {
    auto a = at[phase], s = step[phase];
    std::sort(a.begin(), a.end());
    std::sort(s.begin(), s.end());
    std::printf("  %-32s %9.1f %9.1f ms %9.1f %9.1f ms %5zu\n", phase.c_str(), pct(a, 0.5), pct(a, 0.99),
                pct(s, 0.5), pct(s, 0.99), a.size());
  }
  double agents_cpu = 0;
  for (size_t i = 0; i < agents.size(); ++i) agents_cpu += cpu_after[i] - cpu_before[i];
  std::printf(
      "  CPU from the first create to the last Ready (%.1f s): machine busy %.0f%% of %u CPUs; the 3 agents "
      "(with the CNI plugins they ran) %.2f s = %.1f ms per pod; API server %.2f s\n",
      wall_s,
      100.0 * static_cast<double>(machine_after.first - machine_before.first) /
          static_cast<double>(std::max<uint64_t>(1, machine_after.second - machine_before.second)),
      std::thread::hardware_concurrency(), agents_cpu, 1000.0 * agents_cpu / std::max(1, pods),
      cpu_after.back() - cpu_before.back());
  std::printf(
      "  pods whose first readiness probe failed: %d; first connection from the client pod at Ready: "
      "%d of %d succeeded\n",
      retried, result.first_connect_ok, result.first_connect_tried);
  std::printf("  pods per node:");
  for (auto& [n, k] : per_node) std::printf(" %s=%d", n.c_str(), k);
  std::printf("; target p99 < 1000 ms\n");
  std::fflush(stdout);
  return static_cast<int>(from_resp.size()) == pods ? 0 : 1;
}

// ---- iperf ---------------------------------------------------------------------------------------

// iperf3's option pinning the client to CPU 0 and the server to CPU 1; empty when not pinning.
std::string iperf_affinity(bool pin) {
  return pin && std::thread::hardware_concurrency() >= 2 ? "-A 0,1 " : "";
}

// Gbit/s received by the iperf3 client run in `netns` against ip (first second omitted).
std::optional<double> iperf(const std::string& netns, const std::string& ip, int seconds, bool pin) {
  auto r = shell("ip netns exec " + netns + " iperf3 -J -O 1 " + iperf_affinity(pin) + "-t " +
                 std::to_string(seconds) + " -c " + ip);
  boost::system::error_code ec;
  auto v = json::parse(r.out, ec);
  if (ec || !v.is_object()) {
    std::fprintf(stderr, "iperf3 %s -> %s: %s\n", netns.c_str(), ip.c_str(), r.out.c_str());
    return std::nullopt;
  }
  const auto* end = v.as_object().if_contains("end");
  const auto* sum = end && end->is_object() ? end->as_object().if_contains("sum_received") : nullptr;
  if (!sum) return std::nullopt;
  return sum->at("bits_per_second").to_number<double>() / 1e9;
}

// Busy and total jiffies of all CPUs from /proc/stat's first line.
std::pair<uint64_t, uint64_t> cpu_jiffies() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {}, total = 0;
  f >> cpu;
  for (auto& x : v) {
    f >> x;
    total += x;
  }
  return {total - v[3] - v[4], total};  // idle and iowait are not busy
}

// Waits (at most `limit`) until the machine is at least 90% idle over half a second: a cluster
// just brought up, and the namespaces of the one before it that the kernel is still freeing, keep
// the CPUs busy for a while, and a throughput run then measures them too. Returns the wait.
double settle(std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto [b0, t0] = cpu_jiffies();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto [b1, t1] = cpu_jiffies();
    double busy = t1 > t0 ? double(b1 - b0) / double(t1 - t0) : 0;
    auto waited = std::chrono::steady_clock::now() - start;
    if (busy <= 0.10 || waited >= limit) return std::chrono::duration<double>(waited).count();
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Two namespaces joined by a bare veth pair (nothing in the root namespace), iperf3 -s in the second.
class VethPair {
 public:
  VethPair() {
    std::string p = "pn-cbench" + std::to_string(::getpid());
    a_ = p + "-a";
    b_ = p + "-b";
    pidfile_ = "/var/tmp/" + p + "-iperf.pid";
    cleanup_id_ = podnet::bench::StopSignal::add_cleanup([this] { remove(); });
    ok_ = shell("ip netns add " + a_ + " && ip netns add " + b_ + " && ip -n " + a_ +
                " link add veth0 type veth peer name veth1 netns " + b_ + " && ip -n " + a_ +
                " addr add 10.250.0.1/24 dev veth0 && ip -n " + b_ +
                " addr add 10.250.0.2/24 dev veth1 && ip -n " + a_ + " link set veth0 up && ip -n " + b_ +
                " link set veth1 up && ip -n " + a_ + " link set lo up && ip -n " + b_ +
                " link set lo up && ip netns exec " + b_ + " iperf3 -s -D --pidfile " + pidfile_)
              .rc == 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ~VethPair() {
    podnet::bench::StopSignal::remove_cleanup(cleanup_id_);
    remove();
  }
  bool ok() const { return ok_; }
  std::optional<double> run(int seconds, bool pin) { return iperf(a_, "10.250.0.2", seconds, pin); }

 private:
  void remove() {
    std::ifstream f(pidfile_);
    pid_t pid = 0;
    if (f >> pid && pid > 1 && podnet::cluster::cmdline_contains(pid, "iperf3")) ::kill(pid, SIGKILL);
    ::unlink(pidfile_.c_str());
    shell("ip netns delete " + a_ + "; ip netns delete " + b_);
  }
  std::string a_, b_, pidfile_;
  bool ok_ = false;
  int cleanup_id_ = 0;
};

int bench_iperf(int seconds, int reps, bool pin) {
  VethPair base;
  if (!base.ok()) return std::fprintf(stderr, "baseline veth pair failed\n"), 1;
  std::vector<double> base_all;
  struct Case {
    std::string name;
    std::vector<double> gbps, base;
  };
  std::vector<Case> cases;
  std::vector<double> settled;  // seconds waited for an idle machine, per cluster
  // The third cluster is the first without the eBPF fast path: what the fast path gains.
  for (auto [overlay, flags] : std::vector<std::pair<std::string, std::string>>{
           {"vxlan", ""}, {"host-gw", ""}, {"vxlan", "--no-fast-path"}}) {
    BenchCluster c(kPodnet);
    if (!c.up(3, overlay, flags)) return 1;
    const std::string label = overlay + (flags.empty() ? "" : ", no eBPF fast path");
    auto api = api_for(c);
    for (auto& [name, node, cmd, port] :
         std::vector<std::tuple<std::string, std::string, std::vector<std::string>, int>>{
             {"srv1", "node1", {"iperf3", "-s"}, 5201},
             {"srv2", "node2", {"iperf3", "-s"}, 5201},
             {"cli", "node1", {"sleep", "100000"}, 0}})
      if (!api->create(kPods, pod_spec(name, node, cmd, port))) return 1;
    auto srv1 = wait_ready(*api, "srv1");
    auto srv2 = wait_ready(*api, "srv2");
    auto cli = wait_ready(*api, "cli");
    if (!srv1 || !srv2 || !cli) return 1;
    std::string cli_ns = "pn-node1-" + str(*cli, {"metadata", "uid"}).substr(0, 8);
    std::string mtu = shell("ip -n " + cli_ns + " -o link show eth0 | grep -o 'mtu [0-9]*'").out;
    if (!mtu.empty()) mtu.pop_back();
    settled.push_back(settle());
    Case same{"pod-to-pod, one node (" + label + " cluster, pod " + mtu + ")", {}, {}};
    Case cross{"pod-to-pod, across nodes, " + label + " (pod " + mtu + ")", {}, {}};
    for (int rep = 0; rep < reps; ++rep) {
      // Baseline next to every run, so load on the shared machine hits both sides alike.
      for (Case* k : {&same, &cross}) {
        auto b = base.run(seconds, pin);
        auto g = iperf(cli_ns, str(k == &same ? *srv1 : *srv2, {"status", "podIP"}), seconds, pin);
        if (!b || !g) return 1;
        k->base.push_back(*b);
        k->gbps.push_back(*g);
        base_all.push_back(*b);
      }
    }
    cases.push_back(same);
    cases.push_back(cross);
  }
  std::printf("iperf3 (1 TCP stream, %d s per run, first second omitted, %d runs each, medians, %s):\n",
              seconds, reps, iperf_affinity(pin).empty() ? "unpinned" : "client on CPU 0, server on CPU 1");
  std::printf("  bare veth pair between two namespaces (mtu 1500): %.2f Gbit/s (all %zu baseline runs)\n",
              median(base_all), base_all.size());
  std::string waits;
  for (double w : settled) waits += std::to_string(w).substr(0, 4) + " s ";
  std::printf("  (each cluster's runs began once the machine was >= 90%% idle: waited %s)\n", waits.c_str());
  for (auto& k : cases) {
    std::string runs;
    for (double g : k.gbps) runs += std::to_string(g).substr(0, 5) + " ";
    std::printf("  %s: %.2f Gbit/s = %.0f%% of the veth runs next to it (%.2f); runs: %s\n", k.name.c_str(),
                median(k.gbps), 100 * median(k.gbps) / median(k.base), median(k.base), runs.c_str());
  }
  std::printf("  targets (with the fast path): >= 90%% on one node, >= 80%% across nodes with vxlan\n");
  std::fflush(stdout);
  return 0;
}

// ---- NetworkPolicy on a cluster (issue 15): iperf with a policy, one label change live ----------

const char* kNetworkPolicies = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies";

json::value with_labels(json::value pod, const json::object& labels) {
  pod.as_object()["metadata"].as_object()["labels"] = labels;
  return pod;
}

json::value network_policy(const std::string& name, json::object spec) {
  return json::object{{"apiVersion", "networking.k8s.io/v1"},
                      {"kind", "NetworkPolicy"},
                      {"metadata", {{"name", name}}},
                      {"spec", std::move(spec)}};
}

// The pod's network namespace as its node's runner names it (pn-<node>-<uid8>).
std::string pod_netns(const json::value& pod) {
  return "pn-" + str(pod, {"spec", "nodeName"}) + "-" + str(pod, {"metadata", "uid"}).substr(0, 8);
}

// iperf3 across nodes with the fast path: a pair no policy selects and a pair an allow policy
// selects (both ends: ingress and egress), next to a bare veth pair, interleaved in one run.
int bench_np_iperf(int seconds, int reps, bool pin) {
  VethPair base;
  if (!base.ok()) return std::fprintf(stderr, "baseline veth pair failed\n"), 1;
  BenchCluster c(kPodnet);
  if (!c.up(3, "vxlan")) return 1;
  auto api = api_for(c);
  json::object selector{{"matchLabels", json::object{{"np", "on"}}}};
  json::object pair{{"podSelector", selector}};
  json::object spec{{"podSelector", selector},
                    {"policyTypes", json::array{"Ingress", "Egress"}},
                    {"ingress", json::array{json::object{{"from", json::array{pair}}}}},
                    {"egress", json::array{json::object{{"to", json::array{pair}}}}}};
  if (!api->create(kNetworkPolicies, network_policy("iperf-pair", std::move(spec)))) return 1;
  json::object on{{"np", "on"}}, off{{"np", "off"}};
  for (auto& [name, node, cmd, port, labels] :
       std::vector<std::tuple<std::string, std::string, std::vector<std::string>, int, json::object>>{
           {"srv-open", "node2", {"iperf3", "-s"}, 5201, off},
           {"cli-open", "node1", {"sleep", "100000"}, 0, off},
           {"srv-pol", "node2", {"iperf3", "-s"}, 5201, on},
           {"cli-pol", "node1", {"sleep", "100000"}, 0, on}})
    if (!api->create(kPods, with_labels(pod_spec(name, node, cmd, port), labels))) return 1;
  std::map<std::string, json::value> pods;
  for (const char* name : {"srv-open", "cli-open", "srv-pol", "cli-pol"}) {
    auto p = wait_ready(*api, name);
    if (!p) return 1;
    pods[name] = *p;
  }
  std::string open_ip = str(pods["srv-open"], {"status", "podIP"}),
              pol_ip = str(pods["srv-pol"], {"status", "podIP"});
  // The policy is in force: the unselected client may not reach the selected server.
  {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(5201);
    ::inet_pton(AF_INET, pol_ip.c_str(), &sa.sin_addr);
    auto ns = podnet::netlink::NetNs::open("/run/netns/" + pod_netns(pods["cli-open"]));
    bool through = ns && ns->run([&]() -> podnet::Result<bool> {
                             return try_connect(sa, std::chrono::milliseconds(500));
                           }).value_or(true);
    if (through) return std::fprintf(stderr, "npiperf: the policy does not keep cli-open from srv-pol\n"), 1;
  }
  double waited = settle();
  std::vector<double> veth, open, pol, ratio;
  for (int rep = 0; rep < reps; ++rep) {
    // Rotated order, so a drift in load over the run does not favour one case.
    for (int k = 0; k < 3; ++k) {
      int which = (rep + k) % 3;
      std::optional<double> g = which == 0   ? base.run(seconds, pin)
                                : which == 1 ? iperf(pod_netns(pods["cli-open"]), open_ip, seconds, pin)
                                             : iperf(pod_netns(pods["cli-pol"]), pol_ip, seconds, pin);
      if (!g) return 1;
      (which == 0 ? veth : which == 1 ? open : pol).push_back(*g);
    }
    ratio.push_back(pol.back() / open.back());
  }
  auto runs = [](const std::vector<double>& v) {
    std::string s;
    for (double g : v) s += std::to_string(g).substr(0, 5) + " ";
    return s;
  };
  std::printf(
      "npiperf (3 nodes, vxlan, eBPF fast path on; pods on node1 -> node2; 1 TCP stream, %d s per run, "
      "first second omitted, %d interleaved runs each, %s; waited %.1f s for an idle machine):\n",
      seconds, reps, iperf_affinity(pin).empty() ? "unpinned" : "client on CPU 0, server on CPU 1", waited);
  std::printf("  bare veth pair:                          median %.2f Gbit/s; runs %s\n", median(veth),
              runs(veth).c_str());
  std::printf("  no policy selects the pods:              median %.2f Gbit/s (%.0f%% of veth); runs %s\n",
              median(open), 100 * median(open) / median(veth), runs(open).c_str());
  std::printf("  an allow policy selects both (in + eg):  median %.2f Gbit/s (%.0f%% of veth); runs %s\n",
              median(pol), 100 * median(pol) / median(veth), runs(pol).c_str());
  std::printf("  policy / no policy, per rep: median %.2f (runs %s); target within 5%%\n", median(ratio),
              runs(ratio).c_str());
  std::fflush(stdout);
  return 0;
}

// From `netns`, connects (each attempt a new socket, `wait` each) to every address until each one
// answered (want == true) or each one timed out (want == false); the time that was first true of all
// of them, nullopt after 10 s. A denied SYN is dropped, so a denial shows only as a timeout.
std::optional<Clock::time_point> wait_reach(const std::string& netns, const std::vector<std::string>& ips,
                                            int port, bool want, std::chrono::milliseconds wait) {
  auto ns = podnet::netlink::NetNs::open("/run/netns/" + netns);
  if (!ns) return std::nullopt;
  std::vector<sockaddr_in> addrs;
  for (const auto& ip : ips) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
    addrs.push_back(sa);
  }
  auto r = ns->run([&]() -> podnet::Result<std::optional<Clock::time_point>> {
    std::vector<bool> done(addrs.size(), false);
    size_t left = addrs.size();
    auto end = Clock::now() + std::chrono::seconds(10);
    while (left > 0 && Clock::now() < end) {
      for (size_t i = 0; i < addrs.size(); ++i) {
        if (done[i]) continue;
        auto before = Clock::now();
        if (try_connect(addrs[i], wait) == want) {
          done[i] = true;
          --left;
        } else if (Clock::now() - before < std::chrono::milliseconds(1)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
    }
    if (left > 0) return std::optional<Clock::time_point>();
    return std::optional(Clock::now());
  });
  return r ? *r : std::nullopt;
}

// One pod label change -> live on all nodes: a policy lets only `access=yes` pods reach servers on
// node1..3; the client's label is patched to yes (timed until it connects to all three) and back.
int bench_np_label(int changes) {
  BenchCluster c(kPodnet);
  if (!c.up(3, "vxlan")) return 1;
  auto api = api_for(c);
  json::object from{{"podSelector", json::object{{"matchLabels", json::object{{"access", "yes"}}}}}};
  json::object rule{{"from", json::array{from}}, {"ports", json::array{json::object{{"port", 8080}}}}};
  json::object spec{{"podSelector", json::object{{"matchLabels", json::object{{"role", "srv"}}}}},
                    {"ingress", json::array{rule}}};
  if (!api->create(kNetworkPolicies, network_policy("live-srv", std::move(spec)))) return 1;
  std::vector<std::string> servers;
  for (int n = 1; n <= 3; ++n) {
    std::string name = "srv" + std::to_string(n);
    if (!api->create(kPods, with_labels(pod_spec(name, "node" + std::to_string(n),
                                                 {kPodTool, "serve", "8080", "x"}, 8080),
                                        json::object{{"role", "srv"}})))
      return 1;
    servers.push_back(name);
  }
  if (!api->create(kPods, with_labels(pod_spec("client", "node1", {"sleep", "100000"}, 0),
                                      json::object{{"access", "no"}})))
    return 1;
  std::vector<std::string> ips;
  for (const auto& s : servers) {
    auto p = wait_ready(*api, s);
    if (!p) return 1;
    ips.push_back(str(*p, {"status", "podIP"}));
  }
  auto client = wait_ready(*api, "client");
  if (!client) return 1;
  std::string netns = pod_netns(*client);
  const std::string path = std::string(kPods) + "/client";
  auto label = [&](const char* v) {
    json::object labels{{"access", v}};
    return api->patch(path, podnet::k8s::PatchType::kMerge,
                      json::object{{"metadata", json::object{{"labels", labels}}}});
  };
  // Denied at first (the client has access=no).
  if (!wait_reach(netns, ips, 8080, false, std::chrono::milliseconds(200)))
    return std::fprintf(stderr, "nplabel: the client reaches a server before its label allows it\n"), 1;
  std::vector<double> allow, allow_ack, deny;
  int failed = 0;
  for (int i = 0; i < changes && !podnet::bench::StopSignal::requested(); ++i) {
    auto t0 = Clock::now();
    auto r = label("yes");
    auto t1 = Clock::now();
    if (!r) return std::fprintf(stderr, "patch: %s\n", r.error().message().c_str()), 1;
    auto live = wait_reach(netns, ips, 8080, true, std::chrono::milliseconds(5));
    if (!live) {
      ++failed;
    } else {
      allow.push_back(ms_since(t0, *live));
      allow_ack.push_back(ms_since(t1, *live));
    }
    auto d0 = Clock::now();
    if (!label("no")) return 1;
    // A denial is seen as a 20 ms timeout: the figure includes up to that much.
    auto gone = wait_reach(netns, ips, 8080, false, std::chrono::milliseconds(20));
    if (!gone) return std::fprintf(stderr, "nplabel: access=no still reaches a server after 10 s\n"), 1;
    deny.push_back(ms_since(d0, *gone));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf(
      "nplabel (3 nodes, vxlan; policy lets access=yes pods reach role=srv pods on node1..3; "
      "the client on node1 relabelled):\n");
  std::printf("  label access=yes (PATCH) -> the client connects to all 3 servers: %s\n",
              summary(allow).c_str());
  std::printf("    (PATCH response -> live: %s)\n", summary(allow_ack).c_str());
  std::printf("  label access=no -> all 3 time out (20 ms each, included): %s\n", summary(deny).c_str());
  std::printf("  not live within 10 s: %d; target p99 < 100 ms\n", failed);
  std::fflush(stdout);
  return failed ? 1 : 0;
}

// ---- rss -----------------------------------------------------------------------------------------

long status_kb(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with(field + ":")) return std::atol(line.c_str() + field.size() + 1);
  return -1;
}

// Elements of the proxy's service-ips maps in a node namespace: one per shard table
// (podnet-proxy-<n>), IPv4 and IPv6. The node namespace is the cluster's, so its whole ruleset is ours.
long frontends(const std::string& netns) {
  auto r = shell("ip netns exec " + netns + " nft -j list ruleset");
  boost::system::error_code ec;
  auto v = json::parse(r.out, ec);
  if (ec) return -1;
  long n = 0;
  bool found = false;
  for (const auto& item : v.at("nftables").as_array()) {
    const auto* m = item.as_object().if_contains("map");
    if (!m) continue;
    const auto& map = m->as_object();
    if (map.at("name").as_string() != "service-ips" ||
        !map.at("table").as_string().starts_with("podnet-proxy"))
      continue;
    found = true;
    if (const auto* e = map.if_contains("elem")) n += static_cast<long>(e->as_array().size());
  }
  return found ? n : -1;
}

// The agents' VmRSS (kB) after the Services are programmed, per node, in `after_kb`.
// PN_BENCH_RSS_HOLD=<file>: the bench creates the file and waits until it is removed, once before
// the Services are written and once before the "after" report (to attach heaptrack or gdb to an agent).
void rss_hold(const char* when) {
  const char* hold = ::getenv("PN_BENCH_RSS_HOLD");
  if (!hold) return;
  std::ofstream(hold) << when << "\n";
  std::printf("  holding (%s) until %s is removed\n", when, hold);
  std::fflush(stdout);
  while (std::filesystem::exists(hold)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

int bench_rss(const std::string& podnet, int services, int writers, bool dns, std::vector<long>& after_kb) {
  BenchCluster c(podnet);
  if (!c.up(3, "vxlan", dns ? "" : "--no-dns")) return 1;
  auto api = api_for(c);
  auto nodes = node_namespaces(c, 3);
  if (!api->create(kPods, pod_spec("rss-backend", "node1", {kPodTool, "serve", "8080", "x"}, 8080))) return 1;
  auto backend = wait_ready(*api, "rss-backend");
  if (!backend) return 1;
  std::string backend_ip = str(*backend, {"status", "podIP"});
  auto report = [&](const char* when) {
    std::printf("  %s:", when);
    for (int i = 1; i <= 3; ++i) {
      pid_t pid = c.daemon_pid("agent-node" + std::to_string(i));
      std::printf(" node%d VmRSS %.1f MB (anon %.1f, file %.1f; VmHWM %.1f);", i,
                  status_kb(pid, "VmRSS") / 1024.0, status_kb(pid, "RssAnon") / 1024.0,
                  status_kb(pid, "RssFile") / 1024.0, status_kb(pid, "VmHWM") / 1024.0);
    }
    std::printf(" server VmRSS %.1f MB\n", status_kb(c.daemon_pid("server"), "VmRSS") / 1024.0);
  };
  std::printf(
      "rss (3 nodes, vxlan, cluster DNS %s; %d selector-less Services, one EndpointSlice with 1 endpoint "
      "each):\n",
      dns ? "on" : "off (--no-dns)", services);
  report("before");
  rss_hold("before");
  long preexisting = frontends(nodes[0]);  // the kubernetes Service's, if any
  std::atomic<int> next{0}, errors{0};
  std::vector<std::string> last_vip(writers);
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      auto mine = api_for(c);
      for (int i; (i = next++) < services;) {
        std::string name = "rss-" + std::to_string(i);
        auto s = mine->create(kServices, service(name));
        auto e = mine->create(kSlices, slice(name, backend_ip));
        if (!s || !e) {
          ++errors;
          continue;
        }
        last_vip[w] = str(*s, {"spec", "clusterIP"});
      }
    });
  for (auto& t : threads) t.join();
  double write_s = ms_since(t0, Clock::now()) / 1000;
  // Every writer's last Service reachable everywhere, and every node's map complete.
  for (auto& vip : last_vip)
    if (!vip.empty() && !wait_live(nodes, vip, 80)) std::fprintf(stderr, "%s not live\n", vip.c_str());
  std::vector<long> counts(3);
  for (int tries = 0; tries < 120; ++tries) {
    for (int i = 0; i < 3; ++i) counts[i] = frontends(nodes[i]);
    if (*std::min_element(counts.begin(), counts.end()) >= preexisting + services) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  double live_s = ms_since(t0, Clock::now()) / 1000;
  std::this_thread::sleep_for(std::chrono::seconds(3));
  std::printf(
      "  %d Services + %d EndpointSlices written in %.1f s by %d clients (%d errors); all programmed "
      "after %.1f s; service-ips elements per node: %ld %ld %ld (%ld before)\n",
      services, services, write_s, writers, errors.load(), live_s, counts[0], counts[1], counts[2],
      preexisting);
  rss_hold("after");
  report("after");
  after_kb.clear();
  for (int i = 1; i <= 3; ++i)
    after_kb.push_back(status_kb(c.daemon_pid("agent-node" + std::to_string(i)), "VmRSS"));
  std::fflush(stdout);
  return errors == 0 && *std::min_element(counts.begin(), counts.end()) >= preexisting + services ? 0 : 1;
}

// ---- dns -----------------------------------------------------------------------------------------

// A recursion-desired A query for `name` with id `id` (RFC 1035 4.1).
std::string dns_query(const std::string& name, uint16_t id) {
  std::string q{static_cast<char>(id >> 8), static_cast<char>(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::stringstream ss(name);
  for (std::string label; std::getline(ss, label, '.');) {
    q += static_cast<char>(label.size());
    q += label;
  }
  q += std::string{0, 0, 1, 0, 1};  // root, QTYPE A, QCLASS IN
  return q;
}

enum class DnsAnswer { kRecord, kNegative, kNone };

// One query over a connected UDP socket; kRecord when the reply (same id) has rcode 0 and an answer.
DnsAnswer ask(int fd, const std::string& name, std::chrono::milliseconds wait) {
  static std::atomic<uint16_t> next_id{1};
  uint16_t id = next_id++;
  std::string q = dns_query(name, id);
  if (::send(fd, q.data(), q.size(), 0) < 0) return DnsAnswer::kNone;
  auto end = Clock::now() + wait;
  unsigned char buf[1500];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    int left =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
    if (::poll(&p, 1, std::max(left, 1)) != 1) return DnsAnswer::kNone;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 12) return DnsAnswer::kNone;  // ECONNREFUSED: nothing listens (the agent is down)
    if (((buf[0] << 8) | buf[1]) != id) continue;
    int rcode = buf[3] & 0x0f, answers = (buf[6] << 8) | buf[7];
    return rcode == 0 && answers > 0 ? DnsAnswer::kRecord : DnsAnswer::kNegative;
  }
  return DnsAnswer::kNone;
}

// A UDP socket connected to ip:53, made in the calling thread's network namespace.
podnet::UniqueFd dns_socket(const std::string& ip) {
  podnet::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(53);
  ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return {};
  return fd;
}

int bench_dns(int changes) {
  BenchCluster c(kPodnet);
  if (!c.up(3, "vxlan")) return 1;
  auto api = api_for(c);
  auto nodes = node_namespaces(c, 3);
  auto kube_dns = api->get("/api/v1/namespaces/kube-system/services/kube-dns");
  if (!kube_dns) return std::fprintf(stderr, "no kube-system/kube-dns\n"), 1;
  const std::string dns_ip = str(*kube_dns, {"spec", "clusterIP"});
  // Each node's thread enters its namespace once and answers requests: "is `name` a record yet?".
  struct Probe {
    std::mutex mu;
    std::condition_variable cv;
    std::string name;  // empty: idle
    bool stop = false;
    std::optional<Clock::time_point> seen;
    int negative_before = 0;
  };
  std::vector<std::unique_ptr<Probe>> probes;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < nodes.size(); ++i) {
    probes.push_back(std::make_unique<Probe>());
    threads.emplace_back([&, i] {
      Probe& pr = *probes[i];
      auto ns = podnet::netlink::NetNs::open("/run/netns/" + nodes[i]);
      if (!ns) return;
      (void)ns->run([&]() -> podnet::Status {
        auto fd = dns_socket(dns_ip);
        std::unique_lock l(pr.mu);
        while (true) {
          pr.cv.wait(l, [&] { return pr.stop || !pr.name.empty(); });
          if (pr.stop) break;
          std::string name = pr.name;
          l.unlock();
          auto end = Clock::now() + std::chrono::seconds(10);
          std::optional<Clock::time_point> seen;
          while (Clock::now() < end)
            if (ask(fd.get(), name, std::chrono::milliseconds(20)) == DnsAnswer::kRecord) {
              seen = Clock::now();
              break;
            }
          l.lock();
          pr.seen = seen;
          pr.name.clear();
          pr.cv.notify_all();
        }
        return {};
      });
    });
  }
  auto stop_probes = [&] {
    for (auto& p : probes) {
      std::lock_guard l(p->mu);
      p->stop = true;
      p->cv.notify_all();
    }
    for (auto& t : threads) t.join();
  };
  // The server answers once the agents see kube-dns: wait for `kubernetes.default`.
  {
    auto ns = podnet::netlink::NetNs::open("/run/netns/" + nodes[0]);
    bool up = false;
    if (ns)
      (void)ns->run([&]() -> podnet::Status {
        auto fd = dns_socket(dns_ip);
        auto end = Clock::now() + std::chrono::seconds(30);
        while (!up && Clock::now() < end)
          up = ask(fd.get(), "kubernetes.default.svc.cluster.local", std::chrono::milliseconds(100)) ==
               DnsAnswer::kRecord;
        return {};
      });
    if (!up) {
      stop_probes();
      return std::fprintf(stderr, "cluster DNS does not answer kubernetes.default on node1\n"), 1;
    }
  }
  std::vector<double> live_ms, ack_ms;
  int failed = 0, negative = 0;
  for (int i = 0; i < changes; ++i) {
    std::string svc = "dns-" + std::to_string(i);
    std::string fqdn = svc + ".default.svc.cluster.local";
    {  // asked before it exists: NXDOMAIN (our own zone: nothing is cached as negative)
      auto ns = podnet::netlink::NetNs::open("/run/netns/" + nodes[i % 3]);
      if (ns)
        (void)ns->run([&]() -> podnet::Status {
          auto fd = dns_socket(dns_ip);
          if (ask(fd.get(), fqdn, std::chrono::milliseconds(200)) == DnsAnswer::kNegative) ++negative;
          return {};
        });
    }
    auto t0 = Clock::now();
    for (auto& p : probes) {
      std::lock_guard l(p->mu);
      p->name = fqdn;
      p->seen.reset();
      p->cv.notify_all();
    }
    auto s = api->create(kServices, service(svc));
    auto t1 = Clock::now();
    if (!s) {
      stop_probes();
      return std::fprintf(stderr, "create service: %s\n", s.error().message().c_str()), 1;
    }
    Clock::time_point last{};
    bool all = true;
    for (auto& p : probes) {
      std::unique_lock l(p->mu);
      p->cv.wait(l, [&] { return p->name.empty(); });
      if (!p->seen)
        all = false;
      else
        last = std::max(last, *p->seen);
    }
    if (!all) {
      ++failed;
      continue;
    }
    live_ms.push_back(ms_since(t0, last));
    ack_ms.push_back(ms_since(t1, last));
  }
  stop_probes();
  std::printf("dns (3 nodes, vxlan; node-local server on kube-dns %s, queried from every node netns):\n",
              dns_ip.c_str());
  std::printf("  Service create -> A record answered on all 3 nodes: %s\n", summary(live_ms).c_str());
  std::printf("    (POST response -> answered: %s)\n", summary(ack_ms).c_str());
  std::printf("    NXDOMAIN before the create: %d of %d; not answered within 10 s: %d; target p99 < 100 ms\n",
              negative, changes, failed);
  std::fflush(stdout);

  // Agent restart: node1's agent killed; its supervisor starts it again.
  std::vector<double> gaps;
  for (int round = 0; round < 3; ++round) {
    pid_t agent = c.daemon_pid("agent-node1");
    if (agent <= 0) return std::fprintf(stderr, "no agent-node1 pid\n"), 1;
    double longest = 0;
    bool back = false;
    auto ns = podnet::netlink::NetNs::open("/run/netns/" + nodes[0]);
    if (!ns) return std::fprintf(stderr, "node1 netns: %s\n", ns.error().message().c_str()), 1;
    (void)ns->run([&]() -> podnet::Status {
      auto fd = dns_socket(dns_ip);
      auto last_ok = Clock::now();
      bool killed = false;
      auto end = Clock::now() + std::chrono::seconds(60);
      while (Clock::now() < end) {
        bool ok = ask(fd.get(), "dns-0.default.svc.cluster.local", std::chrono::milliseconds(10)) ==
                  DnsAnswer::kRecord;
        auto now = Clock::now();
        if (ok) {
          longest = std::max(longest, ms_since(last_ok, now));
          last_ok = now;
          if (killed && c.daemon_pid("agent-node1") != agent) {
            back = true;
            break;
          }
        }
        if (!killed) {
          ::kill(agent, SIGKILL);
          killed = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return {};
    });
    if (!back) return std::fprintf(stderr, "DNS on node1 not back within 60 s of the agent's kill\n"), 1;
    gaps.push_back(longest);
    std::this_thread::sleep_for(std::chrono::seconds(5));
  }
  std::printf(
      "  agent SIGKILL -> answers again on its node (longest gap between answers, probes every ~15 ms): %s\n",
      summary(gaps).c_str());
  std::fflush(stdout);
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "netprog,podstart,iperf,rss,dns";
  int changes = 200, pods = 100, services = 10000, seconds = 5, reps = 5, writers = 8, np_changes = 50;
  std::string pin = "yes", rss_dns = "on";
  CLI::App app{"cluster_bench: issue 5's benchmarks on real `podnet up` clusters"};
  app.add_option("--bench", which, "comma-separated: netprog,podstart,iperf,rss,dns (and npiperf,nplabel)")
      ->capture_default_str();
  app.add_option("--changes", changes, "netprog: writes per series; dns: Services created")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--pods", pods, "podstart: pods created")->capture_default_str()->check(CLI::PositiveNumber);
  std::string podstart_variants = "plain,policy";
  int podstart_runs = 1;
  std::string rss_podnet = kPodnet;
  app.add_option(
         "--rss-podnet", rss_podnet,
         "rss: the podnet binary (podnet-cni and podnet-shim beside it), e.g. a copy of another build's "
         "for an A/B comparison")
      ->capture_default_str();
  std::string podstart_podnet = kPodnet;
  app.add_option("--podstart-podnet", podstart_podnet,
                 "podstart: the podnet binary (podnet-cni and podnet-shim beside it), e.g. a copy of another "
                 "build's for an A/B comparison")
      ->capture_default_str();
  app.add_option(
         "--podstart-variants", podstart_variants,
         "podstart: plain (pods as they come), policy (default-deny + allow in place), comma-separated")
      ->capture_default_str()
      ->check(CLI::IsMember({"plain", "policy", "plain,policy", "policy,plain"}));
  app.add_option("--podstart-runs", podstart_runs, "podstart: runs of each variant, interleaved")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  app.add_option("--services", services, "rss: Services programmed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--iperf-seconds", seconds, "iperf: seconds per run")
      ->capture_default_str()
      ->check(CLI::Range(2, 600));
  app.add_option("--iperf-reps", reps, "iperf: runs per case")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--iperf-pin", pin, "iperf3 -A 0,1 in every case")
      ->capture_default_str()
      ->check(CLI::IsMember({"yes", "no"}));
  app.add_option("--rss-dns", rss_dns, "rss: cluster DNS on, off, or on,off (both, and the difference)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off", "on,off", "off,on"}));
  app.add_option("--np-changes", np_changes, "nplabel: label changes (each there and back)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--writers", writers, "rss: concurrent writers")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) return std::fprintf(stderr, "needs root\n"), 2;
  // Before any thread starts. A signal runs `podnet down` on every cluster at once (the main thread
  // may be waiting on a cluster for minutes), kills what the bench started and exits.
  podnet::bench::StopSignal stop("cluster_bench", std::chrono::milliseconds(0));
  std::set<std::string> run;
  std::stringstream ss(which);
  for (std::string w; std::getline(ss, w, ',');) {
    if (w != "netprog" && w != "podstart" && w != "iperf" && w != "rss" && w != "dns" && w != "npiperf" &&
        w != "nplabel")
      return std::fprintf(stderr, "--bench: unknown benchmark '%s' (netprog, podstart, iperf, rss, dns)\n",
                          w.c_str()),
             2;
    run.insert(w);
  }
  int rc = 0;
  if (run.contains("netprog")) rc |= bench_netprog(changes);
  if (run.contains("podstart")) {
    // Runs interleaved across the variants, each on a cluster of its own; then the spread.
    std::vector<std::string> variants;
    std::stringstream vs(podstart_variants);
    for (std::string v; std::getline(vs, v, ',');) variants.push_back(v);
    std::map<std::string, std::vector<PodstartRun>> runs;
    for (int r = 0; r < podstart_runs; ++r)
      for (const auto& v : variants) {
        PodstartRun one;
        rc |= bench_podstart(pods, v, podstart_podnet, one);
        runs[v].push_back(one);
      }
    if (podstart_runs > 1)
      for (const auto& v : variants) {
        std::printf("podstart %s, %d runs: p50", v.c_str(), podstart_runs);
        for (auto& one : runs[v]) {
          auto s = one.ready;
          std::sort(s.begin(), s.end());
          std::printf(" %.0f", pct(s, 0.5));
        }
        std::printf(" ms; p99");
        for (auto& one : runs[v]) {
          auto s = one.ready;
          std::sort(s.begin(), s.end());
          std::printf(" %.0f", pct(s, 0.99));
        }
        std::printf(" ms; first connection at Ready");
        for (auto& one : runs[v]) std::printf(" %d/%d", one.first_connect_ok, one.first_connect_tried);
        std::printf("\n");
      }
  }
  if (run.contains("iperf")) rc |= bench_iperf(seconds, reps, pin == "yes");
  if (run.contains("rss")) {
    std::map<bool, std::vector<long>> after;
    for (bool dns : {true, false})
      if (rss_dns.find(dns ? "on" : "off") != std::string::npos)
        rc |= bench_rss(rss_podnet, services, writers, dns, after[dns]);
    if (after[true].size() == 3 && after[false].size() == 3) {
      std::printf("rss: agent VmRSS with cluster DNS on minus off (%d Services):", services);
      for (int i = 0; i < 3; ++i)
        std::printf(" node%d %+.1f MB;", i + 1, (after[true][i] - after[false][i]) / 1024.0);
      std::printf("\n");
    }
  }
  if (run.contains("dns")) rc |= bench_dns(changes);
  if (run.contains("npiperf")) rc |= bench_np_iperf(seconds, reps, pin == "yes");
  if (run.contains("nplabel")) rc |= bench_np_label(np_changes);
  return rc;
}
