// `podnet check` on a 3-node `podnet up` cluster through the real binary: healthy, every path
// passes (in both overlays) within the time target and the check leaves nothing behind; then one
// fault at a time, kept in place by freezing (SIGSTOP) the agent that would repair it, and the
// check fails naming the hop. The fault is made from the check's --before-clients hook (once its
// server pods are Ready and the node's proxy serves the check's NodePort), by this test through a
// file handshake: the proxy's nft tables deleted on one node, one node's underlay link down, the
// fast path's tunnel entry on one node for another removed. docs/troubleshooting.md lists what
// each fault breaks.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <thread>

#include "common/fd.h"
#include "support/kubectl.h"
#include "support/temp_dir.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
namespace pt = boost::property_tree;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct CheckRun {
  int rc = -1;
  json::value doc;
  std::string out;
  double seconds = 0;
};

class CheckE2E : public ::testing::Test {
 protected:
  void bring_up(const std::string& overlay) {
    if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
    if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
    auto r = c_.up(3, "--overlay " + overlay + " --timeout 120");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  void TearDown() override {
    for (pid_t pid : frozen_) ::kill(pid, SIGCONT);
  }

  CheckRun check(const std::string& extra = "") {
    auto start = Clock::now();
    auto r =
        shell(podnet_bin() + " check -q -o json --kubeconfig " + c_.kubeconfig() + " " + extra + " 2>&1");
    CheckRun run;
    run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    run.rc = r.rc;
    run.out = r.out;
    size_t brace = r.out.find("{\"namespace\"");
    json::error_code ec;
    if (brace != std::string::npos) run.doc = json::parse(std::string_view(r.out).substr(brace), ec);
    EXPECT_TRUE(run.doc.is_object()) << r.out;
    return run;
  }

  // The check with a fault made while it waits in its hook: the hook waits until node `node`
  // serves the check's NodePort, freezes that node's agent, and hands over to `fault` (run here).
  template <class Fault>
  CheckRun check_with_fault(int node, Fault fault) {
    TempDir dir("pn-check-e2e");
    const std::string frozen = dir.path() + "/frozen", broken = dir.path() + "/broken";
    pid_t agent = c_.daemon_pid("agent-node" + std::to_string(node));
    EXPECT_GT(agent, 0);
    frozen_.push_back(agent);
    const std::string hook =
        "np=$(" + std::string(kKubectl) + " --kubeconfig " + c_.kubeconfig() +
        " -n $PODNET_CHECK_NAMESPACE get svc ext -o jsonpath={.spec.ports[0].nodePort}); "
        "for i in $(seq 100); do socat -T1 - TCP:" +
        c_.node_ip(node) +
        ":$np,connect-timeout=1 </dev/null 2>/dev/null | grep -q srv- && break; sleep 0.1; done; "
        "kill -STOP " +
        std::to_string(agent) + " && touch " + frozen +
        " && "
        "for i in $(seq 300); do [ -e " +
        broken + " ] && exit 0; sleep 0.05; done; exit 1";
    auto running = std::async(std::launch::async, [&] { return check("--before-clients '" + hook + "'"); });
    auto deadline = Clock::now() + 60s;
    while (!std::filesystem::exists(frozen) && Clock::now() < deadline &&
           running.wait_for(50ms) != std::future_status::ready) {
    }
    if (std::filesystem::exists(frozen)) {
      fault();
      EXPECT_TRUE(write_file_atomic(broken, "1"));
    } else {
      ADD_FAILURE() << "the hook never ran";
    }
    return running.get();
  }

  // The rows that failed, as "path|from|to|hop".
  static std::vector<std::string> failed(const CheckRun& run) {
    std::vector<std::string> out;
    if (!run.doc.is_object()) return {"no JSON: " + run.out};
    for (const auto& r : run.doc.at("results").as_array())
      if (r.at("result").as_string() == "fail")
        out.push_back(std::string(r.at("path").as_string()) + "|" + std::string(r.at("from").as_string()) +
                      "|" + std::string(r.at("to").as_string()) + "|" + std::string(r.at("hop").as_string()));
    return out;
  }
  static bool has(const std::vector<std::string>& rows, const std::string& prefix, const std::string& hop) {
    for (const auto& r : rows)
      if (r.starts_with(prefix) && r.ends_with("|" + hop)) return true;
    return false;
  }
  static size_t count(const CheckRun& run, const std::string& result) {
    size_t n = 0;
    if (!run.doc.is_object()) return 0;
    for (const auto& r : run.doc.at("results").as_array()) n += r.at("result").as_string() == result;
    return n;
  }
  void expect_no_check_namespace() {
    auto r = c_.kubectl("get namespaces -o name");
    EXPECT_EQ(r.out.find("podnet-check-"), std::string::npos) << r.out;
  }
  void healthy() {
    auto run = check();
    ASSERT_EQ(run.rc, 0) << ::testing::PrintToString(failed(run)) << run.out;
    EXPECT_EQ(run.doc.at("passed"), true);
    // 3 x (c2c, 3 pod-to-pod, ClusterIP, DNS, egress, policy) + spread + 9 node-to-pod + 6
    // NodePort/Local + LB; nothing is skipped on a podnet up cluster.
    EXPECT_EQ(count(run, "pass"), 41u) << run.out;
    EXPECT_EQ(count(run, "skipped"), 0u) << run.out;
    EXPECT_LT(run.seconds, 15.0) << "the whole check took " << run.seconds << " s";
    std::printf("podnet check on a healthy 3-node cluster: %.1f s\n", run.seconds);
    expect_no_check_namespace();
  }

  UpCluster c_;
  std::vector<pid_t> frozen_;
};

TEST_F(CheckE2E, VxlanHealthyThenTheProxyTablesOfOneNodeDeleted) {
  ASSERT_NO_FATAL_FAILURE(bring_up("vxlan"));
  ASSERT_NO_FATAL_FAILURE(healthy());
  auto run = check_with_fault(2, [&] {
    // While the check's server pods run: the picture names every node and pod (parsed as XML).
    TempDir dir("pn-check-graph");
    auto st =
        shell(podnet_bin() + " status --state-dir " + c_.state_dir() + " --graph " + dir.path() + "/c.svg");
    EXPECT_EQ(st.rc, 0) << st.out;
    pt::ptree tree;
    EXPECT_NO_THROW(pt::read_xml(dir.path() + "/c.svg", tree));
    std::string texts;
    std::function<void(const pt::ptree&)> walk = [&](const pt::ptree& t) {
      for (const auto& [key, child] : t) {
        if (key == "text") texts += child.get_value<std::string>() + "\n";
        walk(child);
      }
    };
    walk(tree);
    for (const std::string want : {"node node1\n", "node node2\n", "node node3\n", "srv-node1\n",
                                   "srv-node2\n", "srv-node3\n", "svc cip\n", "vxlan\n"})
      EXPECT_NE(texts.find(want), std::string::npos) << want << " not in the SVG's text:\n" << texts;
    auto r = c_.in_node(2,
                        "for t in $(nft list tables | awk \"/^table ip podnet-proxy/{print \\$3}\"); do "
                        "nft delete table ip $t; done; nft list tables | grep \"table ip podnet-proxy\"");
    EXPECT_EQ(r.out, "") << "left: " << r.out;
  });
  EXPECT_EQ(run.rc, 1) << run.out;
  auto f = failed(run);
  std::printf("failed: %s\n", ::testing::PrintToString(f).c_str());
  for (const auto& r : run.doc.at("results").as_array())
    if (r.at("result").as_string() == "fail") std::printf("  %s\n", json::serialize(r).c_str());
  EXPECT_TRUE(has(f, "NodePort from outside|outside", "service proxy on node2"))
      << ::testing::PrintToString(f);
  EXPECT_TRUE(has(f, "externalTrafficPolicy Local|outside", "service proxy on node2"))
      << ::testing::PrintToString(f);
  // (The LB IP may be announced by node2: its row names no node.)
  for (const auto& s : f)
    EXPECT_TRUE(s.find("node2") != std::string::npos || s.starts_with("LoadBalancer"))
        << "a path not through node2: " << s;
  expect_no_check_namespace();
}

TEST_F(CheckE2E, HostGwHealthyThenTheUnderlayLinkOfOneNodeDown) {
  ASSERT_NO_FATAL_FAILURE(bring_up("host-gw"));
  ASSERT_NO_FATAL_FAILURE(healthy());
  auto run = check_with_fault(3, [&] {
    auto r = c_.in_node(3, "ip link set eth0 down");
    EXPECT_EQ(r.rc, 0) << r.out;
  });
  EXPECT_EQ(run.rc, 1) << run.out;
  auto f = failed(run);
  std::printf("failed: %s\n", ::testing::PrintToString(f).c_str());
  for (const auto& r : run.doc.at("results").as_array())
    if (r.at("result").as_string() == "fail") std::printf("  %s\n", json::serialize(r).c_str());
  EXPECT_TRUE(has(f, "pod-to-pod across nodes|pod cli-node1|pod srv-node3", "underlay node3"))
      << ::testing::PrintToString(f);
  EXPECT_TRUE(has(f, "pod-to-pod across nodes|pod cli-node2|pod srv-node3", "underlay node3"))
      << ::testing::PrintToString(f);
  EXPECT_TRUE(has(f, "NodePort from outside|outside", "underlay node3")) << ::testing::PrintToString(f);
  for (const auto& s : f)
    // (A Service's connection, by name too, may pick the endpoint on node3.)
    EXPECT_TRUE(s.find("node3") != std::string::npos || s.starts_with("LoadBalancer") ||
                s.ends_with("|Service cip (the name resolved)") || s.ends_with("|service proxy on node1") ||
                s.ends_with("|service proxy on node2"))
        << "a path not through node3: " << s;
  EXPECT_TRUE(c_.in_node(3, "ip link set eth0 up").rc == 0);
  expect_no_check_namespace();
}

// pn_tunnels on node1 loses node2's pod range: the fast path then hands those packets to the
// kernel, whose route through the VXLAN device still carries them.
TEST_F(CheckE2E, VxlanInterruptedCheckCleansUpThenFastPathTunnelEntryRemoved) {
  ASSERT_NO_FATAL_FAILURE(bring_up("vxlan"));
  // Ctrl-C while its pods start: exit 130, its namespace and pods gone.
  {
    pid_t pid = ::fork();
    if (pid == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execl(podnet_bin().c_str(), "podnet", "check", "-q", "--kubeconfig", c_.kubeconfig().c_str(),
              nullptr);
      ::_exit(127);
    }
    ASSERT_GT(pid, 0);
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
      seen = c_.kubectl("get pods -A -o name").out.find("pod/srv-node") != std::string::npos;
      if (!seen) std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(seen) << "the check's pods never appeared";
    ::kill(pid, SIGINT);
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 130) << st;
    expect_no_check_namespace();
    EXPECT_EQ(c_.kubectl("get pods -A -o name").out.find("srv-node"), std::string::npos);
  }
  std::string cidr = c_.kubectl("get node node2 -o jsonpath={.spec.podCIDR}").out;
  struct {
    uint32_t prefixlen, addr;
  } key{};
  size_t slash = cidr.find('/');
  ASSERT_NE(slash, std::string::npos) << cidr;
  ASSERT_EQ(::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &key.addr), 1) << cidr;
  key.prefixlen = static_cast<uint32_t>(std::stoi(cidr.substr(slash + 1)));
  auto run = check_with_fault(1, [&] {
    const std::string path = c_.state_dir() + "/nodes/node1/bpf/pn_tunnels";
    union bpf_attr a {};
    a.pathname = reinterpret_cast<uint64_t>(path.c_str());
    UniqueFd map(static_cast<int>(::syscall(__NR_bpf, BPF_OBJ_GET, &a, sizeof a)));
    ASSERT_TRUE(map.valid()) << path << ": " << std::strerror(errno);
    union bpf_attr d {};
    d.map_fd = static_cast<uint32_t>(map.get());
    d.key = reinterpret_cast<uint64_t>(&key);
    EXPECT_EQ(::syscall(__NR_bpf, BPF_MAP_DELETE_ELEM, &d, sizeof d), 0) << std::strerror(errno);
  });
  auto f = failed(run);
  std::printf("with node1's tunnel entry for node2 removed: rc %d, failed %s\n", run.rc,
              ::testing::PrintToString(f).c_str());
  // Node1's own pods cannot start (its agent is frozen); what crosses node1's fast path towards
  // node2 is srv-node1's replies to cli-node2: they must still arrive.
  EXPECT_FALSE(has(f, "pod-to-pod across nodes|pod cli-node2|pod srv-node1", "tunnel node2 -> node1"));
  for (const auto& s : f) EXPECT_EQ(s.find("pod-to-pod across nodes|pod cli-node2"), std::string::npos) << s;
}

}  // namespace
}  // namespace podnet::testing
