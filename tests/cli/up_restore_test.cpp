// `podnet up` on the state dir of a stopped cluster, through the real binaries (root: namespaces,
// daemons): after a simulated reboot (every process of the cluster killed, its namespaces, links
// and bpffs mounts gone, the state dir kept) it comes back with the same id and addresses, the API
// server's objects, a pod restarted by its agent behind a Service that answers, and no address
// leaked; `--fresh` starts over instead.
#include <linux/magic.h>
#include <sys/vfs.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "support/temp_dir.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

using namespace std::chrono_literals;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

template <class F>
bool eventually(F done, std::chrono::seconds limit) {
  for (auto deadline = std::chrono::steady_clock::now() + limit; !done(); std::this_thread::sleep_for(300ms))
    if (std::chrono::steady_clock::now() > deadline) return false;
  return true;
}

// A pod answering "web" on 8080 on node1, and the ClusterIP Service web:80 in front of it (two
// files: kubectl validates a List against /openapi/v2, which the server does not serve yet).
const char* kWebPod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default",
 "labels":{"app":"web"}},"spec":{"nodeName":"node1","terminationGracePeriodSeconds":2,"containers":[{"name":"web",
 "image":"unused","command":["socat","TCP-LISTEN:8080,fork,reuseaddr","SYSTEM:echo web"],
 "readinessProbe":{"tcpSocket":{"port":8080},"periodSeconds":1}}]}})";
const char* kWebService =
    R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},
 "spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080,"protocol":"TCP"}]}})";

// Addresses the node's IPAM holds (one file per reserved address, named by it), in the agent's
// run dir.
size_t reserved_addresses(const UpCluster& c, int node) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(c.layout().node_run_dir(node) + "/ipam", ec))
    if (e.is_regular_file() && parse_ip(e.path().filename().string())) ++n;
  return n;
}

// The node's run dir is a tmpfs (the agent mounts it) holding the pod's resolver file, while the
// pod's record stays on disk in the state dir.
void expect_run_dir_on_tmpfs(const UpCluster& c, int node, const std::string& uid) {
  struct statfs fs {};
  ASSERT_EQ(::statfs(c.layout().node_run_dir(node).c_str(), &fs), 0);
  EXPECT_EQ(fs.f_type, TMPFS_MAGIC);
  EXPECT_TRUE(std::filesystem::exists(c.layout().node_run_dir(node) + "/pods/" + uid + "/resolv.conf"));
  EXPECT_TRUE(std::filesystem::exists(c.layout().node_dir(node) + "/pods/" + uid + "/state.json"));
}

std::string get(const UpCluster& c, const std::string& what, const std::string& jsonpath) {
  return trim(c.kubectl("get " + what + " -o jsonpath='" + jsonpath + "'").out);
}

TEST(Restore, AfterASimulatedRebootTheClusterComesBackWithItsData) {
  if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
  UpCluster c;
  auto up = c.up(2, "--timeout 120");
  ASSERT_EQ(up.rc, 0) << up.out;
  TempDir dir("pn-restore");
  ASSERT_TRUE(write_file_atomic(dir.path() + "/pod.json", kWebPod));
  ASSERT_TRUE(write_file_atomic(dir.path() + "/service.json", kWebService));
  auto applied = c.kubectl("apply -f " + dir.path());
  ASSERT_EQ(applied.rc, 0) << applied.out;
  auto ready = c.kubectl("wait --for=condition=Ready pod/web --timeout=60s");
  ASSERT_EQ(ready.rc, 0) << ready.out << c.status().out;
  const std::string vip = get(c, "service/web", "{.spec.clusterIP}");
  const std::string uid = get(c, "pod/web", "{.metadata.uid}");
  ASSERT_FALSE(vip.empty());
  const std::string connect = "socat -T3 - TCP:" + vip + ":80,connect-timeout=3 </dev/null";
  ASSERT_TRUE(eventually([&] { return trim(c.in_node(2, connect).out) == "web"; }, 30s));
  EXPECT_EQ(reserved_addresses(c, 1), 1u);
  expect_run_dir_on_tmpfs(c, 1, uid);
  const std::string cid = c.cid();

  ASSERT_NO_FATAL_FAILURE(c.simulate_reboot());
  EXPECT_FALSE(cluster::netns_present(c.node_netns(1)));
  auto st = c.status();
  EXPECT_NE(st.rc, 0) << st.out;
  EXPECT_NE(st.out.find("DEAD"), std::string::npos) << st.out;
  // Options that contradict the record are refused; the cluster is not touched.
  auto other = c.up_again("--nodes 3");
  EXPECT_EQ(other.rc, 1) << other.out;
  EXPECT_NE(other.out.find("stopped cluster (" + cid + ")"), std::string::npos) << other.out;

  auto restored = c.up_again("--timeout 120");
  ASSERT_EQ(restored.rc, 0) << restored.out;
  EXPECT_NE(restored.out.find("restoring cluster " + cid), std::string::npos) << restored.out;
  EXPECT_NE(restored.out.find("node2 Ready"), std::string::npos) << restored.out;
  EXPECT_NE(restored.out.find("stale netns file(s)"), std::string::npos) << restored.out;
  ASSERT_TRUE(c.load_record());
  EXPECT_EQ(c.cid(), cid);
  for (int i = 1; i <= 2; ++i)
    EXPECT_EQ(
        get(c, "node/node" + std::to_string(i), "{.status.addresses[?(@.type==\"InternalIP\")].address}"),
        c.node_ip(i));

  // The API server's objects survived; the agent started the pod of the old boot again.
  EXPECT_EQ(get(c, "pod/web", "{.metadata.uid}"), uid);
  EXPECT_EQ(get(c, "service/web", "{.spec.clusterIP}"), vip);
  ready = c.kubectl("wait --for=condition=Ready pod/web --timeout=60s");
  ASSERT_EQ(ready.rc, 0) << ready.out << c.status().out;
  EXPECT_NE(get(c, "pod/web", "{.status.containerStatuses[0].restartCount}"), "0");
  std::string got;
  EXPECT_TRUE(eventually([&] { return (got = trim(c.in_node(2, connect).out)) == "web"; }, 30s)) << got;
  // The old boot's leases died with its tmpfs (as a reboot takes /run): one pod, one address.
  EXPECT_EQ(reserved_addresses(c, 1), 1u);
  expect_run_dir_on_tmpfs(c, 1, uid);
  // And at the first attempt: the dead sandbox's address was released before the new ADD, not
  // refused as a duplicate allocation and retried.
  auto log = read_file(c.layout().log_path("agent-node1")).value_or("");
  EXPECT_EQ(log.find("pod default/web: sandbox:"), std::string::npos) << log;
  c.load();  // the new pod namespace, for the leftovers check after `down`
}

TEST(Restore, FreshStartsOver) {
  UpCluster c;
  auto up = c.up(1, have_agent() ? "" : "--no-agents");
  ASSERT_EQ(up.rc, 0) << up.out;
  ASSERT_EQ(c.kubectl("create namespace keep-me").rc, 0);
  const std::string old_cid = c.cid();
  const pid_t old_server = c.daemon_pid("server");

  auto fresh = c.up(1, std::string("--fresh ") + (have_agent() ? "" : "--no-agents"));
  ASSERT_EQ(fresh.rc, 0) << fresh.out;
  EXPECT_NE(fresh.out.find("removing cluster " + old_cid), std::string::npos) << fresh.out;
  EXPECT_NE(cluster::probe(old_server), cluster::ProcState::kRunning);
  if (old_cid != c.cid()) {
    for (const auto& e : std::filesystem::directory_iterator("/run/netns"))
      EXPECT_FALSE(e.path().filename().string().starts_with("pn-" + old_cid + "-")) << e.path();
  }
  auto ns = c.kubectl("get namespace keep-me -o name");
  EXPECT_NE(ns.rc, 0) << "the old cluster's data is still there: " << ns.out;
  EXPECT_EQ(c.kubectl("get namespace default -o name").rc, 0);
}

}  // namespace
}  // namespace podnet::testing
