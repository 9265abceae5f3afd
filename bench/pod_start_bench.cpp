// pod_start_bench: create-to-Ready latency of pods run by the agent's kubelet role (PodManager).
//
// An in-process API server, one node namespace, podnet-cni as the network, and --pods pods created
// at once (each: one container `pod_tool serve 8080` with a tcpSocket readiness probe). For every
// pod the time runs from just before its POST to the first watch event showing Ready=True; p50,
// p99 and max are printed. Each pod gets its mount namespace with resolv.conf and hosts files
// (--no-pod-mounts: none, for comparison). Target (issue 5): p99 under 1 s for 100 pods. Then all pods
// are deleted and the bench waits until the node has released them. Everything lives in a namespace
// and a directory the bench makes (pn-pb-<pid>, pn-pb<pid>-*, /var/tmp/pn-podbench-*) and removes, also
// on SIGINT/SIGTERM/SIGHUP: the pods created so far are deleted and released the normal way; what
// is still there 45 s later is removed by force (bench/stop_signal.h). Needs root.
//
//   pod_start_bench [--pods N] [--no-pod-mounts]
#include <sys/mount.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "apiserver/api_server.h"
#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "common/files.h"
#include "netlink/netns.h"
#include "runtime/pod_manager.h"
#include "stop_signal.h"
#include "tls_client.h"

namespace {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using podnet::apiserver::testing::TlsClient;
using podnet::bench::StopSignal;

bool ready(const json::value& pod) {
  const auto* st = pod.as_object().if_contains("status");
  const auto* cs = st && st->is_object() ? st->get_object().if_contains("conditions") : nullptr;
  if (!cs || !cs->is_array()) return false;
  for (const auto& c : cs->get_array())
    if (c.at("type") == "Ready" && c.at("status") == "True") return true;
  return false;
}

int run(int pods, bool pod_mounts) {
  char tmpl[] = "/var/tmp/pn-podbench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  StopSignal::track_path(dir);
  std::string netns = "pn-pb-" + std::to_string(::getpid());
  const std::string pod_netns_prefix = "pn-pb" + std::to_string(::getpid()) + "-";
  // If the pods cannot be released in time after a signal: their namespaces, made by PodManager.
  int forced = StopSignal::add_cleanup([pod_netns_prefix] {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/var/run/netns", ec))
      if (e.path().filename().string().starts_with(pod_netns_prefix))
        (void)podnet::netlink::delete_named_netns(e.path().filename().string());
  });
  struct Cleanup {
    std::string dir, netns;
    int forced;
    ~Cleanup() {
      (void)StopSignal::delete_netns(netns);
      ::umount2((dir + "/mntns").c_str(), MNT_DETACH);  // the pods' mount namespaces were bound below
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      StopSignal::untrack_path(dir);
      StopSignal::remove_cleanup(forced);
    }
  } cleanup{dir, netns, forced};
  auto node = StopSignal::create_netns(netns);
  if (!node) return std::fprintf(stderr, "%s\n", node.error().message().c_str()), 1;
  (void)node->run([]() -> podnet::Status {
    return ::system("ip link set lo up") == 0 ? podnet::Status{} : podnet::fail_msg("lo");
  });

  podnet::apiserver::ApiServerOptions so;
  so.data_dir = dir + "/server";
  so.port = 0;
  auto server = podnet::apiserver::ApiServer::start(so);
  if (!server) return std::fprintf(stderr, "%s\n", server.error().message().c_str()), 1;
  auto ca = podnet::read_file((*server)->pki_dir() + "/ca.crt");
  auto crt = podnet::read_file((*server)->pki_dir() + "/admin.crt");
  auto key = podnet::read_file((*server)->pki_dir() + "/admin.key");
  TlsClient admin((*server)->port(), *ca, podnet::apiserver::KeyPair{*crt, *key});
  auto access = podnet::client::load_kubeconfig((*server)->kubeconfig_path());
  auto reads = podnet::client::HttpsApiClient::create(*access);
  // Every pod write over the kept-alive client, as the agent sends them.
  podnet::runtime::ClientPodApi api(**reads, "node1");

  std::filesystem::create_directories(dir + "/cni");
  json::object ipam{{"type", "podnet"},
                    {"dataDir", dir + "/ipam"},
                    {"ranges", json::array{json::array{json::object{{"subnet", "10.244.9.0/24"}}}}}};
  json::object plugin{{"type", "podnet"},
                      {"bridge", "pnbr0"},
                      {"isGateway", true},
                      {"stateDir", dir + "/cni-state"},
                      {"ipam", ipam}};
  json::object conf{{"cniVersion", "1.1.0"}, {"name", "podnet"}, {"plugins", json::array{plugin}}};
  (void)podnet::write_file_atomic(dir + "/cni/10-podnet.conflist", json::serialize(conf));
  podnet::runtime::PodManagerOptions o;
  o.node_name = "node1";
  o.node_ip = "192.0.2.10";
  o.state_dir = dir + "/node";
  o.cni_bin = std::string(PODNET_BINARY_DIR) + "/podnet-cni";
  o.cni_conf = dir + "/cni";
  o.netns_prefix = pod_netns_prefix;
  o.node_netns = "/var/run/netns/" + netns;
  o.log_address = "127.0.0.1";
  o.log_port = 0;
  // Each pod's mount namespace with its resolv.conf and hosts; --no-pod-mounts: none, as before.
  o.mntns_dir = pod_mounts ? dir + "/mntns" : "";
  o.cluster_dns = {"10.96.0.10"};
  podnet::apiserver::CertRequest serving;
  serving.common_name = "system:node:node1";
  serving.server_auth = true;
  serving.ip_addresses = {"127.0.0.1"};
  auto ca_key = podnet::read_file((*server)->pki_dir() + "/ca.key");
  auto serving_pair = podnet::apiserver::make_leaf({*ca, ca_key.value_or("")}, serving);
  if (!serving_pair) return std::fprintf(stderr, "%s\n", serving_pair.error().message().c_str()), 1;
  o.log_tls = podnet::runtime::LogServerTls{serving_pair->cert_pem, serving_pair->key_pem, *ca};
  if (StopSignal::requested()) return 1;
  auto manager = podnet::runtime::PodManager::start(o, api);
  if (!manager) return std::fprintf(stderr, "%s\n", manager.error().message().c_str()), 1;

  auto watch = admin.watch("/api/v1/namespaces/default/pods?watch=1");
  std::map<std::string, Clock::time_point> created;
  std::map<std::string, double> latency_ms;
  std::thread watcher([&] {
    while (static_cast<int>(latency_ms.size()) < pods && !StopSignal::requested()) {
      auto ev = watch->next(std::chrono::seconds(30));
      if (!ev) break;
      const auto& obj = ev->at("object");
      std::string name(obj.at("metadata").at("name").as_string());
      auto now = Clock::now();
      if (ready(obj) && !latency_ms.contains(name)) {
        // created[] is filled before the POST that makes the event possible.
        latency_ms[name] = std::chrono::duration<double, std::milli>(now - created.at(name)).count();
      }
    }
  });
  std::string tool = std::string(PODNET_BINARY_DIR) + "/tests/runtime/pod_tool";
  std::vector<std::string> names;
  for (int i = 0; i < pods; ++i) names.push_back("bench-" + std::to_string(i));
  for (const auto& name : names) created[name] = Clock::time_point::max();
  size_t posted = 0;
  for (const auto& name : names) {
    if (StopSignal::requested()) break;
    ++posted;
    json::object c{{"name", "c"},
                   {"image", "none"},
                   {"command", json::array{tool, "serve", "8080", "x"}},
                   {"readinessProbe", {{"tcpSocket", {{"port", 8080}}}, {"periodSeconds", 1}}}};
    json::object pod{
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}}},
        {"spec",
         {{"nodeName", "node1"}, {"containers", json::array{c}}, {"terminationGracePeriodSeconds", 2}}}};
    created[name] = Clock::now();
    auto r = admin.post("/api/v1/namespaces/default/pods", pod);
    if (r.status != 201) std::fprintf(stderr, "create %s: %d %s\n", name.c_str(), r.status, r.body.c_str());
  }
  if (StopSignal::requested()) {
    // The watcher waits for the next event: a pod for no node makes one (and the deletions below).
    json::object marker{{"apiVersion", "v1"},
                        {"kind", "Pod"},
                        {"metadata", {{"name", "bench-stop"}}},
                        {"spec",
                         {{"nodeName", "pn-nowhere"},
                          {"containers", json::array{json::object{{"name", "c"}, {"image", "none"}}}}}}};
    admin.post("/api/v1/namespaces/default/pods", marker);
    admin.del("/api/v1/namespaces/default/pods/bench-stop");
  }
  watcher.join();
  std::vector<double> v;
  for (auto& [n, ms] : latency_ms) v.push_back(ms);
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  if (!StopSignal::requested()) {
    std::printf(
        "pod start (create -> Ready, %s), %d pods, %zu Ready: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
        "(target p99 < 1000 ms)\n",
        pod_mounts ? "mount ns + resolver files" : "no pod mount ns", pods, v.size(), pct(0.5), pct(0.99),
        v.empty() ? 0.0 : v.back());
  }
  for (size_t i = 0; i < posted; ++i) admin.del("/api/v1/namespaces/default/pods/" + names[i]);
  for (int i = 0; i < 600 && (*manager)->pod_count() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  manager->reset();
  return static_cast<int>(v.size()) == pods ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 100;
  bool pod_mounts = true;
  CLI::App app{
      "pod_start_bench: create -> Ready latency of pods run by PodManager on a node namespace it "
      "creates, against an in-process API server (root)"};
  app.add_option("--pods", pods, "Pods created at once")->check(CLI::Range(1, 10000))->capture_default_str();
  app.add_flag("!--no-pod-mounts", pod_mounts, "Pods get no mount namespace nor resolver files (comparison)");
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) return std::fprintf(stderr, "pod_start_bench: needs root\n"), 1;
  StopSignal stop("pod_start_bench", std::chrono::seconds(45));
  int rc = run(pods, pod_mounts);
  if (StopSignal::requested()) {
    std::fprintf(stderr, "pod_start_bench: interrupted, cleaned up\n");
    return StopSignal::exit_code();
  }
  return rc;
}
