// A node for PodManager tests: an in-process API server (api_fixture.h), a node network namespace,
// a podnet-cni conflist and a state dir under a TempDir. TearDown kills whatever containers a
// failed test left (by the pids in the pod records) and deletes their namespaces.
#pragma once

#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "apiserver/api_fixture.h"
#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "netlink/netns.h"
#include "runtime/pod_manager.h"
#include "runtime/pod_mounts.h"
#include "runtime/pod_state.h"
#include "support/scoped_netns.h"

namespace podnet::runtime::testing {

namespace json = boost::json;
using namespace std::chrono_literals;

inline std::string tool() {
  return std::string(PODNET_BINARY_DIR) + "/tests/runtime/pod_tool";
}

class PodTest : public apiserver::testing::ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    state_ = dir_.path() + "/node";
    std::filesystem::create_directories(state_ + "/cni");
    json::object conf{
        {"cniVersion", "1.1.0"},
        {"name", "podnet"},
        {"plugins",
         json::array{json::object{{"type", "podnet"},
                                  {"bridge", "pnbr0"},
                                  {"isGateway", true},
                                  {"isDefaultGateway", true},
                                  {"ipMasq", false},
                                  {"stateDir", dir_.path() + "/cni-state"},
                                  {"ipam", json::object{{"type", "podnet"},
                                                        {"dataDir", ipam_dir()},
                                                        {"ranges", json::array{json::array{json::object{
                                                                       {"subnet", "10.244.7.0/24"}}}}}}}}}}};
    write_file_atomic(state_ + "/cni/10-podnet.conflist", json::serialize(conf));
    // The node exists, as it does for a real agent: pod GC deletes the pods of a missing node
    // after a few seconds, which longer tests would meet.
    create("/api/v1/nodes",
           json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node1"}}}});
    auto access = client::load_kubeconfig(server_->kubeconfig_path());
    ASSERT_TRUE(access) << access.error().message();
    auto c = client::HttpsApiClient::create(*access);
    ASSERT_TRUE(c);
    reads_ = std::move(*c);
    api_ = std::make_unique<ClientPodApi>(*reads_, "node1");
  }

  void TearDown() override {
    manager_.reset();
    if (state_.empty()) return;
    PodStateStore store(state_);
    for (const auto& uid : store.list_uids()) {
      auto rec = store.load(uid);
      if (!rec) continue;
      for (auto& [name, c] : rec->containers) {
        if (process_alive(c.container)) ::kill(-c.container.pid, SIGKILL), ::kill(c.container.pid, SIGKILL);
        if (process_alive(c.shim)) ::kill(c.shim.pid, SIGKILL);
        ::waitpid(c.shim.pid, nullptr, 0);
      }
      if (!rec->netns.empty()) (void)netlink::delete_named_netns(rec->netns);
      if (!rec->mntns.empty()) (void)remove_pod_mount_ns(rec->mntns);
    }
    // The private mount the pod mount namespaces were bound under (made by the first pod), and a
    // run dir's tmpfs (tests that give one).
    ::umount2(mntns_dir().c_str(), MNT_DETACH);
    ::umount2(run_dir().c_str(), MNT_DETACH);
  }

  Result<json::value> request(const std::string& method, const std::string& path, const json::value& body) {
    namespace http = boost::beast::http;
    http::verb verb = method == "PUT"      ? http::verb::put
                      : method == "DELETE" ? http::verb::delete_
                      : method == "POST"   ? http::verb::post
                      : method == "PATCH"  ? http::verb::patch
                                           : http::verb::get;
    auto r = admin().request(
        verb, path, body.is_null() ? "" : json::serialize(body),
        verb == http::verb::patch ? "application/strategic-merge-patch+json" : "application/json");
    if (r.status == 0) return fail_msg(method + " " + path + ": " + r.error);
    if (r.status >= 300) {
      int code = r.status == 409 ? kConflict : r.status == 404 ? kNotFound : 0;
      return std::unexpected(
          Error{code, method + " " + path + " " + r.body + ": HTTP " + std::to_string(r.status)});
    }
    return r.json();
  }

  PodManagerOptions options() {
    PodManagerOptions o;
    o.node_name = "node1";
    o.node_ip = "192.0.2.10";
    o.state_dir = state_;
    o.cni_bin = std::string(PODNET_BINARY_DIR) + "/podnet-cni";
    o.cni_conf = state_ + "/cni";
    o.netns_prefix = "pn-t" + std::to_string(::getpid()) + "-";
    o.node_netns = node_.path();
    o.log_address = "127.0.0.1";
    o.log_port = 0;
    o.restart_backoff = 200ms;
    o.mntns_dir = mntns_dir();
    o.cluster_dns = {"10.96.0.10"};
    // The log server's certificate from the cluster CA, as `podnet server --serving-cert-out` issues.
    apiserver::KeyPair ca{read_file(server_->pki_dir() + "/ca.crt").value_or(""),
                          read_file(server_->pki_dir() + "/ca.key").value_or("")};
    apiserver::CertRequest serving;
    serving.common_name = "system:node:node1";
    serving.organizations = {"system:nodes"};
    serving.server_auth = true;
    serving.ip_addresses = {"127.0.0.1"};
    auto pair = apiserver::make_leaf(ca, serving);
    EXPECT_TRUE(pair);
    if (pair) o.log_tls = LogServerTls{pair->cert_pem, pair->key_pem, ca.cert_pem};
    return o;
  }

  void start_manager(std::function<void(PodManagerOptions&)> adjust = {}) {
    auto o = options();
    if (adjust) adjust(o);
    auto m = PodManager::start(std::move(o), *api_);
    ASSERT_TRUE(m) << m.error().message();
    manager_ = std::move(*m);
  }

  std::string ipam_dir() const { return dir_.path() + "/ipam"; }
  std::string mntns_dir() const { return state_.empty() ? std::string() : state_ + "/mntns"; }
  // PodManagerOptions::run_dir for tests that give one (mounted by runtime::ensure_tmpfs).
  std::string run_dir() const { return state_.empty() ? std::string() : state_ + "/run"; }

  // Creates a pod bound to node1 with the given containers (and spec extras).
  json::value make_pod(const std::string& name, json::array containers, json::object extra = {}) {
    json::object spec{
        {"nodeName", "node1"}, {"containers", std::move(containers)}, {"terminationGracePeriodSeconds", 5}};
    for (auto& [k, v] : extra) spec[k] = v;
    return create(
        "/api/v1/namespaces/default/pods",
        json::object{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", spec}});
  }

  json::value get_pod(const std::string& name) {
    return admin().get("/api/v1/namespaces/default/pods/" + name).json();
  }
  bool pod_exists(const std::string& name) {
    return admin().get("/api/v1/namespaces/default/pods/" + name).status == 200;
  }

  // The condition's status ("True"/"False"), or "" when absent.
  std::string condition(const json::value& pod, const std::string& type) {
    const auto* st = pod.as_object().if_contains("status");
    const auto* cs = st && st->is_object() ? st->get_object().if_contains("conditions") : nullptr;
    if (!cs || !cs->is_array()) return "";
    for (const auto& c : cs->get_array())
      if (str(c, {"type"}) == type) return str(c, {"status"});
    return "";
  }

  const json::value* container_status(const json::value& pod, const std::string& name) {
    const auto* st = pod.as_object().if_contains("status");
    const auto* cs = st && st->is_object() ? st->get_object().if_contains("containerStatuses") : nullptr;
    if (!cs || !cs->is_array()) return nullptr;
    for (const auto& c : cs->get_array())
      if (str(c, {"name"}) == name) return &c;
    return nullptr;
  }

  static bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 20s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return pred();
  }

  // HTTP GET against the log server inside the node namespace; returns the decoded body.
  std::string kubelet_get(const std::string& target);

  podnet::testing::ScopedNetns node_;
  std::string state_;
  std::unique_ptr<client::HttpsApiClient> reads_;
  std::unique_ptr<ClientPodApi> api_;
  std::unique_ptr<PodManager> manager_;
};

}  // namespace podnet::runtime::testing
