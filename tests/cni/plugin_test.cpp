// podnet-cni end to end: the real binary, run as a runtime runs it, against real namespaces.
// Every test builds a "node" namespace (the plugin's host side) and pod namespaces, and removes
// them all; nothing touches the root namespace.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "cni/cni_harness.h"
#include "common/files.h"
#include "fastpath/bpf_sys.h"
#include "support/bpf_fixture.h"
#include "support/temp_dir.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using podnet::testing::BpfFs;
using podnet::testing::PinnedFastPath;

struct ConfOpts {
  std::string version = "1.1.0";
  std::string ranges = R"([[{"subnet": "10.88.0.0/24"}]])";
  std::string extra;          // more top-level keys, with a leading comma
  std::string runtime;        // runtimeConfig body
  std::string ipam_override;  // full ipam object
};

class PluginTest : public ::testing::Test {
 protected:
  struct Pod {
    std::unique_ptr<ScopedNetns> ns;
    std::string id;
    PluginRun add;
    std::string ip;  // first address without prefix
    std::string conf;
  };

  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "network tests need root";
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { pods_.clear(); }

  std::string conf(const ConfOpts& o = {}) const {
    std::string ipam = o.ipam_override.empty() ? R"({"type": "podnet", "dataDir": ")" + dir_ +
                                                     R"(/ipam", "ranges": )" + o.ranges + "}"
                                               : o.ipam_override;
    return R"({"cniVersion": ")" + o.version + R"(", "name": "pnnet", "type": "podnet", "bridge": "pnbr0",
      "isGateway": true, "isDefaultGateway": true, "stateDir": ")" +
           dir_ + R"(/state", "ipam": )" + ipam + o.extra +
           (o.runtime.empty() ? "" : R"(, "runtimeConfig": {)" + o.runtime + "}") + "}";
  }
  std::string ipam_dir() const { return dir_ + "/ipam/pnnet"; }
  // Reservation files are named by their address.
  std::vector<std::string> reservations() const {
    std::vector<std::string> out;
    for (auto& f : list_dir(ipam_dir()))
      if (f.find_first_not_of("0123456789.:abcdef") == std::string::npos &&
          f.find_first_of(".:") != std::string::npos)
        out.push_back(f);
    return out;
  }

  PluginRun call(const std::string& cmd, const std::string& id, const std::string& netns,
                 const std::string& c, const std::string& ifname = "eth0") {
    CniCall call{cmd, id, netns, ifname};
    return run_plugin(podnet_cni_binary(), node_.netns().fd(), call, c);
  }

  // Runs the plugin, killing it if it is still running after `limit` (a hung plugin then fails
  // the test instead of hanging it).
  PluginRun run_plugin_within(std::chrono::seconds limit, const CniCall& c, const std::string& body) {
    auto proc = start_plugin(podnet_cni_binary(), node_.netns().fd(), c, body);
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
      std::unique_lock l(mu);
      if (!cv.wait_for(l, limit, [&] { return done; }) && proc.pid > 0) ::kill(proc.pid, SIGKILL);
    });
    PluginRun r = wait_plugin(proc);
    {
      std::lock_guard l(mu);
      done = true;
    }
    cv.notify_all();
    watchdog.join();
    return r;
  }

  Pod& add_pod(const std::string& c) {
    auto& p = pods_.emplace_back();
    p.ns = std::make_unique<ScopedNetns>();
    p.id = "pn-ctr-" + std::to_string(pods_.size()) + "-" + std::to_string(::getpid());
    p.conf = c;
    p.add = call("ADD", p.id, p.ns->path(), c);
    if (p.add.exit_code == 0) {
      auto ips = p.add.json().as_object().at("ips").as_array();
      std::string a(ips[0].as_object().at("address").as_string());
      p.ip = a.substr(0, a.find('/'));
    }
    return p;
  }

  std::string node_links() {
    return in_ns(node_.name(), "ip -o link show | awk -F': ' '{print $2}' | sort").out;
  }

  ScopedNetns node_;
  TempDir tmp_{"pn-cni"};
  std::string dir_ = tmp_.path();
  std::deque<Pod> pods_;
};

TEST_F(PluginTest, VersionListsSupportedVersions) {
  auto r = call("VERSION", "", "", "{}");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.json().as_object().at("cniVersion"), "1.1.0");
  EXPECT_EQ(r.json().as_object().at("supportedVersions").as_array().size(), 5u);
}

TEST_F(PluginTest, TwoPodsReachEachOtherWithoutNat) {
  auto& a = add_pod(conf());
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto& b = add_pod(conf());
  ASSERT_EQ(b.add.exit_code, 0) << b.add.out;
  EXPECT_NE(a.ip, b.ip);

  // The result has the bridge, the host veth and the container interface, like the bridge plugin.
  auto res = a.add.json().as_object();
  auto ifs = res.at("interfaces").as_array();
  ASSERT_EQ(ifs.size(), 3u);
  EXPECT_EQ(ifs[0].as_object().at("name"), "pnbr0");
  EXPECT_EQ(ifs[2].as_object().at("name"), "eth0");
  EXPECT_EQ(ifs[2].as_object().at("sandbox"), json::value(a.ns->path()));
  EXPECT_EQ(res.at("ips").as_array()[0].as_object().at("gateway"), "10.88.0.1");
  EXPECT_EQ(res.at("ips").as_array()[0].as_object().at("interface"), 2);
  EXPECT_EQ(res.at("routes").as_array()[0].as_object().at("dst"), "0.0.0.0/0");

  // The gateway's MAC does not change as pods join the bridge (pods' ARP entries stay valid), and
  // the result names the MACs the interfaces really have.
  std::string br_mac(ifs[0].as_object().at("mac").as_string());
  EXPECT_NE(in_ns(node_.name(), "ip link show pnbr0").out.find(br_mac), std::string::npos);
  std::string cont_mac(ifs[2].as_object().at("mac").as_string());
  EXPECT_NE(in_ns(a.ns->name(), "ip link show eth0").out.find(cont_mac), std::string::npos);
  std::string host_if(ifs[1].as_object().at("name").as_string()),
      host_mac(ifs[1].as_object().at("mac").as_string());
  EXPECT_NE(in_ns(node_.name(), "ip link show " + host_if).out.find(host_mac), std::string::npos);

  EXPECT_EQ(in_ns(a.ns->name(), "ping -c1 -W1 -w5 " + b.ip).status, 0);
  EXPECT_EQ(in_ns(b.ns->name(), "ping -c1 -W1 -w5 " + a.ip).status, 0);
  EXPECT_EQ(in_ns(node_.name(), "ping -c1 -W1 -w5 " + a.ip).status, 0) << "the node reaches its pods";
  EXPECT_EQ(in_ns(a.ns->name(), "ip link show lo | grep -q UP").status, 0) << "lo is up in the pod";

  // TCP: the server sees the client pod's own address.
  ASSERT_TRUE(socat_available());
  auto server =
      in_ns(b.ns->name(),
            "timeout 10 socat -T5 TCP-LISTEN:7000,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' & sleep 0.3; "
            "ip netns exec " +
                a.ns->name() + " timeout 5 socat -T5 - TCP:" + b.ip + ":7000 </dev/null; wait");
  EXPECT_EQ(server.out, a.ip + "\n");
}

TEST_F(PluginTest, ContainersOfAPodTalkOverLocalhost) {
  auto& a = add_pod(conf());
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  // Two processes in the pod's namespace: one listens on 127.0.0.1, the other connects.
  auto r = in_ns(a.ns->name(),
                 "timeout 10 socat -T5 TCP-LISTEN:9000,bind=127.0.0.1,reuseaddr SYSTEM:'echo "
                 "from-container-1' & sleep 0.3; "
                 "timeout 5 socat -T5 - TCP:127.0.0.1:9000 </dev/null; wait");
  EXPECT_EQ(r.out, "from-container-1\n");
}

TEST_F(PluginTest, HostPortFromNodeLocalhostAndHairpin) {
  ConfOpts o;
  o.extra = R"(, "hairpinMode": true)";
  o.runtime = R"("portMappings": [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}])";
  auto& a = add_pod(conf(o));
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto& b = add_pod(conf());
  ASSERT_EQ(b.add.exit_code, 0) << b.add.out;
  auto serve = [&](const std::string& client_ns, const std::string& target) {
    return in_ns(a.ns->name(),
                 "timeout 10 socat -T5 TCP-LISTEN:8080,reuseaddr SYSTEM:'echo served' & sleep 0.3; "
                 "ip netns exec " +
                     client_ns + " timeout 5 socat -T5 - TCP:" + target + " </dev/null; wait")
        .out;
  };
  EXPECT_EQ(serve(node_.name(), "10.88.0.1:18080"), "served\n") << "from the node to its own address";
  EXPECT_EQ(serve(node_.name(), "127.0.0.1:18080"), "served\n") << "from the node to localhost";
  EXPECT_EQ(serve(b.ns->name(), "10.88.0.1:18080"), "served\n") << "from another pod";
  EXPECT_EQ(serve(a.ns->name(), "10.88.0.1:18080"), "served\n") << "hairpin: the pod to its own hostPort";

  // DEL removes the mapping.
  ASSERT_EQ(call("DEL", a.id, a.ns->path(), a.conf).exit_code, 0);
  auto after = in_ns(node_.name(), "timeout 3 socat -T2 - TCP:10.88.0.1:18080 </dev/null");
  EXPECT_NE(after.status, 0);
}

// macspoofchk end to end: the checked pod's frames must carry the MAC ADD gave it; a pod of a
// network without the check is unaffected; DEL takes the pod's elements away.
TEST_F(PluginTest, MacSpoofCheckDropsFramesFromAnotherMac) {
  ConfOpts o;
  o.extra = R"(, "macspoofchk": true)";
  auto& a = add_pod(conf(o));
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto& b = add_pod(conf());
  ASSERT_EQ(b.add.exit_code, 0) << b.add.out;
  auto ifs = a.add.json().as_object().at("interfaces").as_array();
  std::string host_if(ifs[1].as_object().at("name").as_string()),
      mac(ifs[2].as_object().at("mac").as_string());
  auto ping = [](const Pod& p, const std::string& to) {
    return in_ns(p.ns->name(), "ping -c1 -W1 " + to + " >/dev/null 2>&1").status == 0;
  };
  EXPECT_TRUE(ping(a, "10.88.0.1")) << "its own MAC passes";
  EXPECT_TRUE(ping(b, "10.88.0.1"));
  std::string rules = in_ns(node_.name(), "nft list table bridge podnet-cni").out;
  EXPECT_NE(rules.find("\"" + host_if + "\" . " + mac + " comment \"" + a.id + "/eth0\""), std::string::npos)
      << rules;

  // Each pod takes another MAC; the node forgets the old ones, so only the check can stop frames.
  ASSERT_EQ(in_ns(a.ns->name(), "ip link set eth0 address 02:00:00:00:aa:01 && ip neigh flush all").status,
            0);
  ASSERT_EQ(in_ns(b.ns->name(), "ip link set eth0 address 02:00:00:00:bb:01 && ip neigh flush all").status,
            0);
  ASSERT_EQ(in_ns(node_.name(), "ip neigh flush all").status, 0);
  EXPECT_FALSE(ping(a, "10.88.0.1")) << "the checked pod's frames with another MAC are dropped";
  EXPECT_TRUE(ping(b, "10.88.0.1")) << "the unchecked pod is unaffected";

  ASSERT_EQ(call("DEL", a.id, a.ns->path(), a.conf).exit_code, 0);
  rules = in_ns(node_.name(), "nft list table bridge podnet-cni").out;
  EXPECT_EQ(rules.find(host_if), std::string::npos) << rules;
  EXPECT_EQ(rules.find(a.id), std::string::npos) << rules;
  EXPECT_EQ(rules.find(mac), std::string::npos) << rules;
}

TEST_F(PluginTest, CheckPassesThenDetectsRemovedAddress) {
  auto& a = add_pod(conf());
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto base = json::parse(a.conf).as_object();
  base["prevResult"] = a.add.json();
  std::string check_conf = json::serialize(base);
  auto ok = call("CHECK", a.id, a.ns->path(), check_conf);
  EXPECT_EQ(ok.exit_code, 0) << ok.out;

  ASSERT_EQ(in_ns(a.ns->name(), "ip addr del " + a.ip + "/24 dev eth0").status, 0);
  auto bad = call("CHECK", a.id, a.ns->path(), check_conf);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.error_code(), 108u) << bad.out;
  EXPECT_NE(bad.out.find(a.ip), std::string::npos) << "names the missing address: " << bad.out;

  auto missing = call("CHECK", a.id, a.ns->path(), a.conf);
  EXPECT_EQ(missing.error_code(), 7u) << "CHECK without prevResult: " << missing.out;
}

TEST_F(PluginTest, DelIsIdempotentAndWorksWithoutNamespace) {
  auto& a = add_pod(conf());
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto& b = add_pod(conf());
  ASSERT_EQ(b.add.exit_code, 0) << b.add.out;
  ASSERT_EQ(reservations().size(), 2u);

  EXPECT_EQ(call("DEL", a.id, a.ns->path(), a.conf).exit_code, 0);
  EXPECT_EQ(call("DEL", a.id, a.ns->path(), a.conf).exit_code, 0) << "second DEL";
  // The kernel side of the deletion finishes in the background within tens of milliseconds.
  EXPECT_EQ(
      in_ns(a.ns->name(),
            "for i in $(seq 100); do ip link show eth0 >/dev/null 2>&1 || exit 0; sleep 0.02; done; exit 1")
          .status,
      0)
      << "eth0 is gone";

  std::string gone = b.ns->path();
  b.ns.reset();  // the runtime removed the namespace before DEL
  auto r = call("DEL", b.id, gone, b.conf);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(call("DEL", b.id, "", b.conf).exit_code, 0) << "DEL with no CNI_NETNS";
  // A path that exists but is no network namespace is the runtime's mistake: reported (code 4),
  // at once, after what can be released without it was released, as the reference plugins do.
  auto& c = add_pod(conf());
  ASSERT_EQ(c.add.exit_code, 0) << c.add.out;
  std::string fifo = tmp_.path() + "/pn-del-fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto refused = run_plugin_within(std::chrono::seconds(10), CniCall{"DEL", c.id, fifo}, c.conf);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_EQ(refused.error_code(), 4u) << refused.out;
  EXPECT_NE(refused.out.find("a FIFO, not a network namespace"), std::string::npos) << refused.out;
  c.ns.reset();  // the runtime removes the namespace; its veth goes with it
  EXPECT_TRUE(reservations().empty());
  // Both host veths disappear: one deleted by DEL in the background, one with its namespace.
  std::string links;
  for (int i = 0; i < 250 && (links = node_links()).find("veth") != std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(links.find("veth"), std::string::npos) << links;
}

TEST_F(PluginTest, GcReleasesStaleAndKeepsValid) {
  ConfOpts o;
  o.runtime = R"("portMappings": [{"hostPort": 18081, "containerPort": 80}])";
  o.extra = R"(, "macspoofchk": true)";
  auto& keep = add_pod(conf());
  auto& stale = add_pod(conf(o));
  ASSERT_EQ(keep.add.exit_code, 0);
  ASSERT_EQ(stale.add.exit_code, 0) << stale.add.out;
  std::string stale_if(
      stale.add.json().as_object().at("interfaces").as_array()[1].as_object().at("name").as_string());
  ASSERT_EQ(reservations().size(), 2u);
  auto gc = json::parse(conf()).as_object();
  gc["cni.dev/valid-attachments"] = json::array{json::object{{"containerID", keep.id}, {"ifname", "eth0"}}};
  auto r = call("GC", "", "", json::serialize(gc));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto left = reservations();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0], keep.ip);
  auto rules = in_ns(node_.name(), "nft list ruleset");
  EXPECT_EQ(rules.out.find("18081"), std::string::npos) << "the stale pod's hostPort is gone:\n" << rules.out;
  EXPECT_EQ(rules.out.find(stale_if), std::string::npos) << "and its macspoofchk:\n" << rules.out;
  // The kept pod still works and a new pod can take the released address.
  EXPECT_EQ(in_ns(keep.ns->name(), "ping -c1 -W1 -w5 10.88.0.1").status, 0);
}

TEST_F(PluginTest, KillDuringAddThenGcLeaksNothing) {
  std::mt19937 rng(std::random_device{}());
  std::vector<std::unique_ptr<ScopedNetns>> nss;
  std::set<std::string> completed_ids;
  for (int i = 0; i < 20; ++i) {
    nss.push_back(std::make_unique<ScopedNetns>());
    CniCall c{"ADD", "pn-kill-" + std::to_string(i), nss.back()->path()};
    auto proc = start_plugin(podnet_cni_binary(), node_.netns().fd(), c, conf());
    ASSERT_GT(proc.pid, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 4000)(rng)));
    ::kill(proc.pid, SIGKILL);
    auto r = wait_plugin(proc);
    if (r.exit_code == 0) completed_ids.insert(c.container_id);
  }
  // Reservations of completed ADDs are valid; everything else must be reclaimed by GC.
  auto gc = json::parse(conf()).as_object();
  json::array valid;
  for (const auto& id : completed_ids) valid.push_back(json::object{{"containerID", id}, {"ifname", "eth0"}});
  gc["cni.dev/valid-attachments"] = valid;
  auto r = call("GC", "", "", json::serialize(gc));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(reservations().size(), completed_ids.size());
  // No address is handed out twice afterwards: 20 fresh pods get 20 distinct addresses.
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    auto& p = add_pod(conf());
    ASSERT_EQ(p.add.exit_code, 0) << p.add.out;
    EXPECT_TRUE(seen.insert(p.ip).second) << p.ip << " handed out twice";
  }
  EXPECT_EQ(reservations().size(), completed_ids.size() + 20);
  nss.clear();  // the runtime deletes the sandboxes; the kernel removes their veths asynchronously
  std::string links;
  for (int i = 0; i < 250; ++i) {
    links = node_links();
    if (std::count(links.begin(), links.end(), '\n') == 2 + 20) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(std::count(links.begin(), links.end(), '\n'), 2 + 20)
      << "lo, the bridge and the live pods' veths:\n"
      << links;
}

TEST_F(PluginTest, FiftyParallelAddsGetDistinctAddresses) {
  constexpr int kPods = 50;
  std::vector<std::unique_ptr<ScopedNetns>> nss;
  std::vector<runtime::CniProcess> procs;
  for (int i = 0; i < kPods; ++i) nss.push_back(std::make_unique<ScopedNetns>());
  for (int i = 0; i < kPods; ++i) {
    CniCall c{"ADD", "pn-par-" + std::to_string(i), nss[i]->path()};
    procs.push_back(start_plugin(podnet_cni_binary(), node_.netns().fd(), c, conf()));
    ASSERT_GT(procs.back().pid, 0);
  }
  std::set<std::string> ips;
  for (auto& proc : procs) {
    auto r = wait_plugin(proc);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    ips.insert(
        std::string(r.json().as_object().at("ips").as_array()[0].as_object().at("address").as_string()));
  }
  EXPECT_EQ(ips.size(), static_cast<size_t>(kPods));
  EXPECT_EQ(reservations().size(), static_cast<size_t>(kPods));
  std::string last = *ips.rbegin();
  EXPECT_EQ(in_ns(nss[0]->name(), "ping -c1 -W1 -w5 " + last.substr(0, last.find('/'))).status, 0);
}

TEST_F(PluginTest, DualStackGivesOneAddressPerFamily) {
  ConfOpts o;
  o.ranges = R"([[{"subnet": "10.88.0.0/24"}], [{"subnet": "fd00:88::/64"}]])";
  auto& a = add_pod(conf(o));
  auto& b = add_pod(conf(o));
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  ASSERT_EQ(b.add.exit_code, 0) << b.add.out;
  auto ips = b.add.json().as_object().at("ips").as_array();
  ASSERT_EQ(ips.size(), 2u);
  std::string v6(ips[1].as_object().at("address").as_string());
  EXPECT_EQ(v6.rfind("fd00:88::", 0), 0u) << v6;
  EXPECT_EQ(in_ns(a.ns->name(), "ping -6 -c1 -W1 -w5 " + v6.substr(0, v6.find('/'))).status, 0);
}

TEST_F(PluginTest, RequestedIpThroughCapabilityAndArgs) {
  ConfOpts o;
  o.runtime = R"("ips": ["10.88.0.77/24"])";
  auto& a = add_pod(conf(o));
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  EXPECT_EQ(a.ip, "10.88.0.77");
  auto& b = add_pod(conf(o));
  EXPECT_EQ(b.add.exit_code, 1);
  EXPECT_EQ(b.add.error_code(), 103u) << b.add.out;

  auto ns = std::make_unique<ScopedNetns>();
  CniCall c{"ADD", "pn-args", ns->path()};
  c.args = "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.88.0.78";
  auto r = run_plugin(podnet_cni_binary(), node_.netns().fd(), c, conf());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("10.88.0.78/24"), std::string::npos);
}

TEST_F(PluginTest, LegacyVersionResultsCarryIpVersion) {
  ConfOpts o;
  o.version = "0.4.0";
  auto& a = add_pod(conf(o));
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto res = a.add.json().as_object();
  EXPECT_EQ(res.at("cniVersion"), "0.4.0");
  EXPECT_EQ(res.at("ips").as_array()[0].as_object().at("version"), "4");
  auto gc = call("GC", "", "", conf(o));
  EXPECT_EQ(gc.error_code(), 1u) << "GC needs a 1.1.0 config: " << gc.out;
}

TEST_F(PluginTest, DelegatesIpamToHostLocal) {
  if (::access("/usr/lib/cni/host-local", X_OK) != 0)
    GTEST_SKIP() << "containernetworking-plugins not installed";
  ConfOpts o;
  o.version = "1.0.0";  // Debian's host-local speaks up to 1.0.0
  o.ipam_override =
      R"({"type": "host-local", "dataDir": ")" + dir_ + R"(/hl", "ranges": [[{"subnet": "10.89.0.0/24"}]]})";
  auto& a = add_pod(conf(o));
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  EXPECT_EQ(a.ip, "10.89.0.2");
  EXPECT_EQ(in_ns(a.ns->name(), "ping -c1 -W1 -w5 10.89.0.1").status, 0);
  EXPECT_FALSE(list_dir(dir_ + "/hl/pnnet").empty());
  ASSERT_EQ(call("DEL", a.id, a.ns->path(), a.conf).exit_code, 0);
  for (auto& f : list_dir(dir_ + "/hl/pnnet"))
    EXPECT_EQ(f.find("10.89"), std::string::npos) << f << " still reserved";
}

TEST_F(PluginTest, GivesTheSameResultAsTheReferenceBridgePlugin) {
  if (::access("/usr/lib/cni/bridge", X_OK) != 0) GTEST_SKIP() << "containernetworking-plugins not installed";
  ScopedNetns ref_node;
  ScopedNetns ref_pod;
  std::string ref_conf = R"({"cniVersion": "1.0.0", "name": "pnnet", "type": "bridge", "bridge": "pnbr0",
    "isGateway": true, "isDefaultGateway": true, "ipam": {"type": "host-local", "dataDir": ")" +
                         dir_ + R"(/ref", "ranges": [[{"subnet": "10.88.0.0/24"}]]}})";
  CniCall c{"ADD", "pn-ref", ref_pod.path()};
  auto ref = run_plugin("/usr/lib/cni/bridge", ref_node.netns().fd(), c, ref_conf);
  ASSERT_EQ(ref.exit_code, 0) << ref.out;
  ConfOpts o;
  o.version = "1.0.0";
  auto& ours = add_pod(conf(o));
  ASSERT_EQ(ours.add.exit_code, 0) << ours.add.out;

  auto r = ref.json().as_object(), p = ours.add.json().as_object();
  EXPECT_EQ(p.at("ips"), r.at("ips"));
  EXPECT_EQ(p.at("routes"), r.at("routes"));
  ASSERT_EQ(p.at("interfaces").as_array().size(), r.at("interfaces").as_array().size());
  for (size_t i = 0; i < 3; ++i) {
    auto pi = p.at("interfaces").as_array()[i].as_object(), ri = r.at("interfaces").as_array()[i].as_object();
    EXPECT_EQ(pi.contains("sandbox"), ri.contains("sandbox"));
    if (i != 1) {
      EXPECT_EQ(pi.at("name"), ri.at("name"));
    }
  }
  // Same state on both sides: address and default route in the pod, gateway on the bridge.
  auto norm = [](std::string s) { return s; };
  EXPECT_EQ(norm(in_ns(ref_pod.name(), "ip -4 -o addr show eth0 | awk '{print $4}'").out),
            norm(in_ns(ours.ns->name(), "ip -4 -o addr show eth0 | awk '{print $4}'").out));
  EXPECT_EQ(in_ns(ref_pod.name(), "ip route show default").out,
            in_ns(ours.ns->name(), "ip route show default").out);
  EXPECT_EQ(in_ns(ref_node.name(), "ip -4 -o addr show pnbr0 | awk '{print $4}'").out,
            in_ns(node_.name(), "ip -4 -o addr show pnbr0 | awk '{print $4}'").out);
  CniCall d{"DEL", "pn-ref", ref_pod.path()};
  EXPECT_EQ(run_plugin("/usr/lib/cni/bridge", ref_node.netns().fd(), d, ref_conf).exit_code, 0);
}

TEST_F(PluginTest, StatusReportsPoolExhaustionAndBridgeConflict) {
  ConfOpts tiny;
  tiny.ranges = R"([[{"subnet": "10.88.0.0/24", "rangeStart": "10.88.0.10", "rangeEnd": "10.88.0.10"}]])";
  auto st = call("STATUS", "", "", conf(tiny));
  EXPECT_EQ(st.exit_code, 0) << st.out;
  ASSERT_EQ(add_pod(conf(tiny)).add.exit_code, 0);
  st = call("STATUS", "", "", conf(tiny));
  EXPECT_EQ(st.error_code(), 51u) << st.out;

  ScopedNetns other_node;
  ASSERT_EQ(in_ns(other_node.name(), "ip link add pnbr0 type veth peer name pnpeer0").status, 0);
  CniCall c{"STATUS", "", ""};
  auto r = run_plugin(podnet_cni_binary(), other_node.netns().fd(), c, conf());
  EXPECT_EQ(r.error_code(), 50u) << r.out;
}

// Bad input: each gives its code, and leaves no link, reservation or rule behind.
struct BadInput {
  const char* name;
  uint32_t code;
  const char* says = "";  // in the error's msg
};

class PluginBadInput : public PluginTest, public ::testing::WithParamInterface<BadInput> {};

TEST_P(PluginBadInput, GivesItsCodeAndLeavesNothing) {
  std::string name = GetParam().name;
  // A first pod that succeeds, so "nothing left behind" is measured against a working node.
  ConfOpts tiny;
  tiny.ranges = R"([[{"subnet": "10.88.0.0/24", "rangeStart": "10.88.0.10", "rangeEnd": "10.88.0.10"}]])";
  auto& first = add_pod(name == "exhausted_pool" ? conf(tiny) : conf());
  ASSERT_EQ(first.add.exit_code, 0) << first.add.out;
  std::string links_before = node_links();
  auto res_before = reservations();

  ScopedNetns pod;
  CniCall c{"ADD", "pn-bad", pod.path()};
  std::string body = conf();
  if (name == "malformed_json") body = R"({"cniVersion": "1.1.0", "name": )";
  if (name == "unknown_version") body = R"({"cniVersion": "7.0.0", "name": "pnnet", "type": "podnet"})";
  if (name == "missing_env") c.netns = c.ifname = "";
  if (name == "bad_cidr") {
    ConfOpts o;
    o.ranges = R"([[{"subnet": "10.88.0.0/40"}]])";
    body = conf(o);
  }
  if (name == "exhausted_pool") body = conf(tiny);
  if (name == "existing_interface") {
    ASSERT_EQ(in_ns(pod.name(), "ip link add eth0 type veth peer name pnpeer0").status, 0);
  }
  if (name == "missing_netns") c.netns = "/var/run/netns/pn-does-not-exist";
  // CNI_NETNS naming something that is not a network namespace: refused at once, never opened
  // for reading (a FIFO would block the plugin forever).
  if (name == "netns_is_fifo") {
    c.netns = tmp_.path() + "/pn-fifo";
    ASSERT_EQ(::mkfifo(c.netns.c_str(), 0600), 0);
  }
  if (name == "netns_is_file") {
    c.netns = tmp_.path() + "/pn-file";
    ASSERT_TRUE(write_file_atomic(c.netns, "x"));
  }
  if (name == "netns_is_directory") c.netns = tmp_.path();
  if (name == "netns_is_mount_namespace") c.netns = "/proc/self/ns/mnt";
  if (name == "bridge_is_not_a_bridge") {
    ASSERT_EQ(in_ns(node_.name(), "ip link add pndummy0 type veth peer name pnpeer0").status, 0);
    links_before = node_links();
    auto obj = json::parse(conf()).as_object();
    obj["bridge"] = "pndummy0";
    body = json::serialize(obj);
  }

  auto started = std::chrono::steady_clock::now();
  auto r = run_plugin_within(std::chrono::seconds(10), c, body);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "not prompt";
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.error_code(), GetParam().code) << r.out;
  if (std::string_view says = GetParam().says; !says.empty()) {
    EXPECT_NE(r.out.find(says), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CNI_NETNS: open netns " + c.netns), std::string::npos) << r.out;
  }
  EXPECT_TRUE(r.json().as_object().contains("msg"));
  EXPECT_EQ(node_links(), links_before);
  EXPECT_EQ(reservations(), res_before);
  if (name == "missing_env") {
    EXPECT_NE(r.out.find("CNI_NETNS,CNI_IFNAME"), std::string::npos) << r.out;
  }
  if (name == "existing_interface") {
    EXPECT_EQ(in_ns(pod.name(), "ip -o link | grep -c ': eth0@'").out, "1\n");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, PluginBadInput,
    ::testing::Values(BadInput{"malformed_json", 6}, BadInput{"unknown_version", 1},
                      BadInput{"missing_env", 4}, BadInput{"bad_cidr", 7}, BadInput{"exhausted_pool", 104},
                      BadInput{"existing_interface", 101},
                      BadInput{"missing_netns", 4, "No such file or directory"},
                      BadInput{"netns_is_fifo", 4, "a FIFO, not a network namespace"},
                      BadInput{"netns_is_file", 4, "a regular file, not a network namespace"},
                      BadInput{"netns_is_directory", 4, "a directory, not a network namespace"},
                      BadInput{"netns_is_mount_namespace", 4, "a mount namespace, not a network namespace"},
                      BadInput{"bridge_is_not_a_bridge", 102}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(PluginTest, AddRightAfterDelInTheSameNamespaceWorks) {
  // podman network disconnect + connect: DEL returns before the kernel finished deleting eth0, and
  // the next ADD of eth0 in the same namespace must wait for it rather than fail.
  auto& a = add_pod(conf());
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(call("DEL", a.id, a.ns->path(), a.conf).exit_code, 0);
    auto again = call("ADD", a.id, a.ns->path(), a.conf);
    ASSERT_EQ(again.exit_code, 0) << "round " << i << ": " << again.out;
  }
  EXPECT_EQ(reservations().size(), 1u);
  EXPECT_EQ(in_ns(a.ns->name(), "ping -c1 -W1 -w5 10.88.0.1").status, 0);
}

TEST_F(PluginTest, SecondAddForSameContainerIsAnError) {
  auto& a = add_pod(conf());
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto again = call("ADD", a.id, a.ns->path(), a.conf);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.error_code(), 107u) << again.out;
  EXPECT_EQ(reservations().size(), 1u);
  EXPECT_EQ(in_ns(a.ns->name(), "ping -c1 -W1 -w5 10.88.0.1").status, 0)
      << "the first ADD's network is intact";
}

// fastPath.bpfDir: with the agent's pins present, ADD maps the pod's IPv4 address to its host veth
// and the container's MAC and gives the host veth its clsact hook, made before the veth went up
// (attaching the program is the agent's); DEL unmaps it. Without pins, ADD and DEL work as without
// the key.
TEST_F(PluginTest, FastPathMapsPodAddress) {
  PinnedFastPath fp;
  ASSERT_TRUE(fp.pinned);
  ConfOpts o;
  o.extra = R"(, "fastPath": {"bpfDir": ")" + fp.fs.path() + R"("})";
  auto& a = add_pod(conf(o));
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto ifs = a.add.json().as_object().at("interfaces").as_array();
  std::string host_if(ifs[1].as_object().at("name").as_string());
  auto cont_mac = netlink::parse_mac(std::string(ifs[2].as_object().at("mac").as_string()));
  ASSERT_TRUE(cont_mac);

  auto nl = node_.netlink();
  auto host_index = nl.index_of(host_if);
  ASSERT_TRUE(host_index) << host_index.error().message();

  auto key_bytes = parse_ip(a.ip)->to_v4().to_bytes();
  __u32 key;
  std::memcpy(&key, key_bytes.data(), sizeof key);
  pn_pod v{};
  auto found = fastpath::map_lookup(fp.pods.get(), &key, &v);
  ASSERT_TRUE(found) << found.error().message();
  ASSERT_TRUE(*found) << a.ip << " is in pn_pods";
  EXPECT_EQ(v.ifindex, static_cast<__u32>(*host_index));
  EXPECT_EQ(std::memcmp(v.mac, cont_mac->data(), 6), 0);
  auto qdiscs = in_ns(node_.name(), "tc qdisc show dev " + host_if);
  EXPECT_NE(qdiscs.out.find("qdisc clsact ffff:"), std::string::npos) << qdiscs.out;
  auto link = in_ns(node_.name(), "ip link show dev " + host_if);
  EXPECT_NE(link.out.find(",UP,LOWER_UP>"), std::string::npos) << link.out;
  EXPECT_EQ(in_ns(node_.name(), "ping -c1 -W1 -w5 " + a.ip).status, 0);

  ASSERT_EQ(call("DEL", a.id, a.ns->path(), a.conf).exit_code, 0);
  found = fastpath::map_lookup(fp.pods.get(), &key, &v);
  ASSERT_TRUE(found);
  EXPECT_FALSE(*found) << "DEL removed " << a.ip;
  auto again = call("DEL", a.id, a.ns->path(), a.conf);
  EXPECT_EQ(again.exit_code, 0) << "second DEL: " << again.out;
}

TEST_F(PluginTest, FastPathWithoutPinsLeavesPodsOnTheNormalPath) {
  BpfFs empty;
  ASSERT_TRUE(empty.ok());
  for (const std::string& dir : {empty.path(), empty.path() + "/not-there"}) {
    ConfOpts o;
    o.extra = R"(, "fastPath": {"bpfDir": ")" + dir + R"("})";
    auto& a = add_pod(conf(o));
    ASSERT_EQ(a.add.exit_code, 0) << dir << ": " << a.add.out;
    std::string host_if(
        a.add.json().as_object().at("interfaces").as_array()[1].as_object().at("name").as_string());
    auto host_index = node_.netlink().index_of(host_if);
    ASSERT_TRUE(host_index);
    EXPECT_EQ(in_ns(node_.name(), "ping -c1 -W1 -w5 " + a.ip).status, 0);
    auto del = call("DEL", a.id, a.ns->path(), a.conf);
    EXPECT_EQ(del.exit_code, 0) << del.out;
  }
  // DEL of a pod that never was (no IPAM state at all) with the key set.
  ConfOpts o;
  o.extra = R"(, "fastPath": {"bpfDir": ")" + empty.path() + R"("})";
  auto del = call("DEL", "pn-never-added", "", conf(o));
  EXPECT_EQ(del.exit_code, 0) << del.out;
}

// A delegated IPAM keeps no addresses podnet-cni can read: DEL takes them from prevResult.
TEST_F(PluginTest, FastPathWithDelegatedIpamUnmapsFromPrevResult) {
  if (::access("/usr/lib/cni/host-local", X_OK) != 0)
    GTEST_SKIP() << "containernetworking-plugins not installed";
  PinnedFastPath fp;
  ASSERT_TRUE(fp.pinned);
  ConfOpts o;
  o.version = "1.0.0";  // Debian's host-local speaks up to 1.0.0
  o.ipam_override =
      R"({"type": "host-local", "dataDir": ")" + dir_ + R"(/hl", "ranges": [[{"subnet": "10.89.0.0/24"}]]})";
  o.extra = R"(, "fastPath": {"bpfDir": ")" + fp.fs.path() + R"("})";
  auto& a = add_pod(conf(o));
  ASSERT_EQ(a.add.exit_code, 0) << a.add.out;
  auto key_bytes = parse_ip(a.ip)->to_v4().to_bytes();
  __u32 key;
  std::memcpy(&key, key_bytes.data(), sizeof key);
  pn_pod v{};
  auto found = fastpath::map_lookup(fp.pods.get(), &key, &v);
  ASSERT_TRUE(found && *found) << a.ip << " is in pn_pods";

  auto with_prev = json::parse(a.conf).as_object();
  with_prev["prevResult"] = a.add.json();
  auto del = call("DEL", a.id, a.ns->path(), json::serialize(with_prev));
  ASSERT_EQ(del.exit_code, 0) << del.out;
  found = fastpath::map_lookup(fp.pods.get(), &key, &v);
  ASSERT_TRUE(found);
  EXPECT_FALSE(*found) << "DEL removed " << a.ip;
}

}  // namespace
}  // namespace podnet::testing
