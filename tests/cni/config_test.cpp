#include "cni/config.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cni/env.h"

namespace podnet::cni {
namespace {

const char* kBridgeConf = R"({
  "cniVersion": "1.1.0", "name": "podnet-test", "type": "podnet",
  "bridge": "pnbr0", "isDefaultGateway": true, "ipMasq": true, "mtu": 1400, "hairpinMode": true,
  "someFutureKey": {"nested": 1},
  "ipam": {"type": "podnet", "dataDir": "/tmp/x",
           "ranges": [[{"subnet": "10.22.0.0/16", "rangeStart": "10.22.0.10", "rangeEnd": "10.22.0.20"}],
                      [{"subnet": "fd00:22::/64"}]],
           "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.22.0.1"}]},
  "dns": {"nameservers": ["10.96.0.10"]},
  "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "TCP"},
                                     {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "10.0.0.1"}],
                    "ips": ["10.22.0.15/16"]},
  "args": {"cni": {"ips": ["fd00:22::5"]}}
})";

TEST(NetConf, ParsesBridgeKeysIpamAndCapabilities) {
  auto c = parse_netconf(kBridgeConf);
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->name, "podnet-test");
  EXPECT_EQ(c->bridge, "pnbr0");
  EXPECT_TRUE(c->is_gateway) << "isDefaultGateway implies isGateway";
  EXPECT_TRUE(c->is_default_gateway);
  EXPECT_TRUE(c->ip_masq);
  EXPECT_TRUE(c->hairpin_mode);
  EXPECT_EQ(c->mtu, 1400u);
  EXPECT_EQ(c->ipam_type, "podnet");
  EXPECT_EQ(c->ipam.network, "podnet-test");
  EXPECT_EQ(c->ipam.data_dir, "/tmp/x");
  ASSERT_EQ(c->ipam.ranges.size(), 2u);
  EXPECT_EQ(c->ipam.ranges[0][0].subnet.str(), "10.22.0.0/16");
  EXPECT_EQ(c->ipam.ranges[0][0].first().to_string(), "10.22.0.10");
  EXPECT_EQ(c->ipam.ranges[0][0].last().to_string(), "10.22.0.20");
  EXPECT_EQ(c->ipam.ranges[1][0].gateway->to_string(), "fd00:22::1");
  ASSERT_EQ(c->ipam.routes.size(), 2u);
  EXPECT_FALSE(c->ipam.routes[0].gw);
  EXPECT_EQ(c->ipam.routes[1].gw->to_string(), "10.22.0.1");
  ASSERT_EQ(c->port_mappings.size(), 2u);
  EXPECT_EQ(c->port_mappings[0].protocol, "tcp");
  EXPECT_EQ(c->port_mappings[1].host_ip->to_string(), "10.0.0.1");
  ASSERT_EQ(c->requested_ips.size(), 2u);
  EXPECT_EQ(c->requested_ips[0].to_string(), "10.22.0.15");
  EXPECT_EQ(c->requested_ips[1].to_string(), "fd00:22::5");
  EXPECT_TRUE(c->dns.is_object());
}

TEST(NetConf, MacSpoofCheckIsABooleanOffByDefault) {
  auto on = parse_netconf(R"({"cniVersion":"1.1.0","name":"n","type":"podnet","macspoofchk":true})");
  ASSERT_TRUE(on) << on.error().msg;
  EXPECT_TRUE(on->macspoofchk);
  auto off = parse_netconf(R"({"cniVersion":"1.1.0","name":"n","type":"podnet"})");
  ASSERT_TRUE(off) << off.error().msg;
  EXPECT_FALSE(off->macspoofchk);
  auto bad = parse_netconf(R"({"cniVersion":"1.1.0","name":"n","macspoofchk":"yes"})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, kInvalidConfig);
  EXPECT_NE(bad.error().msg.find("macspoofchk"), std::string::npos) << bad.error().msg;
}

TEST(NetConf, FastPathNamesTheBpfDirOffByDefault) {
  auto on = parse_netconf(
      R"({"cniVersion":"1.1.0","name":"n","type":"podnet","fastPath":{"bpfDir":"/sys/fs/bpf/podnet"}})");
  ASSERT_TRUE(on) << on.error().msg;
  EXPECT_EQ(on->fastpath_bpf_dir, "/sys/fs/bpf/podnet");
  auto off = parse_netconf(R"({"cniVersion":"1.1.0","name":"n","type":"podnet"})");
  ASSERT_TRUE(off) << off.error().msg;
  EXPECT_TRUE(off->fastpath_bpf_dir.empty());
  auto null = parse_netconf(R"({"cniVersion":"1.1.0","name":"n","type":"podnet","fastPath":null})");
  ASSERT_TRUE(null) << null.error().msg;
  EXPECT_TRUE(null->fastpath_bpf_dir.empty());
}

TEST(NetConf, HostLocalLegacySubnetForm) {
  auto c = parse_netconf(R"({"cniVersion":"0.4.0","name":"n","type":"podnet",
    "ipam":{"type":"podnet","subnet":"10.9.0.0/24","gateway":"10.9.0.254"}})");
  ASSERT_TRUE(c) << c.error().msg;
  ASSERT_EQ(c->ipam.ranges.size(), 1u);
  EXPECT_EQ(c->ipam.ranges[0][0].gateway->to_string(), "10.9.0.254");
  EXPECT_EQ(c->bridge, "cni0") << "the reference plugin's default bridge";
}

TEST(NetConf, DelegatedIpamKeepsRawConfig) {
  auto c = parse_netconf(
      R"({"cniVersion":"1.0.0","name":"n","type":"podnet","ipam":{"type":"host-local","ranges":"whatever"}})");
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->ipam_type, "host-local");
  EXPECT_NE(c->raw.find("whatever"), std::string::npos);
}

TEST(NetConf, GcAttachmentsBothKeys) {
  auto c = parse_netconf(R"({"cniVersion":"1.1.0","name":"n","type":"podnet",
    "cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],
    "cni.dev/attachments":[{"containerID":"b","ifname":"eth1"}]})");
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->valid_attachments.size(), 2u);
  EXPECT_TRUE(c->valid_attachments.contains({"a", "eth0"}));
}

struct BadConf {
  const char* name;
  const char* json;
  uint32_t code;
  const char* must_mention;
};

class NetConfErrors : public ::testing::TestWithParam<BadConf> {};

TEST_P(NetConfErrors, GivesCodeAndNamesTheProblem) {
  auto c = parse_netconf(GetParam().json);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, GetParam().code) << c.error().msg;
  EXPECT_NE((c.error().msg + " " + c.error().details).find(GetParam().must_mention), std::string::npos)
      << c.error().msg << " / " << c.error().details;
}

INSTANTIATE_TEST_SUITE_P(
    Table, NetConfErrors,
    ::testing::Values(
        BadConf{"malformed", R"({"cniVersion": "1.1.0", )", kDecodeFailure, "parsing"},
        BadConf{"not_object", R"([1,2])", kDecodeFailure, "object"},
        BadConf{"unknown_version", R"({"cniVersion":"9.9.9","name":"n"})", kIncompatibleVersion, "9.9.9"},
        BadConf{"missing_version", R"({"name":"n"})", kIncompatibleVersion, "config is"},
        BadConf{"missing_name", R"({"cniVersion":"1.1.0"})", kInvalidConfig, "name"},
        BadConf{
            "bad_cidr",
            R"({"cniVersion":"1.1.0","name":"n","ipam":{"type":"podnet","ranges":[[{"subnet":"10.0.0.0/33"}]]}})",
            kInvalidConfig, "subnet"},
        BadConf{
            "start_outside",
            R"({"cniVersion":"1.1.0","name":"n","ipam":{"type":"podnet","ranges":[[{"subnet":"10.0.0.0/24","rangeStart":"10.1.0.1"}]]}})",
            kInvalidConfig, "rangeStart"},
        BadConf{"no_ranges", R"({"cniVersion":"1.1.0","name":"n","ipam":{"type":"podnet"}})", kInvalidConfig,
                "ranges"},
        BadConf{"mtu_type", R"({"cniVersion":"1.1.0","name":"n","mtu":"big"})", kInvalidConfig, "mtu"},
        BadConf{"mtu_small", R"({"cniVersion":"1.1.0","name":"n","mtu":10})", kInvalidConfig, "mtu"},
        BadConf{"bool_type", R"({"cniVersion":"1.1.0","name":"n","isGateway":"yes"})", kInvalidConfig,
                "isGateway"},
        BadConf{"long_bridge", R"({"cniVersion":"1.1.0","name":"n","bridge":"abcdefghijklmnopq"})",
                kInvalidConfig, "bridge"},
        BadConf{"vlan", R"({"cniVersion":"1.1.0","name":"n","vlan":5})", kUnsupportedField, "vlan"},
        BadConf{
            "port_range",
            R"({"cniVersion":"1.1.0","name":"n","runtimeConfig":{"portMappings":[{"hostPort":70000,"containerPort":80}]}})",
            kInvalidConfig, "hostPort"},
        BadConf{
            "port_proto",
            R"({"cniVersion":"1.1.0","name":"n","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"protocol":"icmp"}]}})",
            kInvalidConfig, "icmp"},
        BadConf{"bad_ip_request",
                R"({"cniVersion":"1.1.0","name":"n","runtimeConfig":{"ips":["10.0.0.300"]}})", kInvalidConfig,
                "10.0.0.300"},
        BadConf{"fastpath_type", R"({"cniVersion":"1.1.0","name":"n","fastPath":"/sys/fs/bpf/podnet"})",
                kInvalidConfig, "fastPath must be an object"},
        BadConf{"fastpath_no_dir", R"({"cniVersion":"1.1.0","name":"n","fastPath":{}})", kInvalidConfig,
                "fastPath.bpfDir"},
        BadConf{"fastpath_dir_type", R"({"cniVersion":"1.1.0","name":"n","fastPath":{"bpfDir":1}})",
                kInvalidConfig, "fastPath.bpfDir"},
        BadConf{"fastpath_relative",
                R"({"cniVersion":"1.1.0","name":"n","fastPath":{"bpfDir":"bpf/podnet"}})", kInvalidConfig,
                "absolute"},
        BadConf{"ipam_path", R"({"cniVersion":"1.1.0","name":"n","ipam":{"type":"../../bin/sh"}})",
                kInvalidConfig, "ipam.type"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Env, NamesEveryMissingVariable) {
  auto e = parse_env({{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "x"}});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, kInvalidEnvironment);
  EXPECT_EQ(e.error().msg, "required env variables [CNI_NETNS,CNI_IFNAME,CNI_PATH] missing");
}

TEST(Env, DelNeedsNoNetns) {
  auto e = parse_env({{"CNI_COMMAND", "DEL"},
                      {"CNI_CONTAINERID", "x"},
                      {"CNI_IFNAME", "eth0"},
                      {"CNI_PATH", "/opt/cni/bin"}});
  ASSERT_TRUE(e) << e.error().msg;
  EXPECT_EQ(e->command, Command::kDel);
}

TEST(Env, RejectsUnknownCommandAndBadIfname) {
  EXPECT_EQ(parse_env({{"CNI_COMMAND", "FROB"}}).error().code, kInvalidEnvironment);
  EXPECT_EQ(parse_env({}).error().code, kInvalidEnvironment);
  auto e = parse_env({{"CNI_COMMAND", "ADD"},
                      {"CNI_CONTAINERID", "x"},
                      {"CNI_NETNS", "/n"},
                      {"CNI_IFNAME", "a/b"},
                      {"CNI_PATH", "/p"}});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().msg.find("a/b"), std::string::npos);
}

TEST(CniArgs, RequestedIpsFromIpKey) {
  auto c = parse_netconf(R"({"cniVersion":"1.1.0","name":"n"})");
  ASSERT_TRUE(c);
  ASSERT_TRUE(apply_cni_args(*c, "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.1.0.7,fd00::7"));
  ASSERT_EQ(c->requested_ips.size(), 2u);
  EXPECT_EQ(c->requested_ips[1].to_string(), "fd00::7");
  EXPECT_EQ(apply_cni_args(*c, "IP=nope").error().code, kInvalidEnvironment);
  EXPECT_EQ(apply_cni_args(*c, "novalue").error().code, kInvalidEnvironment);
}

}  // namespace
}  // namespace podnet::cni
