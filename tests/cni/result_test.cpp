#include "cni/result.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cni/errors.h"
#include "cni/version.h"

namespace podnet::cni {
namespace {

NetResult sample() {
  NetResult r;
  r.interfaces = {{"cni0", "aa:bb:cc:dd:ee:01", "", 0},
                  {"veth1234", "aa:bb:cc:dd:ee:02", "", 0},
                  {"eth0", "aa:bb:cc:dd:ee:03", "/var/run/netns/p", 1500}};
  r.ips = {{*parse_prefix("10.1.0.5/24"), *parse_ip("10.1.0.1"), 2},
           {*parse_prefix("fd00::5/64"), *parse_ip("fd00::1"), 2}};
  r.routes = {{*parse_prefix("0.0.0.0/0"), *parse_ip("10.1.0.1")}};
  return r;
}

TEST(Result, EncodesV1) {
  auto v = boost::json::parse(encode_result(sample(), "1.1.0")).as_object();
  EXPECT_EQ(v["cniVersion"], "1.1.0");
  auto ips = v["ips"].as_array();
  ASSERT_EQ(ips.size(), 2u);
  EXPECT_EQ(ips[0].as_object().at("address"), "10.1.0.5/24");
  EXPECT_EQ(ips[0].as_object().at("gateway"), "10.1.0.1");
  EXPECT_EQ(ips[0].as_object().at("interface"), 2);
  EXPECT_FALSE(ips[0].as_object().contains("version")) << "1.x results have no ips[].version";
  EXPECT_EQ(v["interfaces"].as_array()[2].as_object().at("sandbox"), "/var/run/netns/p");
  EXPECT_EQ(v["interfaces"].as_array()[2].as_object().at("mtu"), 1500) << "mtu is a 1.1.0 field";
  EXPECT_EQ(v["routes"].as_array()[0].as_object().at("dst"), "0.0.0.0/0");
}

TEST(Result, EncodesLegacyWithIpVersion) {
  auto v = boost::json::parse(encode_result(sample(), "0.4.0")).as_object();
  auto ips = v["ips"].as_array();
  EXPECT_EQ(ips[0].as_object().at("version"), "4");
  EXPECT_EQ(ips[1].as_object().at("version"), "6");
  EXPECT_FALSE(v["interfaces"].as_array()[2].as_object().contains("mtu"));
  auto v1 = boost::json::parse(encode_result(sample(), "1.0.0")).as_object();
  EXPECT_FALSE(v1["interfaces"].as_array()[2].as_object().contains("mtu"));
}

TEST(Result, RoundTrips) {
  auto d = decode_result(boost::json::parse(encode_result(sample(), "0.4.0")));
  ASSERT_TRUE(d) << d.error().msg;
  ASSERT_EQ(d->ips.size(), 2u);
  EXPECT_EQ(d->ips[1].address.str(), "fd00::5/64");
  EXPECT_EQ(*d->ips[0].interface, 2);
  EXPECT_EQ(d->interfaces[2].sandbox, "/var/run/netns/p");
  EXPECT_EQ(d->routes, sample().routes);
}

TEST(Result, DecodeRejectsGarbage) {
  EXPECT_EQ(decode_result(boost::json::parse(R"({"ips":[{"address":"nope"}]})")).error().code,
            kDecodeFailure);
  EXPECT_EQ(decode_result(boost::json::parse("3")).error().code, kDecodeFailure);
}

TEST(ErrorJson, HasSpecFields) {
  auto v = boost::json::parse(encode_error({kInvalidConfig, "bad", "why"}, "1.0.0")).as_object();
  EXPECT_EQ(v["code"], 7);
  EXPECT_EQ(v["msg"], "bad");
  EXPECT_EQ(v["details"], "why");
  EXPECT_EQ(v["cniVersion"], "1.0.0");
}

TEST(Version, InfoAndOrdering) {
  auto v = boost::json::parse(version_info_json()).as_object();
  EXPECT_EQ(v["cniVersion"], "1.1.0");
  EXPECT_EQ(v["supportedVersions"].as_array().size(), 5u);
  EXPECT_LT(compare_versions("0.3.1", "0.4.0"), 0);
  EXPECT_LT(compare_versions("0.4.0", "1.0.0"), 0);
  EXPECT_EQ(compare_versions("1.1.0", "1.1.0"), 0);
  EXPECT_FALSE(is_supported_version("0.2.0"));
}

}  // namespace
}  // namespace podnet::cni
