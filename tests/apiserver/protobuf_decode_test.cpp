// The protobuf request decoder on hand-encoded messages: envelope, metadata maps, service ports,
// omitted zero values, unsupported kinds and truncated input.
#include "apiserver/protobuf_decode.h"

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

}  // namespace
}  // namespace podnet::apiserver
