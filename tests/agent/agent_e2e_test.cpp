// `podnet agent` end to end, as root. A "world" namespace holds the underlay bridge and podnet's
// API server (in process); two node namespaces hang off the bridge, each running the agent binary;
// one pod namespace per node is attached with podnet-cni using the config the agent wrote.
//
//   world: bridge 192.168.77.1/24, API server :<port>
//   node1: eth0 192.168.77.11  pod range 10.244.1.0/24 (set by the test: no IPAM controller here)
//   node2: eth0 192.168.77.12  pod range 10.244.2.0/24
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <iostream>
#include <thread>

#include "agent/lb.h"
#include "apiserver/api_server.h"
#include "apiserver/auth/node_credential.h"
#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "common/files.h"
#include "runtime/cni_exec.h"
#include "support/kubectl.h"
#include "support/process.h"
#include "support/scoped_netns.h"
#include "support/temp_dir.h"

namespace podnet {
namespace {

namespace json = boost::json;
using testing::ScopedNetns;
using namespace std::chrono_literals;

// A process this test started (ip netns exec execs, so the PID is the program's), in a process group
// of its own: the destructor kills the whole group, so helpers it forked (socat's SYSTEM child) go too.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& log = "/dev/null") {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Process() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  bool alive() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  void signal(int sig) const { ::kill(pid_, sig); }
  int terminate(std::chrono::seconds timeout) {
    ::kill(pid_, SIGTERM);
    ::kill(pid_, SIGCONT);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return f();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class AgentEndToEnd : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    world_ = std::make_unique<ScopedNetns>();
    ASSERT_EQ(world_->sh("ip link add br0 type bridge && ip addr add 192.168.77.1/24 dev br0 && "
                         "ip addr add fd00:77::1/64 dev br0 nodad && ip link set br0 up"),
              0);
    for (int i = 1; i <= 2; ++i) {
      nodes_.push_back(std::make_unique<ScopedNetns>());
      const auto& n = *nodes_.back();
      std::string v = "v" + std::to_string(i);
      ASSERT_EQ(world_->sh("ip link add " + v + " type veth peer name eth0 netns " + n.name() +
                           " && ip link set " + v + " master br0 up"),
                0);
      ASSERT_EQ(n.sh("ip addr add 192.168.77.1" + std::to_string(i) +
                     "/24 dev eth0 && ip addr add fd00:77::1" + std::to_string(i) +
                     "/64 dev eth0 nodad && ip link set eth0 up && ip route add default via 192.168.77.1 && "
                     "sysctl -qw net.ipv4.ip_forward=1"),
                0);
    }
    apiserver::ApiServerOptions opts;
    opts.data_dir = dir_.path() + "/server";
    opts.bind_address = "192.168.77.1";
    opts.port = 0;
    opts.random_seed = 7;
    auto server = world_->netns().run([&] { return apiserver::ApiServer::start(opts); });
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(*server);
    auto access = client::load_kubeconfig(server_->kubeconfig_path());
    ASSERT_TRUE(access) << access.error().message();
    auto api = client::HttpsApiClient::create(*access, {.request_timeout = 5s});
    ASSERT_TRUE(api);
    api_ = std::move(*api);
  }

  void TearDown() override {
    agents_.clear();
    servers_.clear();
    pods_.clear();
    nodes_.clear();
    server_.reset();
  }

  // The test's API calls go out from the world namespace, where the server listens.
  template <class F>
  auto api(F&& f) {
    return world_->netns().run(std::forward<F>(f));
  }

  std::string state_dir(int i) const { return dir_.path() + "/node" + std::to_string(i); }
  std::string log(int i) const { return state_dir(i) + ".log"; }
  std::string logs() const {
    std::string out;
    for (int i = 1; i <= 2; ++i)
      out += "--- agent " + std::to_string(i) + "\n" + read_file(log(i)).value_or("") + "\n";
    return out;
  }

  void start_agent(int i, const std::vector<std::string>& extra = {}) {
    const std::string podnet = std::string(PODNET_BINARY_DIR) + "/podnet";
    std::vector<std::string> argv{"ip",
                                  "netns",
                                  "exec",
                                  nodes_[i - 1]->name(),
                                  podnet,
                                  "agent",
                                  "--kubeconfig",
                                  server_->kubeconfig_path(),
                                  "--node-name",
                                  "node" + std::to_string(i),
                                  "--node-ip",
                                  "192.168.77.1" + std::to_string(i),
                                  "--overlay",
                                  GetParam(),
                                  "--state-dir",
                                  state_dir(i),
                                  "--cluster-cidr",
                                  "10.244.0.0/16",
                                  "--heartbeat-interval",
                                  "1s",
                                  "--node-grace-period",
                                  "3s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // Pods these tests make with podnet-cni directly are no API objects, so an agent enforcing
    // NetworkPolicy would never see their addresses and keep them pending, i.e. dropped (fail
    // closed, docs/datapath.md section 3). Only agents that run the pods themselves enforce here.
    if (std::find(extra.begin(), extra.end(), "--run-pods") == extra.end())
      argv.push_back("--no-network-policy");
    agents_[i] = std::make_unique<Process>(argv, log(i));
  }

  json::value get(const std::string& path) {
    auto v = api([&] { return api_->get(path); });
    return v ? *v : json::value();
  }

  // Adds a pod namespace on node i through podnet-cni with the agent's config; returns its IP.
  std::string add_pod(int i) {
    auto conflist = read_file(state_dir(i) + "/cni/10-podnet.conflist");
    EXPECT_TRUE(conflist);
    if (!conflist) return "";
    json::value list = json::parse(*conflist);
    json::object conf = list.at("plugins").at(0).as_object();
    conf["name"] = list.at("name");
    conf["cniVersion"] = list.at("cniVersion");
    pods_.push_back(std::make_unique<ScopedNetns>());
    runtime::CniRequest req{.binary = std::string(PODNET_BINARY_DIR) + "/podnet-cni",
                            .command = "ADD",
                            .container_id = "pod" + std::to_string(i),
                            .netns = pods_.back()->path(),
                            .path = "/usr/lib/cni",
                            .config = json::serialize(conf),
                            .node_netns_fd = nodes_[i - 1]->netns().fd()};
    auto out = runtime::exec_cni(req);
    EXPECT_TRUE(out && out->exit_code == 0) << (out ? out->out : out.error().message());
    if (!out || out->exit_code != 0) return "";
    std::string addr(json::parse(out->out).at("ips").at(0).at("address").as_string());
    return addr.substr(0, addr.find('/'));
  }

  // A TCP server in `ns` answering each connection with the client's address.
  void serve_peer_address(const ScopedNetns& ns, int port) {
    servers_.push_back(std::make_unique<Process>(std::vector<std::string>{
        "ip", "netns", "exec", ns.name(), "socat", "TCP-LISTEN:" + std::to_string(port) + ",fork,reuseaddr",
        "SYSTEM:echo $SOCAT_PEERADDR"}));
  }
  static std::string ask(const ScopedNetns& from, const std::string& ip, int port) {
    return trim(from.output("timeout 5 socat -t2 - TCP:" + ip + ":" + std::to_string(port) +
                            ",connect-timeout=1 </dev/null"));
  }

  // status.nodeInfo as kubelet reports it, each value checked against this machine's own source
  // (read here with other tools than the agent's), and the columns `kubectl get nodes -o wide` shows.
  void expect_node_info_of_this_machine(const json::value& node) {
    const json::value& info = node.at("status").at("nodeInfo");
    auto field = [&](const char* name) { return std::string(info.at(name).as_string()); };
    auto shell_out = [](const std::string& cmd) { return trim(testing::shell(cmd).out); };
    EXPECT_EQ(field("machineID"), shell_out("cat /etc/machine-id"));
    EXPECT_EQ(field("bootID"), shell_out("cat /proc/sys/kernel/random/boot_id"));
    EXPECT_EQ(field("systemUUID"), shell_out("cat /sys/class/dmi/id/product_uuid 2>/dev/null; true"));
    EXPECT_EQ(field("kernelVersion"), shell_out("uname -r"));
    EXPECT_EQ(field("osImage"), shell_out(". /etc/os-release && echo \"$PRETTY_NAME\""));
    EXPECT_EQ(field("operatingSystem"), shell_out("uname -s | tr A-Z a-z"));
    EXPECT_EQ(field("architecture"), shell_out("dpkg --print-architecture"));
    EXPECT_EQ(field("containerRuntimeVersion"), "podnet://0.1.0");
    EXPECT_TRUE(field("kubeletVersion").starts_with("v1.32.")) << field("kubeletVersion");
    EXPECT_EQ(field("kubeProxyVersion"), field("kubeletVersion"));  // the agent runs the proxy
    if (std::string why = testing::kubectl_missing(); !why.empty()) {
      std::cout << why << ": `kubectl get nodes -o wide` not checked\n";
      return;
    }
    std::string name(node.at("metadata").at("name").as_string());
    std::string wide = world_->output(std::string(testing::kKubectl) + " --kubeconfig " +
                                      server_->kubeconfig_path() + " get nodes -o wide");
    std::string row = wide.substr(wide.find(name + " "));
    row = row.substr(0, row.find('\n'));
    for (const char* column : {"kubeletVersion", "osImage", "kernelVersion", "containerRuntimeVersion"})
      EXPECT_NE(row.find(field(column)), std::string::npos) << column << " missing in:\n" << wide;
  }

  testing::TempDir dir_{"pn-agent-e2e"};
  std::unique_ptr<ScopedNetns> world_;
  std::vector<std::unique_ptr<ScopedNetns>> nodes_, pods_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<client::HttpsApiClient> api_;
  std::map<int, std::unique_ptr<Process>> agents_;
  std::vector<std::unique_ptr<Process>> servers_;
};

TEST_P(AgentEndToEnd, PodsAcrossNodesRestartNodeRemovalAndLoadBalancer) {
  const bool vxlan = std::string(GetParam()) == "vxlan";
  // The LoadBalancer pool the nodes may announce from (the API server's --lb-pool).
  const std::vector<std::string> pools{"--lb-pool", "192.168.77.240/28", "--lb-pool", "fd00:77::f0/124"};
  start_agent(1, pools);
  start_agent(2, pools);
  for (int i = 1; i <= 2; ++i) {
    std::string name = "node" + std::to_string(i);
    // Registered and its first status posted (the Node is created before its status is).
    ASSERT_TRUE(eventually([&] {
      json::value n = get("/api/v1/nodes/" + name);
      const auto* st = n.is_object() ? n.as_object().if_contains("status") : nullptr;
      return st && st->is_object() && st->as_object().contains("addresses");
    })) << logs();
    json::value p = json::parse(R"({"spec":{"podCIDR":"10.244.)" + std::to_string(i) +
                                R"(.0/24","podCIDRs":["10.244.)" + std::to_string(i) + R"(.0/24"]}})");
    auto patched = api([&] { return api_->patch("/api/v1/nodes/" + name, k8s::PatchType::kMerge, p); });
    ASSERT_TRUE(patched) << patched.error().message();
  }
  // Registration as CONTRACTS.md has it.
  json::value n2 = get("/api/v1/nodes/node2");
  EXPECT_EQ(json::serialize(n2.at("status").at("addresses").at(0)),
            R"({"type":"InternalIP","address":"192.168.77.12"})");
  EXPECT_EQ(n2.at("status").at("daemonEndpoints").at("kubeletEndpoint").at("Port"), 10250);
  EXPECT_EQ(n2.at("metadata").at("annotations").at("podnet.io/overlay"), GetParam());
  // Not the node's kubelet (no --run-pods): nodeInfo is the kubelet's to report, not the agent's.
  EXPECT_FALSE(n2.at("status").as_object().contains("nodeInfo")) << n2;
  if (vxlan) {
    std::string mac(n2.at("metadata").at("annotations").at("podnet.io/vtep-mac").as_string());
    EXPECT_NE(nodes_[1]->output("ip link show pnvx0").find(mac), std::string::npos);
    EXPECT_NE(nodes_[0]->output("ip -d link show pnvx0").find("vxlan id 1 local 192.168.77.11"),
              std::string::npos)
        << nodes_[0]->output("ip -d link show pnvx0");
    // The heartbeat moves.
    std::string hb0 = std::string(n2.at("status").at("conditions").at(0).at("lastHeartbeatTime").as_string());
    EXPECT_TRUE(eventually([&] {
      return json::value_to<std::string>(
                 get("/api/v1/nodes/node2").at("status").at("conditions").at(0).at("lastHeartbeatTime")) !=
             hb0;
    }));
  }

  for (int i = 1; i <= 2; ++i)
    ASSERT_TRUE(eventually([&] { return read_file(state_dir(i) + "/cni/10-podnet.conflist").has_value(); }))
        << logs();
  EXPECT_NE(
      read_file(state_dir(1) + "/cni/10-podnet.conflist")->find(vxlan ? "\"mtu\":1450" : "\"mtu\":1500"),
      std::string::npos);
  std::string ip1 = add_pod(1), ip2 = add_pod(2);
  ASSERT_EQ(ip1.rfind("10.244.1.", 0), 0u) << ip1;
  ASSERT_EQ(ip2.rfind("10.244.2.", 0), 0u) << ip2;
  const ScopedNetns& pod1 = *pods_[0];
  const ScopedNetns& pod2 = *pods_[1];

  // Pod to pod across nodes, both ways; the server sees the client pod's own address.
  serve_peer_address(pod2, 8080);
  serve_peer_address(pod1, 8080);
  std::string seen;
  EXPECT_TRUE(eventually([&] { return (seen = ask(pod1, ip2, 8080)) == ip1; })) << seen << "\n" << logs();
  EXPECT_TRUE(eventually([&] { return (seen = ask(pod2, ip1, 8080)) == ip2; })) << seen;
  EXPECT_NE(nodes_[0]->output("ip route show proto 112").find("10.244.2.0/24"), std::string::npos);

  // Leaving the cluster: masqueraded to the node's address.
  serve_peer_address(*world_, 8081);
  EXPECT_TRUE(eventually([&] { return (seen = ask(pod1, "192.168.77.1", 8081)) == "192.168.77.11"; }))
      << seen;

  // A third Node (no agent) gets a route on both nodes; deleting it removes the route.
  auto node3 = json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node3",
      "annotations":{"podnet.io/vtep-mac":"02:aa:00:00:00:03"}},"spec":{"podCIDR":"10.244.3.0/24"}})");
  ASSERT_TRUE(api([&] { return api_->create("/api/v1/nodes", node3); }));
  ASSERT_TRUE(api([&] {
    return api_->patch(
        "/api/v1/nodes/node3/status", k8s::PatchType::kMerge,
        json::parse(R"({"status":{"addresses":[{"type":"InternalIP","address":"192.168.77.13"}]}})"));
  }));
  auto route3 = [&](int i) { return nodes_[i - 1]->output("ip route show 10.244.3.0/24"); };
  EXPECT_TRUE(eventually([&] { return !route3(1).empty() && !route3(2).empty(); })) << logs();
  EXPECT_NE(route3(1).find(vxlan ? "via 10.244.3.0 dev pnvx0" : "via 192.168.77.13 dev eth0"),
            std::string::npos)
      << route3(1);
  ASSERT_TRUE(api([&] { return api_->remove("/api/v1/nodes/node3"); }));
  EXPECT_TRUE(eventually([&] { return route3(1).empty() && route3(2).empty(); })) << route3(1);
  if (vxlan)
    EXPECT_EQ(nodes_[0]->output("bridge fdb show dev pnvx0").find("02:aa:00:00:00:03"), std::string::npos);

  // kill -9 and restart of both agents: an open TCP connection between the pods keeps flowing and
  // no route to the other node is ever removed.
  const std::string recv = dir_.path() + "/recv";
  servers_.push_back(std::make_unique<Process>(
      std::vector<std::string>{"ip", "netns", "exec", pod2.name(), "socat", "-u", "TCP-LISTEN:9090,reuseaddr",
                               "OPEN:" + recv + ",creat,append"},
      dir_.path() + "/stream-server.log"));
  std::this_thread::sleep_for(300ms);
  Process stream(
      {"ip", "netns", "exec", pod1.name(), "socat", "-u", "SYSTEM:while true; do echo tick; sleep 0.1; done",
       "TCP:" + ip2 + ":9090,retry=50,interval=0.1"},
      dir_.path() + "/stream-client.log");
  auto received = [&] { return read_file(recv).value_or("").size(); };
  ASSERT_TRUE(eventually([&] { return received() > 0; }))
      << "stream never started: " << read_file(dir_.path() + "/stream-server.log").value_or("") << " / "
      << read_file(dir_.path() + "/stream-client.log").value_or("");
  std::string mac_before = nodes_[0]->output("cat /sys/class/net/pnvx0/address");
  std::string routes_before = nodes_[0]->output("ip route show proto 112");
  const size_t log_mark = read_file(log(1)).value_or("").size();
  for (int i = 1; i <= 2; ++i) agents_[i]->signal(SIGKILL);
  agents_[1].reset();
  agents_[2].reset();
  start_agent(1, pools);
  start_agent(2, pools);
  ASSERT_TRUE(
      eventually([&] { return read_file(log(1)).value_or("").find("registered") != std::string::npos; }));
  std::this_thread::sleep_for(1500ms);  // a few reconcile passes
  size_t before = received();
  std::this_thread::sleep_for(1s);
  EXPECT_GT(received(), before) << "the connection stopped after the restart";
  EXPECT_TRUE(stream.alive());
  EXPECT_EQ(nodes_[0]->output("ip route show proto 112"), routes_before);
  EXPECT_EQ(nodes_[0]->output("cat /sys/class/net/pnvx0/address"), mac_before);
  EXPECT_EQ(read_file(log(1)).value_or("").find("- route", log_mark), std::string::npos) << logs();

  // LoadBalancer addresses, IPv4 and IPv6: each announced by exactly one node (answering ARP or
  // neighbour solicitations), moved when that node stops heartbeating. The IPv6 address is one
  // the same node owns (owners are chosen per address), so one stopped agent moves both.
  const std::string lb4 = "192.168.77.240";
  std::string lb6;
  for (int last = 0xf0; last <= 0xff && lb6.empty(); ++last) {
    char cand[32];
    std::snprintf(cand, sizeof cand, "fd00:77::%x", last);
    auto a = parse_ip(cand), b = parse_ip(lb4);
    if (agent::lb_owner(*a, {"node1", "node2"}) == agent::lb_owner(*b, {"node1", "node2"})) lb6 = cand;
  }
  ASSERT_FALSE(lb6.empty());
  auto svc =
      json::parse(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"lb","namespace":"default"},
      "spec":{"type":"LoadBalancer","ports":[{"port":80,"targetPort":8080,"protocol":"TCP"}]}})");
  ASSERT_TRUE(api([&] { return api_->create("/api/v1/namespaces/default/services", svc); }));
  // The third address is the world's own gateway, outside the pool: whoever may write a Service's
  // status must not make a node answer ARP for it.
  const std::string outside = "192.168.77.1";
  auto st = api([&] {
    return api_->patch("/api/v1/namespaces/default/services/lb/status", k8s::PatchType::kMerge,
                       json::parse(R"({"status":{"loadBalancer":{"ingress":[{"ip":")" + lb4 +
                                   R"("},{"ip":")" + lb6 + R"("},{"ip":")" + outside + R"("}]}}})"));
  });
  ASSERT_TRUE(st) << st.error().message();
  auto has_lb = [&](int i) {
    return nodes_[i - 1]->output("ip -4 addr show dev eth0").find(lb4 + "/32") != std::string::npos;
  };
  auto has_lb6 = [&](int i) {
    return nodes_[i - 1]->output("ip -6 addr show dev eth0").find(lb6 + "/128 scope global nodad") !=
           std::string::npos;
  };
  int owner = 0;
  ASSERT_TRUE(eventually([&] {
    owner = has_lb(1) ? 1 : has_lb(2) ? 2 : 0;
    return owner != 0 && has_lb6(owner);
  })) << logs();
  EXPECT_FALSE(has_lb(3 - owner));
  EXPECT_FALSE(has_lb6(3 - owner));
  for (int i = 1; i <= 2; ++i) {
    EXPECT_EQ(nodes_[i - 1]->output("ip -4 addr show dev eth0").find(outside + "/32"), std::string::npos)
        << "node" << i << " announces an address outside its pool";
    EXPECT_NE(read_file(log(i)).value_or("").find("not announcing LoadBalancer address(es) " + outside +
                                                  ": outside every --lb-pool"),
              std::string::npos)
        << logs();
  }
  EXPECT_EQ(world_->sh("ping -c1 -W1 " + lb4), 0);
  EXPECT_EQ(world_->sh("ping -6 -c1 -W1 " + lb6), 0) << world_->output("ip -6 neigh");
  std::string owner_mac = trim(nodes_[owner - 1]->output("cat /sys/class/net/eth0/address"));
  EXPECT_NE(world_->output("ip -6 neigh show " + lb6).find(owner_mac), std::string::npos)
      << world_->output("ip -6 neigh show " + lb6);
  agents_[owner]->signal(SIGSTOP);
  const int other = 3 - owner;
  EXPECT_TRUE(eventually([&] { return has_lb(other) && has_lb6(other); }, 10s)) << logs();
  std::string other_mac = trim(nodes_[other - 1]->output("cat /sys/class/net/eth0/address"));
  // The gratuitous ARP and the unsolicited neighbour advertisement moved the world's neighbour
  // entries to the new owner.
  EXPECT_TRUE(eventually(
      [&] { return world_->output("ip neigh show " + lb4).find(other_mac) != std::string::npos; }, 5s))
      << world_->output("ip neigh show " + lb4) << " want " << other_mac;
  EXPECT_TRUE(eventually(
      [&] { return world_->output("ip -6 neigh show " + lb6).find(other_mac) != std::string::npos; }, 5s))
      << world_->output("ip -6 neigh show " + lb6) << " want " << other_mac;
  agents_[owner]->signal(SIGCONT);

  for (int i = 1; i <= 2; ++i) EXPECT_EQ(agents_[i]->terminate(5s), 0) << logs();
  // Stopping leaves the network in place; --cleanup removes it.
  EXPECT_NE(nodes_[0]->output("ip route show proto 112").find("10.244.2.0/24"), std::string::npos);
  const std::string podnet = std::string(PODNET_BINARY_DIR) + "/podnet";
  for (int i = 1; i <= 2; ++i) EXPECT_EQ(nodes_[i - 1]->sh(podnet + " agent --cleanup"), 0);
  for (int i = 1; i <= 2; ++i) EXPECT_FALSE(has_lb(i) || has_lb6(i)) << "cleanup removes announced addresses";
  EXPECT_EQ(nodes_[0]->output("ip route show proto 112"), "");
  EXPECT_EQ(nodes_[0]->output("nft list tables").find("podnet"), std::string::npos);
  EXPECT_NE(nodes_[0]->sh("ip link show pnvx0"), 0);
}

// An agent that runs pods is its node's kubelet: like kubelet without a CNI config it reports
// Ready=False (KubeletNotReady) until its network is in place, so nothing is scheduled onto it
// before pods can start there; then Ready=True, with the fast path already on eth0. A restarted
// agent finds its network in place and stays Ready throughout.
TEST_P(AgentEndToEnd, PodRunningAgentIsNotReadyUntilItsNetworkIsUp) {
  const std::vector<std::string> run_pods{"--run-pods", "--cni-bin",
                                          std::string(PODNET_BINARY_DIR) + "/podnet-cni"};
  // Its log server's certificate, where the agent looks by default (<state-dir>/pki/kubelet.*).
  ASSERT_TRUE(apiserver::write_node_serving_cert(server_->pki_dir(), "node1", {"192.168.77.11"},
                                                 state_dir(1) + "/pki/kubelet"));
  // A host that turned br_netfilter's IP hooks off: the agent turns them back on in its namespace
  // (docs/datapath.md section 1) before it reports Ready.
  nodes_[0]->output("sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0");
  start_agent(1, run_pods);
  auto ready = [&]() -> std::pair<std::string, std::string> {
    json::value n = get("/api/v1/nodes/node1");
    const auto* st = n.is_object() ? n.as_object().if_contains("status") : nullptr;
    const auto* cs = st ? st->as_object().if_contains("conditions") : nullptr;
    if (!cs) return {"", ""};
    for (const auto& c : cs->as_array())
      if (c.at("type") == "Ready")
        return {std::string(c.at("status").as_string()), std::string(c.at("reason").as_string())};
    return {"", ""};
  };
  ASSERT_TRUE(eventually([&] { return !ready().first.empty(); })) << logs();
  EXPECT_EQ(ready(), std::make_pair(std::string("False"), std::string("KubeletNotReady")));
  // No pod CIDR (this server runs no node IPAM): it stays so, heartbeat after heartbeat.
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(ready().first, "False") << logs();
  EXPECT_NE(::access((state_dir(1) + "/cni/10-podnet.conflist").c_str(), F_OK), 0);

  json::value p = json::parse(R"({"spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]}})");
  ASSERT_TRUE(api([&] { return api_->patch("/api/v1/nodes/node1", k8s::PatchType::kMerge, p); }));
  ASSERT_TRUE(eventually([&] { return ready().first == "True"; })) << logs();
  EXPECT_EQ(ready().second, "KubeletReady");
  EXPECT_EQ(nodes_[0]->output("cat /proc/sys/net/bridge/bridge-nf-call-iptables "
                              "/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
            "1\n1\n");
  expect_node_info_of_this_machine(get("/api/v1/nodes/node1"));
  EXPECT_EQ(::access((state_dir(1) + "/cni/10-podnet.conflist").c_str(), F_OK), 0);
  if (read_file(log(1)).value_or("").find("fast path loaded") != std::string::npos)
    EXPECT_NE(nodes_[0]->output("tc filter show dev eth0 ingress").find("pn_from_node"), std::string::npos)
        << nodes_[0]->output("tc filter show dev eth0 ingress");

  // kill -9 and restart: the first status the new agent posts is Ready=True with the same
  // transition time (a flip to False and back would move it).
  agents_[1]->signal(SIGKILL);
  agents_[1].reset();
  json::value before = get("/api/v1/nodes/node1").at("status").at("conditions").at(0);
  std::this_thread::sleep_for(1100ms);  // lastHeartbeatTime has seconds: the new one differs
  start_agent(1, run_pods);
  json::value after;
  ASSERT_TRUE(eventually([&] {
    after = get("/api/v1/nodes/node1").at("status").at("conditions").at(0);
    return after.at("lastHeartbeatTime") != before.at("lastHeartbeatTime");
  })) << logs();
  EXPECT_EQ(after.at("status"), "True") << logs();
  EXPECT_EQ(after.at("lastTransitionTime"), before.at("lastTransitionTime"));
}

INSTANTIATE_TEST_SUITE_P(Overlays, AgentEndToEnd, ::testing::Values("vxlan", "host-gw"),
                         [](const auto& info) {
                           return std::string(info.param) == "vxlan" ? "vxlan" : "hostgw";
                         });

}  // namespace
}  // namespace podnet
