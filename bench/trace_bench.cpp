// trace_bench: `podnet trace` (computed, no probe) on a 2-node `podnet up` cluster, the real CLI as
// a person runs it: pod -> Service across nodes, pod -> pod across nodes, and pod -> pod behind a
// NetworkPolicy (its node's per-rule counters read), interleaved, `--runs` each. Prints p50, p95 and
// max of the trace's own computed time (`ms` in its JSON) and of the whole process, and for every
// run over `--slow-ms` the requests that took longest (PODNET_TRACE_DEBUG): the 200 ms
// target and the hunt for the 10 s outlier. `--bulk-policies N` adds N policies in a namespace of
// their own (programmed nowhere: no pod there), which makes the nodes' rulesets no bigger but the
// API server's policy list longer. Needs root; `podnet down` on exit and on SIGINT/SIGTERM.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bench_cluster.h"

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using podnet::bench::BenchCluster;
using podnet::bench::StopSignal;

const std::string kPodnet = std::string(PODNET_BINARY_DIR) + "/podnet";

std::string pod(const std::string& name, const std::string& node, const std::string& app) {
  return "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" + name +
         "\",\"namespace\":\"default\",\"labels\":{\"app\":\"" + app + "\"}},\"spec\":{\"nodeName\":\"" +
         node +
         "\",\"terminationGracePeriodSeconds\":1,\"containers\":[{\"name\":\"c\",\"image\":\"unused\","
         "\"command\":[\"sleep\",\"3600\"]}]}}";
}
std::string service(const std::string& name, const std::string& app) {
  return "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" + name +
         "\",\"namespace\":\"default\"},\"spec\":{\"selector\":{\"app\":\"" + app +
         "\"},\"ports\":[{\"port\":80,\"targetPort\":8080,\"protocol\":\"TCP\"}]}}";
}
std::string policy(const std::string& ns, const std::string& name, const std::string& app, int port) {
  return "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"" +
         name + "\",\"namespace\":\"" + ns + "\"},\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"" +
         app +
         "\"}},\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{"
         "\"app\":\"client\"}}}],\"ports\":[{\"port\":" +
         std::to_string(port) + "}]}]}}";
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Case {
  std::string name, args;
  std::vector<double> computed, wall;
  int failed = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int runs = 20, bulk = 0;
  double slow_ms = 1000;
  std::string podnet = kPodnet, overlay = "vxlan";
  CLI::App app{"trace_bench: podnet trace's time on a 2-node podnet up cluster"};
  app.add_option("--runs", runs, "traces per case")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--bulk-policies", bulk, "policies added in namespace pn-bulk")->capture_default_str();
  app.add_option("--slow-ms", slow_ms, "print the slowest requests of runs slower than this")
      ->capture_default_str();
  app.add_option("--podnet", podnet, "the podnet binary")->capture_default_str();
  app.add_option("--overlay", overlay, "vxlan or host-gw")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  StopSignal stop("trace_bench", std::chrono::milliseconds(0));

  BenchCluster c(podnet);
  if (!c.up(2, overlay, "--timeout 120")) return 1;
  auto apply = [&](const std::string& manifest) {
    auto r = podnet::testing::shell("echo '" + manifest + "' | " + std::string(podnet::testing::kKubectl) +
                                    " --kubeconfig " + c.kubeconfig() + " apply -f - 2>&1");
    if (r.rc != 0) std::fprintf(stderr, "kubectl apply: %s\n", r.out.c_str());
    return r.rc == 0;
  };
  std::string items;
  for (const auto& m : {pod("a", "node1", "client"), pod("b", "node2", "other"), pod("c", "node2", "web"),
                        service("web", "web"), policy("default", "allow-client", "web", 8080)})
    items += (items.empty() ? "" : ",") + m;
  if (!apply("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[" + items + "]}")) return 1;
  if (bulk > 0) {
    if (c.kubectl("create namespace pn-bulk").rc != 0) return 1;
    for (int start = 0; start < bulk && !StopSignal::requested(); start += 200) {
      std::string list;
      for (int i = start; i < std::min(bulk, start + 200); ++i)
        list += (list.empty() ? "" : ",") +
                policy("pn-bulk", "p" + std::to_string(i), "a" + std::to_string(i), 1000 + i % 60000);
      if (!apply("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[" + list + "]}")) return 1;
    }
  }
  auto ready = c.kubectl("wait --for=condition=Ready pod/a pod/b pod/c --timeout=90s");
  if (ready.rc != 0) {
    std::fprintf(stderr, "pods not ready: %s\n", ready.out.c_str());
    return 1;
  }

  std::vector<Case> cases{
      {"pod -> Service across nodes, no policy on the client", "default/a svc/default/web"},
      {"pod -> pod across nodes, no policy", "default/a default/b"},
      {"pod -> pod across nodes, policy (counters read)", "default/a default/c --port 8080"}};
  const std::string out_file = c.state_dir() + "/trace-bench.out",
                    err_file = c.state_dir() + "/trace-bench.err";
  for (int run = 0; run < runs && !StopSignal::requested(); ++run)
    for (auto& k : cases) {
      auto t0 = Clock::now();
      // In a subshell: shell() appends its own 2>&1, which must not undo these redirections.
      auto r =
          podnet::testing::shell("(PODNET_TRACE_DEBUG=1 " + podnet + " trace -o json --kubeconfig " +
                                 c.kubeconfig() + " " + k.args + " >" + out_file + " 2>" + err_file + ")");
      double wall = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      auto out = podnet::testing::shell("cat " + out_file).out;
      json::error_code ec;
      json::value doc = json::parse(out, ec);
      if (r.rc != 0 || ec || !doc.is_object() || !doc.as_object().contains("ms")) {
        ++k.failed;
        std::fprintf(stderr, "%s: run %d failed (%d): %s\n", k.name.c_str(), run, r.rc,
                     out.substr(0, 300).c_str());
        continue;
      }
      k.computed.push_back(doc.at("ms").to_number<double>());
      k.wall.push_back(wall);
      if (wall > slow_ms) {
        // PODNET_TRACE_DEBUG lines: "<duration> ms +<start> <path>"; the three longest.
        std::vector<std::pair<double, std::string>> reqs;
        std::string err = podnet::testing::shell("cat " + err_file).out;
        for (size_t pos = 0; pos < err.size();) {
          size_t nl = err.find('\n', pos);
          std::string line = err.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
          pos = nl == std::string::npos ? err.size() : nl + 1;
          try {
            reqs.emplace_back(std::stod(line), line);
          } catch (const std::exception&) {
          }
        }
        std::sort(reqs.rbegin(), reqs.rend());
        std::fprintf(stderr, "slow: %s run %d: %.0f ms wall\n", k.name.c_str(), run, wall);
        for (size_t i = 0; i < std::min<size_t>(3, reqs.size()); ++i)
          std::fprintf(stderr, "    %s\n", reqs[i].second.c_str());
      }
    }
  std::printf("podnet trace, 2-node %s cluster, %d runs per case interleaved%s\n", overlay.c_str(), runs,
              bulk ? (", " + std::to_string(bulk) + " more policies in pn-bulk").c_str() : "");
  std::printf("%-52s %24s %24s %s\n", "case", "computed p50/p95/max ms", "wall p50/p95/max ms", "failed");
  for (const auto& k : cases)
    std::printf("%-52s %8.0f %7.0f %7.0f %8.0f %7.0f %7.0f %d\n", k.name.c_str(), percentile(k.computed, 0.5),
                percentile(k.computed, 0.95),
                k.computed.empty() ? 0 : *std::max_element(k.computed.begin(), k.computed.end()),
                percentile(k.wall, 0.5), percentile(k.wall, 0.95),
                k.wall.empty() ? 0 : *std::max_element(k.wall.begin(), k.wall.end()), k.failed);
  return StopSignal::requested() ? StopSignal::exit_code() : 0;
}
