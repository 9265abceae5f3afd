// The protobuf request decoder on hand-encoded messages: envelope, metadata maps, service ports,
// omitted zero values, unsupported kinds and truncated input.
#include "apiserver/endpoints/protobuf_decode.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "hand_encoded.h"

namespace podnet::apiserver {
namespace {

namespace json = boost::json;
using hand_encoded::bytes;
using hand_encoded::number;

std::string envelope(const std::string& kind, const std::string& raw) {
  return std::string("k8s\0", 4) + bytes(1, bytes(1, "v1") + bytes(2, kind)) + bytes(2, raw);
}

TEST(ProtobufDecode, ServiceWithPortsSelectorAndLabels) {
  std::string meta = bytes(1, "web") + bytes(2, "") + bytes(11, bytes(1, "app") + bytes(2, "web"));
  std::string port = bytes(1, "http") + bytes(2, "TCP") + number(3, 80) +
                     bytes(4, number(1, 1) + bytes(3, "named")) + number(5, 0);
  std::string spec = bytes(1, port) + bytes(2, bytes(1, "app") + bytes(2, "web")) + bytes(4, "ClusterIP") +
                     bytes(7, "") + number(99, 7);  // an unknown field is skipped
  auto obj = decode_protobuf_object(envelope("Service", bytes(1, meta) + bytes(2, spec)));
  ASSERT_TRUE(obj) << obj.error().message;
  EXPECT_EQ(*obj, json::parse(R"({"apiVersion":"v1","kind":"Service",
      "metadata":{"name":"web","labels":{"app":"web"}},
      "spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":"named"}],
              "selector":{"app":"web"},"type":"ClusterIP"}})"));
}

TEST(ProtobufDecode, NamespaceAndErrors) {
  auto ns = decode_protobuf_object(envelope("Namespace", bytes(1, bytes(1, "team-a"))));
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->at("metadata").at("name"), "team-a");

  auto pod = decode_protobuf_object(envelope("Pod", bytes(1, bytes(1, "p"))));
  ASSERT_FALSE(pod);
  EXPECT_EQ(pod.error().code, 415);

  std::string truncated = envelope("Namespace", bytes(1, bytes(1, "team-a")));
  truncated.pop_back();
  EXPECT_EQ(decode_protobuf_object(truncated).error().code, 400);
  EXPECT_EQ(decode_protobuf_object("not protobuf").error().code, 400);
}

TEST(ProtobufDecode, AccessReviewsAsKubectlSendsThem) {
  auto typed = [](const std::string& api_version, const std::string& kind, const std::string& raw) {
    return std::string("k8s\0", 4) + bytes(1, bytes(1, api_version) + bytes(2, kind)) + bytes(2, raw);
  };
  // Go writes every string, empty or not; an empty message that is present still counts.
  std::string attrs = bytes(1, "default") + bytes(2, "patch") + bytes(3, "") + bytes(4, "") +
                      bytes(5, "pods") + bytes(6, "status") + bytes(7, "web");
  auto self = decode_protobuf_object(typed("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                                           bytes(1, "") + bytes(2, bytes(1, attrs)) + bytes(3, "")));
  ASSERT_TRUE(self) << self.error().message;
  EXPECT_EQ(*self, json::parse(R"({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview",
      "metadata":{},"spec":{"resourceAttributes":{"namespace":"default","verb":"patch","resource":"pods",
      "subresource":"status","name":"web"}}})"));
  auto path = decode_protobuf_object(typed("authorization.k8s.io/v1", "SubjectAccessReview",
                                           bytes(2, bytes(2, bytes(1, "/metrics") + bytes(2, "get")) +
                                                        bytes(3, "alice") + bytes(4, "a") + bytes(4, "b"))));
  ASSERT_TRUE(path) << path.error().message;
  EXPECT_EQ(path->at("spec"), json::parse(R"({"nonResourceAttributes":{"path":"/metrics","verb":"get"},
      "user":"alice","groups":["a","b"]})"));
  auto empty = decode_protobuf_object(
      typed("authorization.k8s.io/v1", "SelfSubjectAccessReview", bytes(2, bytes(1, ""))));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->at("spec"), json::parse(R"({"resourceAttributes":{}})"));
  auto rules = decode_protobuf_object(
      typed("authorization.k8s.io/v1", "SelfSubjectRulesReview", bytes(2, bytes(1, "ns"))));
  ASSERT_TRUE(rules);
  EXPECT_EQ(rules->at("spec"), json::parse(R"({"namespace":"ns"})"));
  auto whoami = decode_protobuf_object(typed("authentication.k8s.io/v1", "SelfSubjectReview", bytes(1, "")));
  ASSERT_TRUE(whoami);
  EXPECT_FALSE(whoami->as_object().contains("spec"));
  EXPECT_EQ(
      decode_protobuf_object(typed("authorization.k8s.io/v1", "LocalSubjectAccessReview", "")).error().code,
      415);
}

}  // namespace
}  // namespace podnet::apiserver
