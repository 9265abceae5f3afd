// The admission rules for Events on their own: which events a node may write (NodeRestriction:
// about itself or its pods, in their namespace) and EventRateLimit's buckets (per namespace, user,
// source and object, server), their refusal (429 with a retry time) and the flag syntax.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "apiserver/auth/event_rate_limit.h"
#include "apiserver/auth/node_restriction.h"
#include "apiserver/http/http_types.h"

namespace podnet::apiserver {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const Identity kNode1{true, "system:node:node1", {"system:nodes"}};
const Identity kNode2{true, "system:node:node2", {"system:nodes"}};
const Identity kAdmin{true, "podnet-admin", {"system:masters"}};
const ResourceType kEvents{"", "v1", "Event", "events", "event", true};

json::object event(const std::string& kind, const std::string& ns, const std::string& name,
                   const std::string& uid = "") {
  json::object involved{{"kind", kind}, {"name", name}};
  if (!ns.empty()) involved["namespace"] = ns;
  if (!uid.empty()) involved["uid"] = uid;
  return {{"metadata", {{"name", name + ".1"}}},
          {"involvedObject", std::move(involved)},
          {"reason", "Started"},
          {"source", {{"component", "kubelet"}}}};
}

class NodeEvents : public ::testing::Test {
 protected:
  NodeEvents() {
    NodeRestrictionOptions o;
    o.pod_binding = [](const std::string& ns, const std::string& name) -> std::optional<PodBinding> {
      if (ns == "shop" && name == "web") return PodBinding{"node1", "u-web"};
      if (ns == "shop" && name == "db") return PodBinding{"node2", "u-db"};
      if (ns == "shop" && name == "pending") return PodBinding{"", "u-p"};
      return std::nullopt;
    };
    restriction_ = std::make_unique<NodeRestriction>(o);
  }
  // "" when admitted, else the refusal's message.
  std::string verdict(const Identity& who, const std::string& ns, const json::object& obj,
                      const json::object* old = nullptr) {
    AdmissionRequest req{
        who, old ? AdmissionOperation::kUpdate : AdmissionOperation::kCreate, kEvents, "", ns, "e", old, obj};
    auto v = restriction_->admit(req);
    if (v) return "";
    EXPECT_EQ(v.error().code, 403);
    return v.error().message;
  }
  std::unique_ptr<NodeRestriction> restriction_;
};

TEST_F(NodeEvents, AboutItselfOrItsOwnPodsInTheirNamespace) {
  EXPECT_EQ(verdict(kNode1, "shop", event("Pod", "shop", "web", "u-web")), "");
  EXPECT_EQ(verdict(kNode1, "shop", event("Pod", "shop", "web")), "");  // kubelet may leave out the uid
  EXPECT_EQ(verdict(kNode1, "default", event("Node", "", "node1", "node1")), "");

  EXPECT_EQ(verdict(kNode1, "shop", event("Pod", "shop", "db")),
            "events \"e\" is forbidden: node \"node1\" can only create events about pods bound to it; pod "
            "\"shop/db\" is not");
  EXPECT_NE(verdict(kNode1, "shop", event("Pod", "shop", "pending")), "");
  EXPECT_NE(verdict(kNode1, "shop", event("Pod", "shop", "gone")).find("does not exist"), std::string::npos);
  EXPECT_NE(verdict(kNode1, "shop", event("Pod", "shop", "web", "u-other")),
            "");                                                           // a pod of that name before
  EXPECT_NE(verdict(kNode1, "default", event("Pod", "shop", "web")), "");  // not the pod's namespace
  EXPECT_NE(verdict(kNode1, "default", event("Pod", "default", "web")), "");
  EXPECT_NE(verdict(kNode1, "default", event("Node", "", "node2")), "");
  EXPECT_NE(verdict(kNode1, "shop", event("Node", "", "node1")), "");  // node events live in default
  EXPECT_NE(verdict(kNode1, "default", event("Service", "default", "kubernetes")), "");
  EXPECT_NE(verdict(kNode1, "default", json::object{{"metadata", {{"name", "x"}}}}), "");
  EXPECT_EQ(verdict(kNode2, "shop", event("Pod", "shop", "db")), "");
  // Nothing changes for anyone else.
  EXPECT_EQ(verdict(kAdmin, "default", event("Pod", "shop", "db")), "");

  // An update is judged on the event as it was, too: node1 cannot take over node2's event.
  json::object theirs = event("Pod", "shop", "db");
  EXPECT_NE(verdict(kNode1, "shop", event("Pod", "shop", "web"), &theirs), "");
  json::object mine = event("Pod", "shop", "web");
  EXPECT_EQ(verdict(kNode1, "shop", event("Pod", "shop", "web"), &mine), "");
}

class RateLimit : public ::testing::Test {
 protected:
  ApiResult<void> write(const EventRateLimitAdmission& plugin, const Identity& who, const std::string& ns,
                        const json::object& obj) {
    AdmissionRequest req{who, AdmissionOperation::kCreate, kEvents, "", ns, "e", nullptr, obj};
    return plugin.admit(req);
  }
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point{} + 1h;
  EventRateLimitAdmission::Clock clock() {
    return [this] { return now_; };
  }
};

TEST_F(RateLimit, PerUserAndPerNamespaceWith429AndRetryAfter) {
  EventRateLimitAdmission plugin(*parse_event_rate_limits("Namespace=1/4,User=0.5/2"), clock());
  auto ev = event("Pod", "a", "web");
  EXPECT_TRUE(write(plugin, kNode1, "a", ev));
  EXPECT_TRUE(write(plugin, kNode1, "a", ev));
  auto third = write(plugin, kNode1, "a", ev);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, 429);
  EXPECT_EQ(third.error().reason, "TooManyRequests");
  EXPECT_EQ(third.error().message, "Too many requests: limit reached on type User for key system:node:node1");
  EXPECT_EQ(third.error().retry_after_seconds, 2);  // a token every 2 s
  // Another user writes in the same namespace until the namespace's four are taken (the refused
  // third write took one: every limit takes a token, as kube's do).
  EXPECT_TRUE(write(plugin, kNode2, "a", ev));
  auto ns_only = write(plugin, kNode2, "a", ev);
  ASSERT_FALSE(ns_only);
  EXPECT_EQ(ns_only.error().message, "Too many requests: limit reached on type Namespace for key a");
  auto over = write(plugin, kNode2, "a", ev);
  ASSERT_FALSE(over);
  EXPECT_EQ(
      over.error().message,
      "Too many requests: [limit reached on type Namespace for key a, limit reached on type User for key "
      "system:node:node2]");
  // Another namespace has its own bucket; time refills them.
  EXPECT_FALSE(write(plugin, kNode2, "b", ev));  // node2's user bucket is still empty
  now_ += 2s;
  EXPECT_TRUE(write(plugin, kNode2, "b", ev));
  // Other kinds are not this plugin's business.
  ResourceType pods{"", "v1", "Pod", "pods", "pod", true};
  AdmissionRequest req{kNode2, AdmissionOperation::kCreate, pods, "", "a", "p", nullptr, ev};
  EXPECT_TRUE(plugin.admit(req));
}

TEST_F(RateLimit, SourceAndObjectAndServer) {
  EventRateLimitAdmission plugin(*parse_event_rate_limits("SourceAndObject=1/2,Server=1/3"), clock());
  EXPECT_TRUE(write(plugin, kAdmin, "a", event("Pod", "a", "web")));
  EXPECT_TRUE(write(plugin, kAdmin, "a", event("Pod", "a", "web")));
  auto r = write(plugin, kAdmin, "a", event("Pod", "a", "web"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "Too many requests: limit reached on type SourceAndObject");
  // Another object has its own bucket, but the server's is empty now (three taken).
  auto server = write(plugin, kAdmin, "a", event("Pod", "a", "db"));
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().message, "Too many requests: limit reached on type Server");
}

TEST(EventRateLimitFlag, Syntax) {
  auto d = parse_event_rate_limits("Namespace=50/500,User=10/50:100");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[1].type, EventRateLimit::Type::kUser);
  EXPECT_EQ((*d)[1].qps, 10);
  EXPECT_EQ((*d)[1].burst, 50);
  EXPECT_EQ((*d)[1].cache_size, 100u);
  EXPECT_TRUE(parse_event_rate_limits("none")->empty());
  EXPECT_TRUE(parse_event_rate_limits("")->empty());
  for (const char* bad : {"Namespace", "Namespace=1", "Pod=1/2", "User=0/5", "User=1/0", "User=x/1",
                          "User=1/1,User=2/2", "User=1/1:0", "User=-1/3", "User=1/2,", "User=nan/2"})
    EXPECT_FALSE(parse_event_rate_limits(bad)) << bad;
}

}  // namespace
}  // namespace podnet::apiserver
