// kill -9 of the `podnet server` binary while clients create NodePort Services: after a restart
// every create that was answered 201 is there with the clusterIP and nodePort it was given, no
// clusterIP or nodePort is held by two Services, and creating continues without duplicates.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "support/server_process.h"
#include "support/temp_dir.h"
#include "tls_client.h"

namespace podnet::apiserver::testing {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kServices = "/api/v1/namespaces/default/services";
constexpr int kClients = 8;

struct Acked {
  std::string ip;
  int64_t node_port = 0;
};

json::value node_port_service(const std::string& name) {
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", {{"name", name}}},
                      {"spec", {{"type", "NodePort"}, {"ports", json::array{{{"port", 80}}}}}}};
}

class CrashTest : public ::testing::Test {
 protected:
  // Creates from kClients threads until `stop` or a transport error; records every 201.
  void run_clients(const std::string& prefix, std::atomic<bool>& stop, int per_client) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t)
      threads.emplace_back([&, t] {
        TlsClient client = admin();
        for (int i = 0; i < per_client && !stop; ++i) {
          std::string name = prefix + std::to_string(t) + "-" + std::to_string(i);
          auto r = client.post(kServices, node_port_service(name));
          if (r.status == 0) return;  // the server is gone
          if (r.status != 201) {
            ADD_FAILURE() << name << ": " << r.status << " " << r.body;
            return;
          }
          auto obj = r.json();
          const auto& spec = obj.at("spec");
          std::lock_guard lock(mu_);
          acked_[name] = {std::string(spec.at("clusterIP").as_string()),
                          spec.at("ports").at(0).at("nodePort").as_int64()};
        }
      });
    for (auto& th : threads) th.join();
  }

  // Every acknowledged create is stored as acknowledged; no IP or port is held twice.
  size_t check_consistent() {
    auto r = admin().get(kServices);
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    if (r.status != 200) return 0;
    std::map<std::string, Acked> stored;
    std::set<std::string> ips;
    std::set<int64_t> ports;
    json::value list = r.json();
    for (const auto& item : list.at("items").as_array()) {
      std::string name(item.at("metadata").at("name").as_string());
      const auto& spec = item.at("spec");
      if (name == "kubernetes") {  // the server's own ClusterIP Service: its address counts, no port
        EXPECT_TRUE(ips.insert(std::string(spec.at("clusterIP").as_string())).second);
        continue;
      }
      Acked a{std::string(spec.at("clusterIP").as_string()),
              spec.at("ports").at(0).at("nodePort").as_int64()};
      EXPECT_TRUE(ips.insert(a.ip).second) << "clusterIP " << a.ip << " held twice (" << name << ")";
      EXPECT_TRUE(ports.insert(a.node_port).second)
          << "nodePort " << a.node_port << " held twice (" << name << ")";
      stored[name] = a;
    }
    std::lock_guard lock(mu_);
    for (const auto& [name, a] : acked_) {
      auto it = stored.find(name);
      if (it == stored.end()) {
        ADD_FAILURE() << name << " was acknowledged but is gone";
        continue;
      }
      EXPECT_EQ(it->second.ip, a.ip) << name;
      EXPECT_EQ(it->second.node_port, a.node_port) << name;
    }
    return stored.size();
  }

  // A client with the admin's certificate, for the server as last started.
  TlsClient admin() const {
    return TlsClient(server_.port(), server_.ca(), KeyPair{server_.admin_cert(), server_.admin_key()});
  }

  podnet::testing::TempDir dir_{"podnet-crash"};
  podnet::testing::ServerProcess server_{dir_.path()};
  std::mutex mu_;
  std::map<std::string, Acked> acked_;
};

TEST_F(CrashTest, AcknowledgedServicesSurviveKill9WithoutDuplicateAllocations) {
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(server_.start()) << server_.log();
    size_t before = check_consistent();
    std::atomic<bool> stop{false};
    std::thread writers([&] { run_clients("r" + std::to_string(round) + "-", stop, 1000); });
    // Let writes flow, then kill while they are in flight.
    for (int i = 0; i < 400; ++i) {
      std::this_thread::sleep_for(10ms);
      std::lock_guard lock(mu_);
      if (acked_.size() >= before + 60) break;
    }
    server_.kill9();
    stop = true;
    writers.join();
    ASSERT_TRUE(server_.start()) << server_.log();
    size_t after = check_consistent();
    EXPECT_GE(after, acked_.size());
    server_.kill9();
  }

  // After the crashes, more creates get fresh values.
  ASSERT_TRUE(server_.start()) << server_.log();
  std::atomic<bool> never{false};
  size_t acked_before = acked_.size();
  run_clients("after-", never, 10);
  EXPECT_EQ(acked_.size(), acked_before + kClients * 10);
  check_consistent();
  EXPECT_EQ(server_.stop(), 0) << server_.log();
}

}  // namespace
}  // namespace podnet::apiserver::testing
