// The real `podnet server` binary (--node-network 192.168.77.0/24) and clients as its admin or as a
// node, with the node's credential issued the way `podnet up` issues it (`podnet server
// --issue-node-credential`): raw HTTPS, kubectl, and Debian's python3-kubernetes.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "api_fixture.h"
#include "client/kubeconfig.h"
#include "support/server_process.h"
#include "support/temp_dir.h"

namespace podnet::apiserver::testing {

inline constexpr const char* kPython = "/usr/bin/python3";

class NodeCredentialTest : public ::testing::Test {
 protected:
  explicit NodeCredentialTest(const std::string& dir_prefix, std::vector<std::string> extra_args = {})
      : dir_(dir_prefix), server_(dir_.path(), with_node_network(std::move(extra_args))) {}
  static std::vector<std::string> with_node_network(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node-network", "192.168.77.0/24"});
    return args;
  }

  void SetUp() override { ASSERT_TRUE(server_.start()) << server_.log(); }
  void TearDown() override {
    if (server_.pid() > 0) {
      EXPECT_EQ(server_.stop(), 0) << "clean shutdown on SIGTERM\n" << server_.log();
    }
  }

  TlsClient admin() const {
    return TlsClient(server_.port(), server_.ca(), KeyPair{server_.admin_cert(), server_.admin_key()});
  }

  // The kubeconfig `podnet server --issue-node-credential <node>` writes (issued once per node).
  std::string node_kubeconfig(const std::string& node) {
    std::string path = dir_.path() + "/" + node + ".kubeconfig";
    if (!issued_.contains(node)) {
      pid_t issue =
          podnet::testing::spawn_logged({podnet::testing::podnet_bin(), "server", "--data-dir",
                                         server_.data_dir(), "--issue-node-credential", node, "--out", path},
                                        dir_.path() + "/issue.log");
      EXPECT_EQ(podnet::testing::wait_exit_code(issue), 0)
          << read_file(dir_.path() + "/issue.log").value_or("");
      issued_[node] = true;
    }
    return path;
  }

  TlsClient as_node(const std::string& node) {
    auto access = client::load_kubeconfig(node_kubeconfig(node));
    EXPECT_TRUE(access) << access.error().message();
    if (!access) return TlsClient(server_.port(), server_.ca(), std::nullopt);
    return TlsClient(server_.port(), server_.ca(), KeyPair{access->client_cert_pem, access->client_key_pem});
  }

  // kubectl as the admin, or with `kubeconfig`; the test is skipped where there is no kubectl.
  podnet::testing::KubectlResult kubectl(std::vector<std::string> args, const std::string& kubeconfig = "") {
    return podnet::testing::run_kubectl(kubeconfig.empty() ? server_.kubeconfig() : kubeconfig, dir_.path(),
                                        std::move(args));
  }
  bool have_kubectl() const { return ::access(podnet::testing::kKubectl, X_OK) == 0; }

  // Runs a python3 program with KUBECONFIG set; stdout and stderr.
  podnet::testing::CommandResult python(const std::string& program, const std::string& kubeconfig) {
    std::string path = dir_.path() + "/client.py";
    std::ofstream(path) << program;
    return podnet::testing::shell("KUBECONFIG=" + kubeconfig + " " + kPython + " " + path);
  }

  static HttpResult patch(TlsClient c, const std::string& target, const std::string& body,
                          const std::string& type = "application/merge-patch+json") {
    return c.request(http::verb::patch, target, body, type);
  }

  static constexpr auto str = &ApiServerTest::str;

  podnet::testing::TempDir dir_;
  podnet::testing::ServerProcess server_;  // after dir_: killed before the directory goes
  std::map<std::string, bool> issued_;
};

}  // namespace podnet::apiserver::testing
