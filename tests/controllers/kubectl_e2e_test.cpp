// End to end: `podnet server` (the binary, controllers on) driven by the real kubectl. A node that
// reports Ready gets a pod range, pods are scheduled onto it, and once they report IPs and Ready the
// service's EndpointSlices list them; the LoadBalancer service gets an address from --lb-pool.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "common/files.h"
#include "support/temp_dir.h"

namespace podnet::controllers::testing {
namespace {

using namespace std::chrono_literals;
constexpr const char* kKubectl = "/usr/bin/kubectl";

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

constexpr const char* kObjects = R"(apiVersion: v1
kind: Node
metadata:
  name: node1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  labels: {app: web}
spec:
  containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-2
  labels: {app: web}
spec:
  containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]
)";

class ControllersKubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kKubectl, X_OK) != 0) GTEST_SKIP() << "no kubectl at " << kKubectl;
    data_ = dir_.path() + "/data";
    kubeconfig_ = data_ + "/admin.kubeconfig";
    server_ = spawn({std::string(PODNET_BINARY_DIR) + "/podnet", "server", "--data-dir", data_, "--port", "0",
                     "--lb-pool", "192.168.213.240/28"},
                    dir_.path() + "/server.log");
    ASSERT_GT(server_, 0);
    for (int i = 0; i < 200 && !std::filesystem::exists(kubeconfig_); ++i) std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(std::filesystem::exists(kubeconfig_)) << log("server.log");
  }
  void TearDown() override {
    if (server_ <= 0) return;
    ::kill(server_, SIGTERM);
    int status = 0;
    ::waitpid(server_, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "clean shutdown\n" << log("server.log");
  }

  std::string log(const std::string& name) {
    auto text = read_file(dir_.path() + "/" + name);
    return text ? *text : "";
  }

  // kubectl's exit code and output (stdout and stderr).
  std::pair<int, std::string> kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {kKubectl, "--kubeconfig", kubeconfig_, "--request-timeout=20s"});
    pid_t pid = spawn(args, dir_.path() + "/kubectl.out");
    int status = 0;
    ::waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, log("kubectl.out")};
  }

  // Runs kubectl until its output is `want` (10 s).
  bool wait_output(const std::vector<std::string>& args, const std::string& want) {
    for (int i = 0; i < 100; ++i) {
      if (kubectl(args).second == want) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  podnet::testing::TempDir dir_{"pn-ctrl-kubectl"};
  std::string data_, kubeconfig_;
  pid_t server_ = -1;
};

TEST_F(ControllersKubectlTest, EndpointSlicesListReadyPodsOfAService) {
  auto created = kubectl({"create", "-f", write("objects.yaml", kObjects)});
  ASSERT_EQ(created.first, 0) << created.second;

  // Node IPAM gives the node a range whether or not it is Ready.
  EXPECT_TRUE(wait_output({"get", "node", "node1", "-o", "jsonpath={.spec.podCIDR}"}, "10.244.0.0/24"))
      << kubectl({"get", "node", "node1", "-o", "yaml"}).second;

  // No Ready node yet: the pods wait, with the scheduler's reason.
  EXPECT_TRUE(
      wait_output({"get", "pod", "web-1", "-o", "jsonpath={.status.conditions[0].reason}"}, "Unschedulable"));
  auto ready = kubectl({"patch", "node", "node1", "--subresource=status", "--type=merge", "-p",
                        R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})"});
  ASSERT_EQ(ready.first, 0) << ready.second;
  for (auto pod : {"web-1", "web-2"})
    ASSERT_TRUE(wait_output({"get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"}, "node1")) << pod;

  // What the agent would report once the containers run.
  for (auto [pod, ip] : {std::pair{"web-1", "10.244.0.11"}, std::pair{"web-2", "10.244.0.12"}}) {
    std::string status = std::string(R"({"status":{"phase":"Running","podIP":")") + ip +
                         R"(","podIPs":[{"ip":")" + ip +
                         R"("}],"conditions":[{"type":"Ready","status":"True"}]}})";
    auto r = kubectl({"patch", "pod", pod, "--subresource=status", "--type=merge", "-p", status});
    ASSERT_EQ(r.first, 0) << r.second;
  }

  std::vector<std::string> get_slices = {"get",
                                         "endpointslices",
                                         "-l",
                                         "kubernetes.io/service-name=web",
                                         "-o",
                                         "jsonpath={range .items[*].endpoints[*]}{.addresses[0]} "
                                         "{.conditions.ready} {.nodeName} {.targetRef.name};{end}"};
  EXPECT_TRUE(wait_output(get_slices, "10.244.0.11 true node1 web-1;10.244.0.12 true node1 web-2;"))
      << kubectl(get_slices).second;

  auto table = kubectl({"get", "endpointslices", "-l", "kubernetes.io/service-name=web"});
  ASSERT_EQ(table.first, 0) << table.second;
  EXPECT_NE(table.second.find("IPv4"), std::string::npos) << table.second;
  EXPECT_NE(table.second.find("8080"), std::string::npos) << table.second;
  EXPECT_NE(table.second.find("10.244.0.11,10.244.0.12"), std::string::npos) << table.second;

  EXPECT_TRUE(wait_output({"get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"},
                          "192.168.213.241"));

  // A deleted pod leaves the slice.
  auto del = kubectl({"delete", "pod", "web-1", "--wait=false"});
  ASSERT_EQ(del.first, 0) << del.second;
  EXPECT_TRUE(wait_output(get_slices, "10.244.0.12 true node1 web-2;")) << kubectl(get_slices).second;
}

}  // namespace
}  // namespace podnet::controllers::testing
