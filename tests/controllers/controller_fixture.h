// Controllers against the API server's request chain on a throw-away SQLite store, in-process (no
// HTTPS, no root): the controllers' in-process client (controller identity), caches for nodes,
// pods, services and endpointslices, a settable clock, and helpers to write objects the way
// kubectl and the agent would (as the admin, through the same chain).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "apiserver/auth/authorizer.h"
#include "apiserver/http/metrics.h"
#include "apiserver/in_process_client.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"
#include "apiserver/request_chain.h"
#include "controllers/controller.h"
#include "controllers/events.h"
#include "controllers/objects.h"
#include "storage/sqlite_store.h"
#include "support/temp_dir.h"

namespace podnet::controllers::testing {

namespace json = boost::json;
using namespace std::chrono_literals;
using k8s::ApiError;
using k8s::ApiResult;

// Polls `done` for up to 10 s: controllers act on their own threads.
inline bool eventually(const std::function<bool()>& done) {
  for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// The collection paths of the caches, as the ControllerManager makes them.
inline constexpr const char* kNodesPath = "/api/v1/nodes";
inline constexpr const char* kPodsPath = "/api/v1/pods";
inline constexpr const char* kServicesPath = "/api/v1/services";
inline constexpr const char* kSlicesPath = "/apis/discovery.k8s.io/v1/endpointslices";

// Forwards to a real client, but the next `conflicts` writes fail with 409 Conflict, as when another
// writer got there first: controllers must re-read and retry.
class ConflictingClient final : public k8s::ApiClient {
 public:
  explicit ConflictingClient(k8s::ApiClient& real) : real_(real) {}
  std::atomic<int> conflicts{0};
  std::atomic<int> writes_refused{0};

  Result<json::value> get(const std::string& path) override { return real_.get(path); }
  Result<k8s::ListPage> list(const std::string& path, size_t limit, const std::string& token) override {
    return real_.list(path, limit, token);
  }
  Result<std::unique_ptr<k8s::WatchStream>> watch(const std::string& path, const std::string& rv) override {
    return real_.watch(path, rv);
  }
  Result<json::value> create(const std::string& path, const json::value& o) override {
    if (refuse()) return conflict();
    return real_.create(path, o);
  }
  Result<json::value> update(const std::string& path, const json::value& o) override {
    if (refuse()) return conflict();
    return real_.update(path, o);
  }
  Result<json::value> patch(const std::string& path, k8s::PatchType type, const json::value& p) override {
    if (refuse()) return conflict();
    return real_.patch(path, type, p);
  }
  Status remove(const std::string& path) override { return real_.remove(path); }
  Status remove(const std::string& path, const json::value& options) override {
    return real_.remove(path, options);
  }

 private:
  bool refuse() {
    if (conflicts.fetch_sub(1) <= 0) {
      conflicts.fetch_add(1);
      return false;
    }
    ++writes_refused;
    return true;
  }
  static std::unexpected<Error> conflict() {
    return std::unexpected(Error{k8s::kConflict, "HTTP 409: the object has been modified"});
  }
  k8s::ApiClient& real_;
};

struct ObjectList {
  std::vector<ObjectPtr> items;
};

// What the tests write and read as kubectl would: requests of the cluster admin through the same
// request chain, one resource type, answers with their HTTP code (ApiError).
class TestObjects {
 public:
  TestObjects(apiserver::InProcessClient& admin, apiserver::ResourceType type)
      : admin_(admin), type_(std::move(type)) {}
  const apiserver::ResourceType& type() const { return type_; }

  ApiResult<json::value> get(const std::string& ns, const std::string& name) {
    return call(apiserver::http::verb::get, path(ns, name));
  }
  ApiResult<ObjectList> list() {
    auto all = call(apiserver::http::verb::get, path("", ""));
    if (!all) return std::unexpected(all.error());
    ObjectList out;
    for (const auto& item : all->as_object().at("items").as_array())
      out.items.push_back(std::make_shared<json::value>(item));
    return out;
  }
  ApiResult<json::value> create(const std::string& ns, json::value object) {
    return call(apiserver::http::verb::post, path(ns, ""), json::serialize(object));
  }
  ApiResult<json::value> update(const std::string& ns, const std::string& name, json::value object) {
    return call(apiserver::http::verb::put, path(ns, name), json::serialize(object));
  }
  ApiResult<json::value> update_status(const std::string& ns, const std::string& name, json::value object) {
    return call(apiserver::http::verb::put, path(ns, name) + "/status", json::serialize(object));
  }
  ApiResult<json::value> remove(const std::string& ns, const std::string& name) {
    return call(apiserver::http::verb::delete_, path(ns, name));
  }
  // pods/binding, as the scheduler binds.
  ApiResult<json::value> bind(const std::string& ns, const std::string& name, const std::string& node,
                              const std::string&) {
    json::value binding =
        json::object{{"metadata", {{"name", name}}}, {"target", {{"kind", "Node"}, {"name", node}}}};
    return call(apiserver::http::verb::post, path(ns, name) + "/binding", json::serialize(binding));
  }

 private:
  std::string path(const std::string& ns, const std::string& name) const {
    std::string p = type_.group.empty() ? "/api/v1" : "/apis/" + type_.group + "/v1";
    if (!ns.empty()) p += "/namespaces/" + ns;
    p += "/" + type_.plural;
    if (!name.empty()) p += "/" + name;
    return p;
  }
  ApiResult<json::value> call(apiserver::http::verb method, const std::string& target,
                              std::string body = {}) {
    std::string_view content_type = body.empty() ? "" : "application/json";
    auto reply = admin_.roundtrip(method, target, std::move(body), content_type);
    json::error_code ec;
    json::value v = json::parse(reply.msg.body(), ec);
    int code = reply.msg.result_int();
    if (code >= 200 && code < 300 && !ec) return v;
    ApiError e;
    e.code = code;
    e.message = string_at(v, {"message"});
    e.reason = string_at(v, {"reason"});
    return std::unexpected(e);
  }
  apiserver::InProcessClient& admin_;
  apiserver::ResourceType type_;
};

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { open_store(); }
  void TearDown() override { stop(); }

  void open_store() {
    storage::SqliteOptions options;
    options.path = dir_.path() + "/state.db";
    options.durability = storage::Durability::kProcessCrash;
    auto store = storage::SqliteStore::open(options);
    ASSERT_TRUE(store) << store.error().str();
    store_ = std::move(*store);
    objects_ = std::make_unique<apiserver::ObjectStore>(
        *store_, [this] { return now(); }, 7);
    // Dual-stack Service ranges, as a dual-stack cluster has (a Service is single-stack unless it asks).
    apiserver::ChainOptions chain_options;
    chain_options.service_cidr = "10.96.0.0/12,fd00:10:96::/112";
    auto chain = apiserver::RequestChain::make(*objects_, registry_, metrics_, chain_options);
    ASSERT_TRUE(chain) << chain.error().message();
    chain_ = std::move(*chain);
    // The controllers' client, as `podnet server` gives it to them; the tests act as the admin.
    api_ = std::make_unique<apiserver::InProcessClient>(chain_->handler(), apiserver::controller_identity());
    admin_ = std::make_unique<apiserver::InProcessClient>(
        chain_->handler(), apiserver::Identity{true, "test-admin", {"system:masters"}}, "kubectl");
    auto type = [&](const char* group, const char* plural) { return *registry_.find(group, "v1", plural); };
    nodes_ = std::make_unique<TestObjects>(*admin_, type("", "nodes"));
    pods_ = std::make_unique<TestObjects>(*admin_, type("", "pods"));
    services_ = std::make_unique<TestObjects>(*admin_, type("", "services"));
    slices_ = std::make_unique<TestObjects>(*admin_, type("discovery.k8s.io", "endpointslices"));
    events_ = std::make_unique<TestObjects>(*admin_, type("", "events"));
    auto ns_type = type("", "namespaces");
    objects_->create(ns_type, "", json::object{{"metadata", {{"name", "default"}}}});
    node_cache_ = std::make_unique<Cache>(*api_, kNodesPath);
    pod_cache_ = std::make_unique<Cache>(*api_, kPodsPath);
    service_cache_ = std::make_unique<Cache>(*api_, kServicesPath);
    slice_cache_ = std::make_unique<Cache>(*api_, kSlicesPath);
    event_hub_ = std::make_unique<ControllerEvents>(api_.get(), [this] { return now(); });
    recorder_ = event_hub_->recorder("test");
  }

  // The stored event with this reason about the object named `about` (null when there is none).
  json::value event_about(const std::string& about, const std::string& reason) {
    auto list = events_->list();
    if (list)
      for (const auto& e : list->items)
        if (string_at(*e, {"reason"}) == reason && string_at(*e, {"involvedObject", "name"}) == about)
          return *e;
    return nullptr;
  }

  // Starts the caches, waits for their first list, then starts `controller` (made on the caches).
  void run(std::unique_ptr<Controller> controller) {
    std::vector<std::unique_ptr<Controller>> one;
    one.push_back(std::move(controller));
    run_all(std::move(one));
  }
  // Several controllers on the same caches, as the ControllerManager runs them.
  void run_all(std::vector<std::unique_ptr<Controller>> controllers) {
    controllers_ = std::move(controllers);
    for (auto* c : {node_cache_.get(), pod_cache_.get(), service_cache_.get(), slice_cache_.get()}) {
      c->start();
      ASSERT_TRUE(c->wait_synced(5s));
    }
    for (auto& c : controllers_) c->start();
  }

  // Caches first: their threads call into the controllers.
  void stop() {
    for (auto* c : {node_cache_.get(), pod_cache_.get(), service_cache_.get(), slice_cache_.get()})
      if (c) c->stop();
    controllers_.clear();
  }

  // A controller restart against the same database: new caches, new controller state.
  void restart_store() {
    stop();
    node_cache_.reset();
    pod_cache_.reset();
    service_cache_.reset();
    slice_cache_.reset();
    recorder_.reset();
    event_hub_.reset();
    nodes_.reset();
    pods_.reset();
    services_.reset();
    slices_.reset();
    events_.reset();
    admin_.reset();
    api_.reset();
    chain_.reset();
    objects_.reset();
    store_.reset();
    open_store();
  }

  // A fixed start (timestamps in objects are predictable) that moves on with real time, so that
  // retry backoffs, measured on this clock, elapse; advance() jumps it ahead (grace periods).
  std::chrono::system_clock::time_point now() const {
    return std::chrono::system_clock::time_point(1700000000s) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::steady_clock::now() -
                                                                           started_) +
           std::chrono::milliseconds(advanced_ms_.load());
  }
  void advance(std::chrono::milliseconds by) { advanced_ms_ += by.count(); }

  static json::value must(const ApiResult<json::value>& r) {
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : json::value();
  }

  static json::object node(const std::string& name, bool ready = true) {
    json::object n{{"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
                   {"spec", json::object{}}};
    if (ready) n["status"] = {{"conditions", json::array{{{"type", "Ready"}, {"status", "True"}}}}};
    return n;
  }

  static json::object pod(const std::string& name, json::object labels, json::array container_ports = {}) {
    json::object container{{"name", "c"}, {"image", "nginx"}};
    if (!container_ports.empty()) container["ports"] = std::move(container_ports);
    return json::object{{"metadata", {{"name", name}, {"labels", std::move(labels)}}},
                        {"spec", {{"containers", json::array{std::move(container)}}}}};
  }

  // What the agent reports for a started pod: phase, IPs and the Ready condition.
  void set_pod_status(const std::string& name, const std::string& ip, bool ready,
                      const std::string& node = "n1") {
    auto p = must(pods_->get("default", name));
    if (p.is_null()) return;
    if (string_at(p, {"spec", "nodeName"}).empty()) {
      p.as_object()["spec"].as_object()["nodeName"] = node;
      p = must(pods_->update("default", name, p));
    }
    json::array ips;
    if (!ip.empty()) ips.push_back(json::object{{"ip", ip}});
    p.as_object()["status"] = {
        {"phase", "Running"},
        {"podIP", ip},
        {"podIPs", std::move(ips)},
        {"conditions", json::array{{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}};
    must(pods_->update_status("default", name, p));
  }

  // Pod deletion is graceful in kube: deletionTimestamp first. The object layer has no graceful
  // delete yet, so the test stores the mark directly, as the API server's delete would.
  void mark_terminating(const std::string& name) {
    auto key = objects_->key(pods_->type(), "default", name);
    auto kv = store_->get(key);
    ASSERT_TRUE(kv);
    auto obj = json::parse(kv->value);
    obj.as_object()["metadata"].as_object()["deletionTimestamp"] = "2023-11-14T22:13:20Z";
    ASSERT_TRUE(store_->update(key, json::serialize(obj), kv->mod_revision));
  }

  std::vector<json::value> slices_of(const std::string& service) {
    auto list = slices_->list();
    std::vector<json::value> out;
    if (!list) return out;
    for (const auto& s : list->items)
      if (string_at(*s, {"metadata", "labels", "kubernetes.io/service-name"}) == service) out.push_back(*s);
    return out;
  }

  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<int64_t> advanced_ms_{0};
  podnet::testing::TempDir dir_{"pn-ctrl"};
  apiserver::ResourceRegistry registry_ = apiserver::ResourceRegistry::builtin();
  std::unique_ptr<storage::SqliteStore> store_;
  std::unique_ptr<apiserver::ObjectStore> objects_;
  apiserver::Metrics metrics_;
  std::unique_ptr<apiserver::RequestChain> chain_;
  std::unique_ptr<apiserver::InProcessClient> api_, admin_;
  std::unique_ptr<TestObjects> nodes_, pods_, services_, slices_, events_;
  std::unique_ptr<Cache> node_cache_, pod_cache_, service_cache_, slice_cache_;
  std::unique_ptr<ControllerEvents> event_hub_;
  std::optional<k8s::EventRecorder> recorder_;
  std::vector<std::unique_ptr<Controller>> controllers_;
};

}  // namespace podnet::controllers::testing
