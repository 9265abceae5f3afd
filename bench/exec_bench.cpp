// exec_bench: issue 17's figures on a 1-node `podnet up` cluster (root).
//   exec:  `kubectl exec POD -- true` round trips (kubectl's start included), p50/p99 over --runs,
//          over the WebSocket and over plain SPDY/3.1 (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false),
//          interleaved run by run.
//   port-forward throughput: --megabytes sent through `kubectl port-forward` (SPDY/3.1 in a
//          WebSocket: kubectl -> TLS -> API server -> TLS -> agent -> the pod's localhost) to a sink
//          in the pod, next to, in the same rounds (interleaved, --rounds): a direct connection from
//          the node's netns to the pod's IP, and a plain two-hop TLS relay over the same path
//          (socat: a local listener -> TLS -> a relay in the host netns where the API server is ->
//          TLS -> a relay in the node's netns -> the pod), the honest bound for the forward.
// Every socat moves 64 KiB per read (its default, 8 KiB, makes the relay a weak bound).
// Throughput is what the sender pushed over its wall time (buffers of a few MiB stay in flight at
// the end: under 1% of 1 GB). Everything it starts is killed by pid and the cluster is taken down
// on exit or SIGINT/SIGTERM/SIGHUP (bench/stop_signal.h).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench_cluster.h"
#include "common/files.h"

namespace {

using Clock = std::chrono::steady_clock;
using podnet::bench::StopSignal;
using podnet::testing::shell;

// A background command (sh -c 'exec ...'), killed by pid when the object goes.
class Background {
 public:
  explicit Background(const std::string& cmd, const std::string& log) {
    pid_ = StopSignal::fork_child();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    StopSignal::reaped(pid_);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

 private:
  pid_t pid_ = -1;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// MB/s for `megabytes` of zeros sent by `sender` (a shell command reading stdin); 0 on failure.
double send_rate(const std::string& sender, int megabytes) {
  auto t0 = Clock::now();
  auto r = shell("head -c " + std::to_string(megabytes) + "M /dev/zero | " + sender);
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (r.rc != 0) {
    std::fprintf(stderr, "exec_bench: %s: %s\n", sender.c_str(), r.out.c_str());
    return 0;
  }
  return megabytes / s;
}

// Waits until `port` on 127.0.0.1 (or in `netns`) accepts; false after 20 s.
bool wait_listen(int port, const std::string& netns = "") {
  std::string ns = netns.empty() ? "" : "ip netns exec " + netns + " ";
  for (int i = 0; i < 100 && !StopSignal::requested(); ++i) {
    if (shell(ns + "ss -Hltn 'sport = :" + std::to_string(port) + "' | grep -q .").rc == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"exec_bench: kubectl exec round trips and port-forward throughput on a podnet up cluster"};
  int runs = 100, rounds = 5, megabytes = 1024;
  app.add_option("--runs", runs, "kubectl exec round trips")->check(CLI::Range(1, 10000));
  app.add_option("--rounds", rounds, "interleaved throughput rounds")->check(CLI::Range(1, 100));
  app.add_option("--megabytes", megabytes, "bytes per transfer, MiB")->check(CLI::Range(1, 65536));
  CLI11_PARSE(app, argc, argv);
  StopSignal stop("exec_bench", std::chrono::milliseconds(0));

  podnet::bench::BenchCluster c(podnet::testing::podnet_bin());
  if (!c.up(1, "vxlan")) return 1;
  const std::string dir = c.state_dir() + "/exec-bench";
  std::filesystem::create_directories(dir);
  // The sink listens on every address: the forward reaches it on localhost, the others on the pod IP.
  (void)podnet::write_file_atomic(dir + "/sink.json", R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"sink","namespace":"default"},"spec":{"terminationGracePeriodSeconds":1,
    "containers":[{"name":"c","image":"unused","command":["socat","-u","TCP-LISTEN:8080,fork,reuseaddr","OPEN:/dev/null"]}]}})");
  if (c.kubectl("apply -f " + dir + "/sink.json").rc != 0 ||
      c.kubectl("wait --for=condition=Ready --timeout=60s pod/sink").rc != 0) {
    std::fprintf(stderr, "exec_bench: pod sink not ready\n");
    return 1;
  }
  const std::string pod_ip = c.kubectl("get pod sink -o jsonpath='{.status.podIP}'").out;
  const std::string node_ns = c.node_netns(1), node_ip = c.node_ip(1);
  const std::string kubectl = std::string(podnet::testing::kKubectl) + " --kubeconfig " + c.kubeconfig();

  // Both transports of kubectl exec, interleaved run by run: the WebSocket (v5.channel.k8s.io) and
  // plain SPDY/3.1 (kubectl's fallback, v4.channel.k8s.io over SPDY streams).
  std::vector<double> exec_ms, spdy_ms;
  for (int i = 0; i < runs && !StopSignal::requested(); ++i) {
    for (bool spdy : {false, true}) {
      auto t0 = Clock::now();
      auto r = shell(std::string("/usr/bin/env KUBECTL_REMOTE_COMMAND_WEBSOCKETS=") +
                     (spdy ? "false " : "true ") + kubectl + " exec sink -- true");
      if (r.rc != 0) {
        std::fprintf(stderr, "exec_bench: kubectl exec: %s\n", r.out.c_str());
        return 1;
      }
      (spdy ? spdy_ms : exec_ms)
          .push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  }
  std::printf("exec round trip (kubectl exec sink -- true, %d runs each, interleaved):\n", runs);
  std::printf("  WebSocket  p50 %.1f ms, p99 %.1f ms\n", percentile(exec_ms, 0.5), percentile(exec_ms, 0.99));
  std::printf("  SPDY/3.1   p50 %.1f ms, p99 %.1f ms\n", percentile(spdy_ms, 0.5), percentile(spdy_ms, 0.99));
  std::fflush(stdout);

  // The TLS relay: a throwaway self-signed key for both relays (verification off: the bound is
  // the bytes' path, not the handshake).
  const std::string cert = dir + "/relay.pem";
  if (shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=pn-relay "
            "-days 1 -keyout " +
            cert + " -out " + cert + ".crt && cat " + cert + ".crt >> " + cert)
          .rc != 0)
    return 1;
  const int fwd_port = 19180, local_port = 19181, host_relay = 19182, node_relay = 19183;
  Background pf(kubectl + " port-forward pod/sink " + std::to_string(fwd_port) + ":8080", dir + "/pf.log");
  Background relay_node("ip netns exec " + node_ns +
                            " socat -b 65536 OPENSSL-LISTEN:" + std::to_string(node_relay) + ",cert=" + cert +
                            ",verify=0,fork,reuseaddr TCP:" + pod_ip + ":8080",
                        dir + "/relay-node.log");
  Background relay_host("socat -b 65536 OPENSSL-LISTEN:" + std::to_string(host_relay) +
                            ",bind=127.0.0.1,cert=" + cert + ",verify=0,fork,reuseaddr OPENSSL:" + node_ip +
                            ":" + std::to_string(node_relay) + ",verify=0",
                        dir + "/relay-host.log");
  Background relay_local(
      "socat -b 65536 TCP-LISTEN:" + std::to_string(local_port) +
          ",bind=127.0.0.1,fork,reuseaddr OPENSSL:127.0.0.1:" + std::to_string(host_relay) + ",verify=0",
      dir + "/relay-local.log");
  if (!wait_listen(fwd_port) || !wait_listen(local_port) || !wait_listen(host_relay) ||
      !wait_listen(node_relay, node_ns)) {
    std::fprintf(stderr, "exec_bench: a listener did not come up (logs in %s)\n", dir.c_str());
    return 1;
  }
  std::vector<double> direct, relay, forward;
  for (int r = 0; r < rounds && !StopSignal::requested(); ++r) {
    direct.push_back(
        send_rate("ip netns exec " + node_ns + " socat -b 65536 -u - TCP:" + pod_ip + ":8080", megabytes));
    relay.push_back(send_rate("socat -b 65536 -u - TCP:127.0.0.1:" + std::to_string(local_port), megabytes));
    forward.push_back(send_rate("socat -b 65536 -u - TCP:127.0.0.1:" + std::to_string(fwd_port), megabytes));
    std::printf("round %d: direct %.0f MB/s, TLS relay %.0f MB/s, port-forward %.0f MB/s\n", r + 1,
                direct.back(), relay.back(), forward.back());
    std::fflush(stdout);
  }
  double fwd50 = percentile(forward, 0.5), relay50 = percentile(relay, 0.5);
  std::printf("port-forward throughput, %d MiB x %d rounds (median / p95 [min-max], MB/s):\n", megabytes,
              rounds);
  auto row = [](const char* name, const std::vector<double>& v) {
    std::printf("  %-34s %7.0f / %7.0f [%.0f-%.0f]", name, percentile(v, 0.5), percentile(v, 0.95),
                percentile(v, 0), percentile(v, 1));
  };
  row("direct (node netns -> pod IP)", direct);
  std::printf("\n");
  row("two-hop TLS relay (socat)", relay);
  std::printf("\n");
  row("kubectl port-forward (SPDY in WS)", forward);
  std::printf("   %.0f%% of the relay\n", relay50 > 0 ? 100 * fwd50 / relay50 : 0);
  return StopSignal::requested() ? StopSignal::exit_code() : 0;
}
