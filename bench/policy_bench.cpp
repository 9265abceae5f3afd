// NetworkPolicy at scale (root), in network namespaces it creates:
//  1. programming: P policies over 10,000 pods in 100 namespaces on 100 nodes (100 pods local to
//     the benchmark's node, the rest API objects of other nodes): full sync (plan + one nft
//     transaction), RSS, table elements and nft text bytes, then one pod label change (a remote
//     pod moving between peer selectors) p50/p99 over 100 changes;
//  2. per-packet cost: connect() p50/p99 from one pod namespace through a node namespace to a pod
//     selected by policies, with 10 and with 10,000 policies, next to the same policies rendered in
//     kube-router's shape (per-pod chain -> per-policy chains -> ipset matches, iptables-nft), all
//     four loaded at once in their own namespaces and measured in interleaved rounds.
// Usage: policy_bench [--policies 1000,10000] [--connect-policies 10,10000] [--rounds 5]
// Everything it makes is named pn-bnp-<pid>-* and removed on exit, failure and SIGINT/SIGTERM/SIGHUP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "netlink/netns.h"
#include "policy/enforcer.h"
#include "policy/kernel.h"
#include "stop_signal.h"

namespace {

using namespace podnet;
using namespace podnet::policy;
using Clock = std::chrono::steady_clock;

constexpr int kPods = 10000, kNamespaces = 100, kNodes = 100;
constexpr int kServer = 0, kClient = 1;  // local pods 10.244.0.2 and 10.244.0.3: the probe pair
constexpr int kPort = 8080;

std::string pod_ip(int j) {
  return "10.244." + std::to_string(j / kNodes) + "." + std::to_string(j % kNodes + 2);
}
int pod_node(int j) {
  return j / kNodes;  // pods 0..99 run on node-0, the benchmark's node
}

// `moved`: the pod's role label is one no policy names (it leaves every peer selector it was in).
Pod make_pod(int j, bool moved = false) {
  Pod p;
  p.namespace_ = "ns-" + std::to_string(j % kNamespaces);
  p.name = "pod-" + std::to_string(j);
  p.node = "node-" + std::to_string(pod_node(j));
  p.labels = {{"app", "a" + std::to_string(j % 10)}, {"role", moved ? "none" : "r" + std::to_string(j % 7)}};
  if (j == kClient) p.labels["probe"] = "client";
  p.ips = {parse_ip(pod_ip(j)).value()};
  p.ports = {{"http", Protocol::kTcp, kPort}};
  return p;
}

Namespace make_namespace(int i) {
  Namespace n;
  n.name = "ns-" + std::to_string(i);
  n.labels = {{"kubernetes.io/metadata.name", n.name}, {"team", "t" + std::to_string(i % 10)}};
  return n;
}

LabelSelector labels(std::initializer_list<std::pair<const std::string, std::string>> l) {
  LabelSelector s;
  s.match_labels = Labels(l);
  return s;
}

// Policy i: in ns-(i%100), selects app=a((i/100)%10) (so each local pod is selected by P/1000
// policies), ingress from role=r(i%7) pods of team=t(i%10) namespaces plus one /24 ipBlock on one
// of 50 ports; every fourth policy also isolates egress (to every pod on 8080, DNS on UDP 53).
NetworkPolicy make_policy(int i) {
  NetworkPolicy np;
  np.namespace_ = "ns-" + std::to_string(i % kNamespaces);
  np.name = "np-" + std::to_string(i);
  np.pod_selector = labels({{"app", "a" + std::to_string((i / 100) % 10)}});
  PolicyRule in;
  PolicyPeer pods;
  pods.namespace_selector = labels({{"team", "t" + std::to_string(i % 10)}});
  pods.pod_selector = labels({{"role", "r" + std::to_string(i % 7)}});
  PolicyPeer block;
  block.ip_block = IpBlock{parse_prefix("172.16." + std::to_string(i % 256) + ".0/24").value(), {}};
  in.peers = {pods, block};
  in.ports = {{Protocol::kTcp, int32_t{8000 + i % 50}, std::nullopt}};
  np.ingress_rules = {in};
  if (i % 4 == 3) {
    np.egress = true;
    PolicyRule out;
    PolicyPeer all;
    all.namespace_selector = LabelSelector{};
    out.peers = {all};
    out.ports = {{Protocol::kTcp, int32_t{kPort}, std::nullopt}, {Protocol::kUdp, int32_t{53}, std::nullopt}};
    np.egress_rules = {out};
  }
  return np;
}

// The probe's own allow: the client pod (probe=client, any namespace) may reach the server's http port.
NetworkPolicy allow_probe() {
  NetworkPolicy np;
  np.namespace_ = "ns-0";
  np.name = "allow-probe";
  np.pod_selector = labels({{"app", "a0"}});
  PolicyPeer peer;
  peer.namespace_selector = LabelSelector{};
  peer.pod_selector = labels({{"probe", "client"}});
  np.ingress_rules = {{{peer}, {{Protocol::kTcp, std::string("http"), std::nullopt}}}};
  return np;
}

struct Workload {
  std::vector<Pod> pods;
  std::vector<Namespace> namespaces;
  std::vector<NetworkPolicy> policies;
};

Workload make_workload(int policies) {
  Workload w;
  for (int j = 0; j < kPods; ++j) w.pods.push_back(make_pod(j));
  for (int i = 0; i < kNamespaces; ++i) w.namespaces.push_back(make_namespace(i));
  for (int i = 0; i < policies; ++i) w.policies.push_back(make_policy(i));
  w.policies.push_back(allow_probe());
  return w;
}

void load(Enforcer& e, const Workload& w) {
  e.set_own_ranges({parse_prefix("10.244.0.0/24").value()});
  for (const auto& n : w.namespaces) e.put_namespace(n);
  for (const auto& p : w.pods) e.put_pod(p);
  for (const auto& np : w.policies) e.put_policy(np);
}

long rss_kb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}
// This process's CPU time (user + system; the kernel's share of an nft transaction runs in the
// sender's netlink call): the cost of a sync on an idle machine, whatever the load.
double cpu_ms() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}
double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}
double pct(std::vector<double> v, int p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * p / 100)];
}

// A shell command as a registered child (killed on a stop); not std::system(), which ignores
// SIGINT in the caller while it waits, so Ctrl-C during a long ipset restore would be lost.
bool sh(const std::string& cmd) {
  pid_t pid = bench::StopSignal::fork_child();
  if (pid < 0) return false;
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  bench::StopSignal::reaped(pid);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok && !bench::StopSignal::requested())
    std::fprintf(stderr, "policy_bench: failed (status %d): %s\n", status, cmd.c_str());
  return ok;
}

// ---- 1. programming ----

int run_programming(int policies, const std::string& prefix) {
  std::string name = prefix + "-prog" + std::to_string(policies);
  auto ns = bench::StopSignal::create_netns(name);
  if (!ns) return std::fprintf(stderr, "create netns: %s\n", ns.error().message().c_str()), 1;
  int rc = 1;
  [&] {
    auto kernel = ns->run([] { return NftPolicyKernel::open(); });
    if (!kernel) return (void)std::fprintf(stderr, "nft: %s\n", kernel.error().message().c_str());
    long rss0 = rss_kb();
    Workload w = make_workload(policies);
    Enforcer e(*kernel, "node-0", {});
    load(e, w);
    w = Workload{};  // the Enforcer keeps its own copy
    long rss_objects = rss_kb();
    auto t0 = Clock::now();
    double cpu0 = cpu_ms();
    auto full = ns->run([&] { return e.sync(); });
    double full_ms = ms(Clock::now() - t0), full_cpu = cpu_ms() - cpu0;
    if (!full) return (void)std::fprintf(stderr, "full sync: %s\n", full.error().message().c_str());
    long rss_synced = rss_kb();
    // One remote pod's role label changes (it leaves every peer selector, the next change brings it
    // back): 100 changes, each one set element removed or added on this node.
    std::vector<double> change, plan, apply, change_cpu;
    size_t change_bytes = 0;
    for (int g = 1; g <= 100 && !bench::StopSignal::requested(); ++g) {
      int j = kNodes + ((g + 1) / 2 * 7919) % (kPods - kNodes);
      e.put_pod(make_pod(j, g % 2 == 1));
      auto c0 = Clock::now();
      double u0 = cpu_ms();
      auto r = ns->run([&] { return e.sync(); });
      change.push_back(ms(Clock::now() - c0));
      change_cpu.push_back(cpu_ms() - u0);
      if (!r) return (void)std::fprintf(stderr, "label change: %s\n", r.error().message().c_str());
      plan.push_back(r->plan.count() / 1000.0);
      apply.push_back(r->apply.count() / 1000.0);
      change_bytes = std::max(change_bytes, r->commands_bytes);
    }
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    std::printf(
        "programming %5d policies x %d pods: full sync %7.0f ms (plan %.0f ms, nft %.0f ms; CPU %.0f ms), "
        "%zu "
        "elements, %zu classes, %.1f MB nft text; one label change p50 %.1f ms p99 %.1f ms (plan p50 %.1f, "
        "nft "
        "p50 %.1f ms, CPU p50 %.1f ms, <= %zu bytes of nft); RSS %ld MB before objects, %ld MB with objects, "
        "%ld MB synced, %ld MB after the changes, peak %ld MB\n",
        policies, kPods, full_ms, full->plan.count() / 1000.0, full->apply.count() / 1000.0, full_cpu,
        full->elements, full->classes, full->commands_bytes / 1e6, pct(change, 50), pct(change, 99),
        pct(plan, 50), pct(apply, 50), pct(change_cpu, 50), change_bytes, rss0 / 1024, rss_objects / 1024,
        rss_synced / 1024, rss_kb() / 1024, usage.ru_maxrss / 1024);
    std::fflush(stdout);
    rc = 0;
  }();
  if (auto s = bench::StopSignal::delete_netns(name); !s)
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
  return rc;
}

// ---- 2. per-packet cost ----

// The same policies in kube-router's shape: FORWARD -> one rule per local pod and direction ->
// that pod's chain -> one jump per policy selecting it -> per-policy chain with one rule per
// (peer, port) matching ipsets of the peer's members and of the policy's target pods.
struct IptablesRules {
  std::string ipset, iptables;
  size_t set_entries = 0, rules = 0;
};

IptablesRules kube_router_shape(const Workload& w) {
  IptablesRules out;
  std::map<std::string, const Namespace*> nss;
  for (const auto& n : w.namespaces) nss[n.name] = &n;
  auto members = [&](const NetworkPolicy& np, const PolicyPeer& peer) {
    std::vector<const Pod*> m;
    for (const auto& p : w.pods) {
      bool ns_ok = peer.namespace_selector ? peer.namespace_selector->matches(nss.at(p.namespace_)->labels)
                                           : p.namespace_ == np.namespace_;
      if (ns_ok && (!peer.pod_selector || peer.pod_selector->matches(p.labels))) m.push_back(&p);
    }
    return m;
  };
  std::map<const Pod*, std::vector<std::string>> pod_in, pod_out;  // local pod -> policy chains
  std::string chains, rules;
  int set_no = 0;
  auto add_set = [&](const std::vector<const Pod*>& pods) {
    std::string n = "pn-s" + std::to_string(++set_no);
    out.ipset += "create " + n + " hash:ip family inet hashsize 1024 maxelem 1048576\n";
    for (const Pod* p : pods) out.ipset += "add " + n + " " + p->ips[0].to_string() + "\n";
    out.set_entries += pods.size();
    return n;
  };
  for (size_t i = 0; i < w.policies.size(); ++i) {
    const auto& np = w.policies[i];
    std::vector<const Pod*> targets;
    for (const auto& p : w.pods)
      if (pod_node(std::stoi(p.name.substr(4))) == 0 && p.namespace_ == np.namespace_ &&
          np.pod_selector.matches(p.labels))
        targets.push_back(&p);
    if (targets.empty()) continue;  // kube-router writes chains only for policies with local targets
    std::string dst = add_set(targets);
    auto direction = [&](const std::vector<PolicyRule>& rs, const char* dir, bool ingress) {
      std::string chain = "PN-NWPLCY-" + std::to_string(i) + dir;
      chains += ":" + chain + " - [0:0]\n";
      for (const Pod* t : targets) (ingress ? pod_in : pod_out)[t].push_back(chain);
      for (const auto& r : rs)
        for (const auto& peer : r.peers) {
          std::string match;
          if (peer.ip_block)
            match = std::string(ingress ? "-s " : "-d ") + peer.ip_block->cidr.addr.to_string() + "/" +
                    std::to_string(peer.ip_block->cidr.len);
          else
            match = "-m set --match-set " + add_set(members(np, peer)) + (ingress ? " src" : " dst");
          match += " -m set --match-set " + dst + (ingress ? " dst" : " src");
          for (const auto& port : r.ports) {
            std::string p = std::string(" -p ") + nft_proto(port.protocol) + " --dport ";
            if (auto* n = std::get_if<int32_t>(&*port.port))
              p += std::to_string(*n);
            else
              p += std::to_string(kPort);  // the named port "http" of every target
            rules += "-A " + chain + " " + match + p + " -j MARK --set-xmark 0x10000/0x10000\n";
            rules += "-A " + chain + " -m mark --mark 0x10000/0x10000 -j RETURN\n";
            out.rules += 2;
          }
        }
    };
    if (np.ingress) direction(np.ingress_rules, "-IN", true);
    if (np.egress) direction(np.egress_rules, "-OUT", false);
  }
  std::string top = ":PN-ROUTER-FORWARD - [0:0]\n";
  std::string top_rules = "-A FORWARD -j PN-ROUTER-FORWARD\n";
  auto pod_chains = [&](auto& by_pod, const char* dir, const char* match) {
    for (auto& [pod, pchains] : by_pod) {
      std::string c = "PN-POD-" + pod->name + dir;
      top += ":" + c + " - [0:0]\n";
      top_rules +=
          "-A PN-ROUTER-FORWARD " + std::string(match) + " " + pod->ips[0].to_string() + " -j " + c + "\n";
      top_rules += "-A " + c + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
      top_rules += "-A " + c + " -j MARK --set-xmark 0x0/0x10000\n";
      for (const auto& pc : pchains) top_rules += "-A " + c + " -j " + pc + "\n";
      top_rules += "-A " + c + " -m mark ! --mark 0x10000/0x10000 -j DROP\n";
      out.rules += 4 + pchains.size();
    }
  };
  pod_chains(pod_in, "-IN", "-d");
  pod_chains(pod_out, "-OUT", "-s");
  out.iptables = "*filter\n:FORWARD ACCEPT [0:0]\n" + top + chains + top_rules + rules + "COMMIT\n";
  return out;
}

// One node namespace with the two probe pods' namespaces routed through it.
struct Topology {
  std::string node, client, server;
  std::unique_ptr<netlink::NetNs> node_ns, client_ns, server_ns;
  int listener = -1;
  std::thread acceptor;
  std::atomic<bool> stop{false};
  ~Topology() {
    stop = true;
    if (listener >= 0) ::shutdown(listener, SHUT_RDWR);
    if (acceptor.joinable()) acceptor.join();
    if (listener >= 0) ::close(listener);
    for (const auto* n : {&server, &client, &node})
      if (!n->empty()) (void)bench::StopSignal::delete_netns(*n);
  }
};

bool make_topology(Topology& t, const std::string& base) {
  for (auto [name, slot, ns] :
       {std::tuple{base + "-n", &t.node, &t.node_ns}, std::tuple{base + "-c", &t.client, &t.client_ns},
        std::tuple{base + "-s", &t.server, &t.server_ns}}) {
    auto n = bench::StopSignal::create_netns(name);
    if (!n)
      return std::fprintf(stderr, "create netns %s: %s\n", name.c_str(), n.error().message().c_str()), false;
    *slot = name;
    *ns = std::make_unique<netlink::NetNs>(std::move(*n));
  }
  std::string N = "ip -n " + t.node + " ";
  // Fixed MACs and permanent neighbours both ways (the node has no address to ARP from): the
  // pods' default route points at a link-local gateway that is the node's end of their veth.
  auto pod = [&](const std::string& ns, const std::string& link, const std::string& ip, int n) {
    std::string node_mac = "02:00:00:00:01:0" + std::to_string(n),
                pod_mac = "02:00:00:00:02:0" + std::to_string(n);
    std::string P = "ip -n " + ns + " ";
    return sh(N + "link add " + link + " address " + node_mac + " type veth peer name eth0 address " +
              pod_mac + " netns " + ns) &&
           sh(N + "link set " + link + " up") && sh(N + "route add " + ip + "/32 dev " + link) &&
           sh(N + "neigh replace " + ip + " lladdr " + pod_mac + " dev " + link + " nud permanent") &&
           sh(P + "link set lo up") && sh(P + "link set eth0 up") &&
           sh(P + "addr add " + ip + "/32 dev eth0") &&
           sh(P + "route add 169.254.1.1/32 dev eth0 scope link") &&
           sh(P + "route add default via 169.254.1.1 dev eth0") &&
           sh(P + "neigh replace 169.254.1.1 lladdr " + node_mac + " dev eth0 nud permanent");
  };
  if (!sh("ip netns exec " + t.node + " sysctl -qw net.ipv4.ip_forward=1") ||
      !pod(t.client, "pnc", pod_ip(kClient), 1) || !pod(t.server, "pns", pod_ip(kServer), 2))
    return false;
  auto l = t.server_ns->run([]() -> Result<int> {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kPort);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1024) != 0)
      return fail("listen");
    return fd;
  });
  if (!l) return std::fprintf(stderr, "listen: %s\n", l.error().message().c_str()), false;
  t.listener = *l;
  t.acceptor = std::thread([&t] {
    while (!t.stop) {
      int c = ::accept(t.listener, nullptr, nullptr);
      if (c >= 0) ::close(c);
    }
  });
  return true;
}

// connect() times in microseconds (-1: refused or timed out, i.e. the policy did not let it through).
std::vector<double> connects(Topology& t, int n) {
  std::vector<double> us;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(kPort);
  ::inet_pton(AF_INET, pod_ip(kServer).c_str(), &a.sin_addr);
  for (int i = 0; i < n && !bench::StopSignal::requested(); ++i) {
    auto fd =
        t.client_ns->run([]() -> Result<int> { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    if (!fd) break;
    timeval tv{1, 0};
    ::setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    auto t0 = Clock::now();
    int rc = ::connect(*fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    double took = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    linger l{1, 0};  // RST: no TIME_WAIT, thousands of connects must not run out of ports
    ::setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(*fd);
    us.push_back(rc == 0 ? took : -1);
  }
  return us;
}

// A connect the policies forbid (port 8081: no policy allows it; nothing listens either, so an
// unfiltered path answers at once with a reset) must time out: the rules are really in the path.
bool forbidden_is_dropped(Topology& t) {
  auto fd = t.client_ns->run(
      []() -> Result<int> { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); });
  if (!fd) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(kPort + 1);
  ::inet_pton(AF_INET, pod_ip(kServer).c_str(), &a.sin_addr);
  int rc = ::connect(*fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{*fd, POLLOUT, 0};
  bool dropped = rc != 0 && errno == EINPROGRESS && ::poll(&p, 1, 300) == 0;
  ::close(*fd);
  return dropped;
}

struct Config {
  std::string label;
  int policies = 0;
  bool iptables = false;
  Topology topo;
  std::unique_ptr<NftPolicyKernel> kernel;
  std::unique_ptr<Enforcer> enforcer;
  std::vector<double> samples;
  std::vector<double> round_p50;
  double load_ms = 0;
  std::string detail;
};

bool program(Config& c, const std::string& prefix) {
  if (!make_topology(c.topo, prefix + "-" + (c.iptables ? "i" : "f") + std::to_string(c.policies)))
    return false;
  Workload w = make_workload(c.policies);
  if (!c.iptables) {
    auto k = c.topo.node_ns->run([] { return NftPolicyKernel::open(); });
    if (!k) return std::fprintf(stderr, "nft: %s\n", k.error().message().c_str()), false;
    c.kernel = std::make_unique<NftPolicyKernel>(std::move(*k));
    c.enforcer = std::make_unique<Enforcer>(*c.kernel, "node-0", RulesetConfig{});
    load(*c.enforcer, w);
    auto t0 = Clock::now();
    auto r = c.topo.node_ns->run([&] { return c.enforcer->sync(); });
    c.load_ms = ms(Clock::now() - t0);
    if (!r) return std::fprintf(stderr, "sync: %s\n", r.error().message().c_str()), false;
    c.detail = std::to_string(r->elements) + " elements";
    return true;
  }
  IptablesRules rules = kube_router_shape(w);
  std::string dir = "/tmp/" + prefix + "-ipt" + std::to_string(c.policies);
  bench::StopSignal::track_path(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/ipset") << rules.ipset;
  std::ofstream(dir + "/rules") << rules.iptables;
  auto t0 = Clock::now();
  bool ok = sh("ip netns exec " + c.topo.node + " ipset restore -f " + dir + "/ipset") &&
            sh("ip netns exec " + c.topo.node + " iptables-nft-restore " + dir + "/rules");
  c.load_ms = ms(Clock::now() - t0);
  std::filesystem::remove_all(dir);
  bench::StopSignal::untrack_path(dir);
  c.detail = std::to_string(rules.rules) + " rules, " + std::to_string(rules.set_entries) + " ipset entries";
  return ok;
}

int run_connect(const std::vector<int>& counts, int rounds, int per_round, const std::string& prefix) {
  std::vector<std::unique_ptr<Config>> configs;
  for (bool ipt : {false, true})
    for (int n : counts) {
      auto c = std::make_unique<Config>();
      c->policies = n;
      c->iptables = ipt;
      c->label = std::string(ipt ? "kube-router shape (iptables-nft + ipset)" : "podnet nft (sets, vmaps)");
      if (bench::StopSignal::requested() || !program(*c, prefix)) return 1;
      configs.push_back(std::move(c));
    }
  // Warm up (ARP, caches), then rounds in turn: config A, B, C, D, A, B, ...
  for (auto& c : configs) {
    auto w = connects(c->topo, 50);
    if (std::count(w.begin(), w.end(), -1.0) == static_cast<long>(w.size())) {
      std::fprintf(stderr, "policy_bench: %s with %d policies lets no connect through\n", c->label.c_str(),
                   c->policies);
      return 1;
    }
  }
  for (auto& c : configs)
    if (!forbidden_is_dropped(c->topo)) {
      std::fprintf(stderr, "policy_bench: %s with %d policies does not drop a forbidden connect\n",
                   c->label.c_str(), c->policies);
      return 1;
    }
  // Each round starts one config later (A B C D, B C D A, ...): no config always follows the same one.
  for (int r = 0; r < rounds && !bench::StopSignal::requested(); ++r)
    for (size_t k = 0; k < configs.size(); ++k) {
      auto& c = configs[(k + r) % configs.size()];
      auto s = connects(c->topo, per_round);
      std::vector<double> ok;
      for (double v : s)
        if (v >= 0) ok.push_back(v);
      if (ok.size() != s.size())
        std::fprintf(stderr, "policy_bench: %s/%d: %zu of %zu connects failed\n", c->label.c_str(),
                     c->policies, s.size() - ok.size(), s.size());
      c->round_p50.push_back(pct(ok, 50));
      c->samples.insert(c->samples.end(), ok.begin(), ok.end());
    }
  for (auto& c : configs) {
    auto rp = c->round_p50;
    std::sort(rp.begin(), rp.end());
    std::printf(
        "connect %-42s %5d policies: p50 %6.1f us p99 %6.1f us (n=%zu; round p50s %.1f..%.1f us); loaded in "
        "%.0f ms (%s)\n",
        c->label.c_str(), c->policies, pct(c->samples, 50), pct(c->samples, 99), c->samples.size(),
        rp.empty() ? -1 : rp.front(), rp.empty() ? -1 : rp.back(), c->load_ms, c->detail.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> programming = {1000, 10000}, connect_counts = {10, 10000};
  int rounds = 5, per_round = 400;
  CLI::App app{
      "policy_bench: NetworkPolicy programming at scale and per-packet cost against kube-router's rule "
      "shape, in "
      "namespaces it creates (root)"};
  app.add_option("--policies", programming, "Policy counts for the programming runs (0: skip)")
      ->delimiter(',');
  app.add_option("--connect-policies", connect_counts, "Policy counts for the connect() runs (0: skip)")
      ->delimiter(',');
  app.add_option("--rounds", rounds, "Interleaved connect rounds")->check(CLI::Range(1, 100));
  app.add_option("--per-round", per_round, "connect() calls per config and round")
      ->check(CLI::Range(10, 100000));
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) return std::fprintf(stderr, "policy_bench: needs root\n"), 1;
  bench::StopSignal stop("policy_bench", std::chrono::seconds(10));
  std::string prefix = "pn-bnp-" + std::to_string(::getpid());
  int rc = 0;
  for (int n : programming)
    if (n > 0 && !bench::StopSignal::requested()) rc |= run_programming(n, prefix);
  std::erase_if(connect_counts, [](int n) { return n <= 0; });
  if (!connect_counts.empty() && !bench::StopSignal::requested())
    rc |= run_connect(connect_counts, rounds, per_round, prefix);
  if (bench::StopSignal::requested()) {
    std::fprintf(stderr, "policy_bench: interrupted, cleaned up\n");
    return bench::StopSignal::exit_code();
  }
  return rc;
}
