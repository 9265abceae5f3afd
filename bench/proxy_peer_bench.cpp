// podnet's proxy against kube-proxy's iptables shape (iptables-legacy-restore) and nftables shape
// (nft -f), side by side, for the same N ClusterIP services x 10 endpoints (root). For each shape
// and N: the time and peak RSS of the process that loads the rules into an empty network namespace,
// then connect() latency from a client namespace through that namespace to a backend namespace,
// for the first and the last service (iptables walks KUBE-SERVICES in order).
//
//   client 10.244.0.2 --- router 10.244.0.1 | 10.244.1.1 (rules) --- backend 10.244.1.2-11 :8080
//
// Usage: proxy_peer_bench [--sizes 10,1000,10000,100000] [--shapes podnet,iptables,nft]
//                         [--timeout-s 600] [--nft-max 10000] [--connects 2000]
// Everything lives in namespaces pn-pb-<pid>-* and /var/tmp/pn-pb-<pid>, removed at the end, on
// failure and on SIGINT/SIGTERM/SIGHUP (bench/stop_signal.h; loaders still running are killed).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/peer_rules.h"
#include "netlink/netns.h"
#include "proxy/kernel.h"
#include "proxy/proxier.h"
#include "stop_signal.h"

namespace {

using namespace podnet;
using namespace podnet::bench;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBackendBase = (10u << 24) | (244u << 16) | (1u << 8) | 2;  // 10.244.1.2
constexpr int kEndpoints = 10;

std::vector<PeerService> make_services(int n) {
  std::vector<PeerService> out(n);
  for (int i = 0; i < n; ++i) {
    auto& s = out[i];
    s.name = "bench/svc-" + std::to_string(i);
    s.cluster_ip = ((10u << 24) | (96u << 16)) + 16 + i;
    // The first and last services are the probes: their endpoints are the backend's addresses.
    const bool probe = i == 0 || i == n - 1;
    for (int j = 0; j < kEndpoints; ++j)
      s.endpoints.push_back(probe ? kBackendBase + j
                                  : (11u << 24) + static_cast<uint32_t>(i) * kEndpoints + j);
  }
  return out;
}

int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) std::fprintf(stderr, "failed (%d): %s\n", rc, cmd.c_str());
  return rc;
}

// Three namespaces joined by two veth pairs; deleting the namespaces removes the links.
class Topology {
 public:
  explicit Topology(const std::string& prefix) : prefix_(prefix) {}
  ~Topology() {
    ns_.clear();
    for (const auto& n : made_)
      if (auto s = StopSignal::delete_netns(n); !s) std::fprintf(stderr, "%s\n", s.error().message().c_str());
  }
  bool setup() {
    for (const char* role : {"r", "c", "b"}) {
      auto ns = StopSignal::create_netns(prefix_ + role);
      if (!ns) {
        std::fprintf(stderr, "netns: %s\n", ns.error().message().c_str());
        return false;
      }
      made_.push_back(prefix_ + role);
      ns_.emplace(role, std::move(*ns));
    }
    const std::string r = name("r"), c = name("c"), b = name("b");
    std::string backend_addrs;
    for (int j = 0; j < kEndpoints; ++j)
      backend_addrs += " && ip -n " + b + " addr add " + ipv4_text(kBackendBase + j) + "/24 dev eth0";
    return sh("ip -n " + r + " link add pnc type veth peer name eth0 netns " + c + " && ip -n " + r +
              " link add pnb type veth peer name eth0 netns " + b + " && ip -n " + r +
              " addr add 10.244.0.1/24 dev pnc && ip -n " + r + " addr add 10.244.1.1/24 dev pnb && ip -n " +
              c + " addr add 10.244.0.2/24 dev eth0" + backend_addrs + " && for n in " + r + " " + c + " " +
              b + "; do ip -n $n link set lo up; done && ip -n " + r + " link set pnc up && ip -n " + r +
              " link set pnb up && ip -n " + c + " link set eth0 up && ip -n " + b +
              " link set eth0 up && ip -n " + c + " route add default via 10.244.0.1 && ip -n " + b +
              " route add default via 10.244.1.1 && " + "ip netns exec " + r +
              " sysctl -qw net.ipv4.ip_forward=1") == 0;
  }
  const netlink::NetNs& ns(const char* role) const { return ns_.at(role); }
  std::string name(const char* role) const { return prefix_ + role; }

 private:
  std::string prefix_;
  std::vector<std::string> made_;
  std::map<std::string, netlink::NetNs> ns_;
};

struct Load {
  bool ok = false, timed_out = false;
  double seconds = 0;
  long peak_rss_mb = 0;
  std::string error;
};

// Runs argv inside `ns` with `input` on stdin; kills it after `timeout`.
Load run_loader(const netlink::NetNs& ns, std::vector<std::string> argv, const std::string& input,
                const std::string& lockfile, std::chrono::seconds timeout) {
  Load out;
  const std::string err_file = input + ".err";
  auto start = Clock::now();
  pid_t pid = StopSignal::fork_child();
  if (pid < 0) {
    out.error = std::string("fork: ") + std::strerror(errno);
    return out;
  }
  if (pid == 0) {
    if (::setns(ns.fd(), CLONE_NEWNET) != 0) ::_exit(126);
    int in = ::open(input.c_str(), O_RDONLY);
    int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || err < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(err, 1);
    ::dup2(err, 2);
    // iptables' lock is a file shared by every namespace: a private one keeps others' iptables
    // commands from waiting for a 10-minute load.
    ::setenv("XTABLES_LOCKFILE", lockfile.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  for (;;) {
    pid_t r = ::wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (StopSignal::requested() || Clock::now() - start > timeout) {
      ::kill(pid, SIGKILL);
      ::wait4(pid, &status, 0, &usage);
      out.timed_out = !StopSignal::requested();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  StopSignal::reaped(pid);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  out.peak_rss_mb = usage.ru_maxrss / 1024;
  out.ok = !out.timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!out.ok && !out.timed_out) {
    std::ifstream f(err_file);
    std::stringstream ss;
    ss << f.rdbuf();
    out.error = ss.str().substr(0, 400);
  }
  ::unlink(err_file.c_str());
  return out;
}

// podnet's proxy in a child process (so its peak RSS is its own): plans and writes the same
// services with one full sync, timed around sync() alone.
Load load_podnet(const netlink::NetNs& ns, const std::vector<PeerService>& services) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  pid_t pid = StopSignal::fork_child();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {};
  }
  if (pid == 0) {
    ::close(fds[0]);
    auto kernel = ns.run([] { return proxy::NftProxyKernel::open(proxy::RulesetConfig{}); });
    if (!kernel) ::_exit(1);
    proxy::ProxierOptions opts{{"node-0", {boost::asio::ip::address_v4((10u << 24) | (244u << 16) | 1)}},
                               proxy::RulesetConfig{},
                               std::chrono::milliseconds(0)};
    proxy::Proxier proxier(*kernel, opts);
    for (const auto& ps : services) {
      k8s::Service s;
      s.meta.namespace_ = "bench";
      s.meta.name = ps.name.substr(6);
      s.cluster_ips = {boost::asio::ip::address_v4(ps.cluster_ip)};
      s.ports = {{"http", k8s::Protocol::kTcp, 80, int32_t{8080}, 0}};
      k8s::EndpointSlice sl;
      sl.meta.namespace_ = "bench";
      sl.meta.name = s.meta.name + "-abcde";
      sl.meta.labels[k8s::kServiceNameLabel] = s.meta.name;
      sl.ports = {{"http", k8s::Protocol::kTcp, 8080}};
      for (uint32_t ep : ps.endpoints) {
        k8s::Endpoint e;
        e.addresses = {ipv4_text(ep)};
        e.node_name = "node-" + std::to_string(ep % 5000);
        sl.endpoints.push_back(std::move(e));
      }
      proxier.upsert_service(std::move(s));
      proxier.upsert_slice(sl);
    }
    auto t0 = Clock::now();
    auto r = ns.run([&] { return proxier.sync(Clock::now()); });
    double took = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!r) {
      std::fprintf(stderr, "podnet sync: %s\n", r.error().message().c_str());
      ::_exit(1);
    }
    (void)!::write(fds[1], &took, sizeof took);
    ::_exit(0);
  }
  ::close(fds[1]);
  Load out;
  double took = 0;
  bool got = ::read(fds[0], &took, sizeof took) == sizeof took;
  ::close(fds[0]);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  StopSignal::reaped(pid);
  out.ok = got && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  out.seconds = took;
  out.peak_rss_mb = usage.ru_maxrss / 1024;
  if (!out.ok) out.error = "podnet child failed";
  return out;
}

struct Latency {
  double p50 = -1, p99 = -1;
};

// connect() times (us) from the client namespace to vip:80; the backend namespace accepts on :8080.
std::vector<double> connect_samples(const Topology& topo, uint32_t vip, int count) {
  auto listener = topo.ns("b").run([]() -> Result<int> {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(8080);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0)
      return fail("listen");
    return fd;
  });
  if (!listener) return {};
  std::atomic<bool> stop{false};
  std::thread acceptor([&] {
    while (!stop) {
      int c = ::accept(*listener, nullptr, nullptr);
      if (c >= 0) ::close(c);
    }
  });
  std::vector<double> us;
  const int warmup = 20;  // ARP, route and socket caches
  for (int i = 0; i < count + warmup && !StopSignal::requested(); ++i) {
    auto fd =
        topo.ns("c").run([]() -> Result<int> { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    if (!fd) break;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(80);
    a.sin_addr.s_addr = htonl(vip);
    auto t = Clock::now();
    int rc = ::connect(*fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    double took = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
    linger l{1, 0};  // RST instead of TIME_WAIT: thousands of connects must not run out of ports
    ::setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(*fd);
    if (rc == 0 && i >= warmup) us.push_back(took);
  }
  stop = true;
  ::shutdown(*listener, SHUT_RDWR);
  acceptor.join();
  ::close(*listener);
  return us;
}

Latency percentiles(std::vector<double> us, int wanted) {
  if (us.empty() || us.size() < static_cast<size_t>(wanted) * 9 / 10) {
    std::fprintf(stderr, "only %zu of %d connects succeeded\n", us.size(), wanted);
    return {};
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

struct Row {
  std::string shape;
  int services = 0;
  Load load;
  Latency first, last;
};

std::string fmt(double v, const char* f) {
  if (v < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

const Row* find(const std::vector<Row>& rows, const std::string& shape, int n) {
  for (const auto& r : rows)
    if (r.shape == shape && r.services == n && r.load.ok) return &r;
  return nullptr;
}

void print_table(const std::vector<Row>& rows) {
  std::printf("\n%-9s %8s %10s %8s | %-21s | %-21s | %s\n", "shape", "services", "load", "peak RSS",
              "connect first p50/p99", "connect last p50/p99", "ratios");
  for (const auto& r : rows) {
    std::string load = r.load.ok          ? fmt(r.load.seconds, "%.2f s")
                       : r.load.timed_out ? ">" + fmt(r.load.seconds, "%.0f s") + " (exceeded)"
                                          : "failed";
    std::string ratios;
    if (const Row* p = find(rows, "podnet", r.services); p && r.shape != "podnet" && r.load.ok)
      ratios += "load x" + fmt(r.load.seconds / p->load.seconds, "%.1f") + " podnet; last p50 x" +
                fmt(r.last.p50 / p->last.p50, "%.2f") + " p99 x" + fmt(r.last.p99 / p->last.p99, "%.2f") +
                " podnet; ";
    if (const Row* small = find(rows, r.shape, 10); small && r.services != 10 && r.load.ok)
      ratios += "last p50 x" + fmt(r.last.p50 / small->last.p50, "%.2f") + " p99 x" +
                fmt(r.last.p99 / small->last.p99, "%.2f") + " own@10";
    std::printf("%-9s %8d %10s %5ld MB | %8s / %8s us | %8s / %8s us | %s\n", r.shape.c_str(), r.services,
                load.c_str(), r.load.peak_rss_mb, fmt(r.first.p50, "%.1f").c_str(),
                fmt(r.first.p99, "%.1f").c_str(), fmt(r.last.p50, "%.1f").c_str(),
                fmt(r.last.p99, "%.1f").c_str(), ratios.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {10, 1000, 10000, 100000};
  std::vector<std::string> shapes = {"podnet", "iptables", "nft"};
  int timeout_s = 600, nft_max = 10000, connects = 2000;
  CLI::App app{
      "proxy_peer_bench: podnet's proxy against kube-proxy's iptables and nftables rule shapes, same N "
      "ClusterIP services x 10 endpoints: load time, peak RSS, connect latency (root; namespaces "
      "pn-pb-<pid>-*, removed at the end and on SIGINT/SIGTERM)"};
  app.add_option("--sizes", sizes, "Numbers of services, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--shapes", shapes, "Rule shapes, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember({"podnet", "iptables", "nft"}))
      ->capture_default_str();
  app.add_option("--timeout-s", timeout_s, "A load taking longer is killed and reported as exceeded")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--nft-max", nft_max, "Largest size the nft shape is run at")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--connects", connects, "connect() samples per shape, size and probe service")
      ->check(CLI::Range(10, 10000000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) return std::fprintf(stderr, "proxy_peer_bench: needs root\n"), 1;
  StopSignal stop("proxy_peer_bench", std::chrono::seconds(10));
  const std::string work = "/var/tmp/pn-pb-" + std::to_string(::getpid());
  if (::mkdir(work.c_str(), 0700) != 0) {
    std::perror(work.c_str());
    return 1;
  }
  StopSignal::track_path(work);
  // The work directory goes on every return; the namespaces go with their Topology.
  struct RemoveWork {
    std::string dir;
    ~RemoveWork() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      StopSignal::untrack_path(dir);
    }
  } remove_work{work};
  std::vector<Row> rows;
  for (int n : sizes) {
    if (StopSignal::requested()) break;
    const auto services = make_services(n);
    std::vector<std::unique_ptr<Topology>> topos;
    std::vector<Row> batch;
    for (const auto& shape : shapes) {
      if (StopSignal::requested()) break;
      if (shape == "nft" && n > nft_max) {
        std::printf("%s %d: not run (--nft-max %d)\n", shape.c_str(), n, nft_max);
        continue;
      }
      Row row{shape, n, {}, {}, {}};
      auto topo = std::make_unique<Topology>("pn-pb-" + std::to_string(::getpid()) + "-" +
                                             shape.substr(0, 3) + std::to_string(n) + "-");
      if (!topo->setup()) return StopSignal::requested() ? StopSignal::exit_code() : 1;
      const std::string file = work + "/" + shape + "-" + std::to_string(n);
      if (shape == "podnet") {
        row.load = load_podnet(topo->ns("r"), services);
      } else {
        std::ofstream(file) << (shape == "iptables" ? iptables_restore_text(services)
                                                    : kube_proxy_nft_text(services));
        std::vector<std::string> cmd = shape == "iptables"
                                           ? std::vector<std::string>{"iptables-legacy-restore", "--noflush"}
                                           : std::vector<std::string>{"nft", "-f", "-"};
        row.load =
            run_loader(topo->ns("r"), cmd, file, work + "/xtables.lock", std::chrono::seconds(timeout_s));
        ::unlink(file.c_str());
      }
      if (StopSignal::requested()) break;
      if (!row.load.ok && !row.load.timed_out)
        std::fprintf(stderr, "%s %d: %s\n", shape.c_str(), n, row.load.error.c_str());
      std::printf("%s %d: load %.2f s%s, peak RSS %ld MB\n", shape.c_str(), n, row.load.seconds,
                  row.load.timed_out ? " (timed out)"
                  : row.load.ok      ? ""
                                     : " (failed)",
                  row.load.peak_rss_mb);
      std::fflush(stdout);
      batch.push_back(row);
      topos.push_back(std::move(topo));
    }
    // Latency in interleaved rounds over all shapes loaded at this size, so the load other jobs put
    // on the machine falls on every shape alike.
    const int rounds = 10;
    std::vector<std::vector<double>> first(batch.size()), last(batch.size());
    for (int round = 0; round < rounds && !StopSignal::requested(); ++round)
      for (size_t i = 0; i < batch.size(); ++i) {
        if (!batch[i].load.ok) continue;
        auto f = connect_samples(*topos[i], services.front().cluster_ip, connects / rounds);
        auto l = connect_samples(*topos[i], services.back().cluster_ip, connects / rounds);
        first[i].insert(first[i].end(), f.begin(), f.end());
        last[i].insert(last[i].end(), l.begin(), l.end());
      }
    for (size_t i = 0; i < batch.size() && !StopSignal::requested(); ++i) {
      batch[i].first = percentiles(first[i], connects);
      batch[i].last = percentiles(last[i], connects);
      std::printf(
          "%s %d: connect first p50 %.1f p99 %.1f us, last p50 %.1f p99 %.1f us (%zu connects each)\n",
          batch[i].shape.c_str(), n, batch[i].first.p50, batch[i].first.p99, batch[i].last.p50,
          batch[i].last.p99, last[i].size());
      rows.push_back(batch[i]);
    }
    std::fflush(stdout);
  }
  if (StopSignal::requested()) {
    std::fprintf(stderr, "proxy_peer_bench: interrupted, cleaned up\n");
    return StopSignal::exit_code();
  }
  print_table(rows);
  return 0;
}
