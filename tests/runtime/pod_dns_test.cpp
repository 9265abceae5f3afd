// The pod's resolv.conf and hosts text (kubelet's dns.go and managed hosts file) and the service
// environment variables (kubelet's envvars), against kubelet's rules and the Kubernetes docs' examples.
#include "runtime/pod_dns.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "runtime/service_env.h"

namespace podnet::runtime {
namespace {

namespace json = boost::json;

PodSpec pod(const std::string& ns = "shop", const std::string& name = "web-0") {
  PodSpec p;
  p.uid = "1234";
  p.namespace_ = ns;
  p.name = name;
  return p;
}

NodeDns node() {
  return NodeDns{{"10.96.0.10"},
                 "cluster.local",
                 parse_resolv_conf("# the node's\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"
                                   "search corp.example. lab.example\noptions timeout:2 ndots:1\n")};
}

TEST(ResolvConfTest, ParsesLikeKubelet) {
  auto c = parse_resolv_conf(
      "nameserver 1.1.1.1\n  # comment\nsearch old.example\nsearch a.example. . b.example\n"
      "options ndots:2 rotate\noptions ndots:3\nnameserver\nnameserver 2001:db8::1 extra\n");
  EXPECT_EQ(c.nameservers, (std::vector<std::string>{"1.1.1.1", "2001:db8::1"}));
  EXPECT_EQ(c.searches, (std::vector<std::string>{"a.example", "b.example"}));  // the last line wins
  EXPECT_EQ(c.options, (std::vector<std::string>{"ndots:3", "rotate"}));
  EXPECT_EQ(parse_resolv_conf(""), ResolvConf{});
}

TEST(ResolvConfTest, ClusterFirst) {
  auto r = pod_resolv_conf(pod(), node());
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(format_resolv_conf(r.conf),
            "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n"
            "nameserver 10.96.0.10\n"
            "options ndots:5\n");
}

TEST(ResolvConfTest, ClusterFirstOnTheHostNetworkIsDefault) {
  auto p = pod();
  p.host_network = true;
  auto r = pod_resolv_conf(p, node());
  EXPECT_EQ(format_resolv_conf(r.conf),
            "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"
            "options timeout:2 ndots:1\n");
  p.dns_policy = DnsPolicy::kClusterFirstWithHostNet;
  EXPECT_EQ(pod_resolv_conf(p, node()).conf.nameservers, (std::vector<std::string>{"10.96.0.10"}));
}

TEST(ResolvConfTest, DefaultIsTheNodes) {
  auto p = pod();
  p.dns_policy = DnsPolicy::kDefault;
  EXPECT_EQ(pod_resolv_conf(p, node()).conf, node().host);
}

TEST(ResolvConfTest, NoneTakesOnlyDnsConfig) {
  auto p = pod();
  p.dns_policy = DnsPolicy::kNone;
  p.dns_config = PodDnsConfig{{"203.0.113.1"},
                              {"ns1.svc.cluster-domain.example", "my.dns.search.suffix"},
                              {{"ndots", "2"}, {"edns0", std::nullopt}}};
  // The docs' example (dns-pod-service: "Pod's DNS Config").
  EXPECT_EQ(format_resolv_conf(pod_resolv_conf(p, node()).conf),
            "search ns1.svc.cluster-domain.example my.dns.search.suffix\n"
            "nameserver 203.0.113.1\n"
            "options ndots:2 edns0\n");
}

TEST(ResolvConfTest, DnsConfigMergesIntoClusterFirst) {
  auto p = pod();
  p.dns_config = PodDnsConfig{{"10.96.0.10", "198.51.100.1"},
                              {"cluster.local", "extra.example"},
                              {{"ndots", "2"}, {"single-request", std::nullopt}}};
  auto c = pod_resolv_conf(p, node()).conf;
  EXPECT_EQ(c.nameservers, (std::vector<std::string>{"10.96.0.10", "198.51.100.1"}));
  EXPECT_EQ(c.searches,
            (std::vector<std::string>{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local",
                                      "corp.example", "lab.example", "extra.example"}));
  EXPECT_EQ(c.options, (std::vector<std::string>{"ndots:2", "single-request"}));
}

TEST(ResolvConfTest, KubeletLimits) {
  auto p = pod();
  p.dns_policy = DnsPolicy::kDefault;
  NodeDns n = node();
  n.host.nameservers = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
  p.dns_config = PodDnsConfig{{"192.0.2.4"}, {}, {}};
  for (int i = 0; i < 40; ++i) p.dns_config->searches.push_back("d" + std::to_string(i) + ".example");
  auto r = pod_resolv_conf(p, n);
  EXPECT_EQ(r.conf.nameservers.size(), 3u);
  EXPECT_EQ(r.conf.searches.size(), 32u);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].first, "DNSConfigForming");
  EXPECT_TRUE(r.warnings[0].second.starts_with("Search Line limits were exceeded")) << r.warnings[0].second;
  EXPECT_EQ(r.warnings[1].second,
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver "
            "line is: 192.0.2.1 192.0.2.2 192.0.2.3");
  // 2048 characters in all: the last domains go.
  p.dns_config->searches.clear();
  std::string label(60, 'a');
  for (int i = 0; i < 30; ++i)
    p.dns_config->searches.push_back(label + "." + std::to_string(i) + "." + label + ".example");
  r = pod_resolv_conf(p, n);
  std::string line;
  for (const auto& s : r.conf.searches) line += (line.empty() ? "" : " ") + s;
  EXPECT_LE(line.size(), 2048u);
  EXPECT_GT(line.size(), 2048u - 140);
  // After the node's two search domains, the pod's in order.
  EXPECT_EQ(r.conf.searches.back(), p.dns_config->searches[r.conf.searches.size() - 3]);
}

TEST(ResolvConfTest, NoClusterDnsFallsBackToDefaultWithAnEvent) {
  NodeDns n = node();
  n.cluster_dns.clear();
  auto r = pod_resolv_conf(pod(), n);
  EXPECT_EQ(r.conf, n.host);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].first, "MissingClusterDNS");
  EXPECT_EQ(r.warnings[0].second,
            "pod: \"web-0_shop(1234)\". kubelet does not have ClusterDNS IP configured and cannot create Pod "
            "using \"ClusterFirst\" policy. Falling back to \"Default\" policy.");
}

TEST(HostsFileTest, KubeletsManagedFile) {
  auto p = pod();
  EXPECT_EQ(pod_hosts_file(p, {"10.244.1.5"}, "cluster.local", "ignored"),
            "# Kubernetes-managed hosts file.\n"
            "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\n"
            "fe00::0\tip6-mcastprefix\n"
            "fe00::1\tip6-allnodes\n"
            "fe00::2\tip6-allrouters\n"
            "10.244.1.5\tweb-0\n");
  p.hostname = "db";
  p.subdomain = "backend";
  p.host_aliases = {{"127.0.0.1", {"foo.local", "bar.local"}}, {"10.1.2.3", {"foo.remote", "bar.remote"}}};
  std::string text = pod_hosts_file(p, {"10.244.1.5", "fd00::5"}, "cluster.local", "");
  EXPECT_TRUE(
      text.ends_with("10.244.1.5\tdb.backend.shop.svc.cluster.local\tdb\n"
                     "fd00::5\tdb.backend.shop.svc.cluster.local\tdb\n"
                     "\n# Entries added by HostAliases.\n"
                     "127.0.0.1\tfoo.local\tbar.local\n"
                     "10.1.2.3\tfoo.remote\tbar.remote\n"))
      << text;
  p.host_network = true;
  EXPECT_EQ(pod_hosts_file(p, {"192.0.2.10"}, "cluster.local", "127.0.0.1 localhost\n"),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
            "\n# Entries added by "
            "HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\tbar.remote\n");
}

TEST(HostsFileTest, Hostnames) {
  auto p = pod("default", std::string(62, 'a') + "-b");  // 64 characters: cut to 63, '-' dropped
  EXPECT_EQ(pod_hostname(p), std::string(62, 'a'));
  p.hostname = "h";
  p.subdomain = "s";
  EXPECT_EQ(pod_uts_hostname(p, "cluster.local"), "h");
  p.set_hostname_as_fqdn = true;
  EXPECT_EQ(pod_uts_hostname(p, "cluster.local"), "h.s.default.svc.cluster.local");
}

// Decoding refuses what would break the files.
TEST(PodDnsDecodeTest, KubesRulesAndOneWordPerValue) {
  auto decode = [](json::object spec_extra) {
    json::object spec{
        {"containers", json::array{json::object{{"name", "c"}, {"command", json::array{"x"}}}}}};
    for (auto& [k, v] : spec_extra) spec[k] = v;
    return decode_pod(
        json::object{{"metadata", {{"name", "p"}, {"namespace", "ns"}, {"uid", "u1"}}}, {"spec", spec}});
  };
  auto ok = decode(
      {{"dnsPolicy", "None"},
       {"dnsConfig",
        {{"nameservers", json::array{"1.2.3.4"}},
         {"searches", json::array{"a.example."}},
         {"options", json::array{json::object{{"name", "ndots"}, {"value", "2"}}}}}},
       {"hostAliases", json::array{json::object{{"ip", "10.1.2.3"}, {"hostnames", json::array{"x.y"}}}}},
       {"enableServiceLinks", false},
       {"hostname", "h"},
       {"subdomain", "s"}});
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->dns_policy, DnsPolicy::kNone);
  EXPECT_FALSE(ok->enable_service_links);
  ASSERT_TRUE(ok->dns_config);
  EXPECT_EQ(ok->dns_config->options[0].value, "2");
  EXPECT_EQ(ok->host_aliases[0].hostnames[0], "x.y");
  struct Case {
    json::object spec;
    const char* error;
  } bad[] = {
      {{{"dnsPolicy", "Cluster"}},
       "spec.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirst\", "
       "\"ClusterFirstWithHostNet\", \"Default\", \"None\""},
      {{{"dnsPolicy", "None"}},
       "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"},
      {{{"dnsPolicy", "None"}, {"dnsConfig", {{"searches", json::array{"a.b"}}}}},
       "spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when "
       "`dnsPolicy` is "
       "None"},
      {{{"dnsConfig", {{"nameservers", json::array{"1.1.1.1\nnameserver 6.6.6.6"}}}}},
       "spec.dnsConfig.nameservers[0]: Invalid value"},
      {{{"dnsConfig", {{"nameservers", json::array{"fe80::1%eth0"}}}}},
       "spec.dnsConfig.nameservers[0]: Invalid value"},
      {{{"dnsConfig", {{"nameservers", json::array{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"}}}}},
       "must not have more than 3 nameservers"},
      {{{"dnsConfig", {{"searches", json::array{"a.b\noptions debug"}}}}},
       "spec.dnsConfig.searches[0]: Invalid value"},
      {{{"dnsConfig", {{"options", json::array{json::object{{"name", "ndots"}, {"value", "1 debug"}}}}}}},
       "spec.dnsConfig.options[0].value: Invalid value"},
      {{{"dnsConfig", {{"options", json::array{json::object{{"value", "1"}}}}}}},
       "spec.dnsConfig.options[0].name: Required value"},
      {{{"hostAliases",
         json::array{json::object{{"ip", "10.0.0.1\n6.6.6.6"}, {"hostnames", json::array{"a"}}}}}},
       "spec.hostAliases[0].ip: Invalid value"},
      {{{"hostAliases", json::array{json::object{{"ip", "10.0.0.1"}, {"hostnames", json::array{"a\tb"}}}}}},
       "spec.hostAliases[0].hostnames[0]: Invalid value"},
      {{{"hostname", "Not_A_Label"}}, "spec.hostname: Invalid value"},
      {{{"subdomain", "a.b"}}, "spec.subdomain: Invalid value"},
      {{{"enableServiceLinks", "yes"}}, "spec.enableServiceLinks: must be a boolean"},
  };
  for (auto& b : bad) {
    auto r = decode(b.spec);
    ASSERT_FALSE(r) << json::serialize(b.spec);
    EXPECT_NE(r.error().message().find(b.error), std::string::npos) << r.error().message();
  }
}

k8s::Service service(const std::string& ns, const std::string& name, const std::string& ip,
                     std::vector<k8s::ServicePort> ports) {
  k8s::Service s;
  s.meta.namespace_ = ns;
  s.meta.name = name;
  if (ip == "None")
    s.headless = true;
  else if (!ip.empty())
    s.cluster_ips = {*parse_ip(ip)};
  s.ports = std::move(ports);
  return s;
}

using Env = std::vector<std::pair<std::string, std::string>>;

// kubernetes.io/docs/concepts/services-networking/service/#environment-variables: "the Service
// redis-primary which exposes TCP port 6379 and has been allocated cluster IP address 10.0.0.11".
TEST(ServiceEnvTest, TheDocsExample) {
  auto env =
      service_env({service("default", "redis-primary", "10.0.0.11", {{.port = 6379}})}, "default", true);
  EXPECT_EQ(env, (Env{{"REDIS_PRIMARY_SERVICE_HOST", "10.0.0.11"},
                      {"REDIS_PRIMARY_SERVICE_PORT", "6379"},
                      {"REDIS_PRIMARY_PORT", "tcp://10.0.0.11:6379"},
                      {"REDIS_PRIMARY_PORT_6379_TCP", "tcp://10.0.0.11:6379"},
                      {"REDIS_PRIMARY_PORT_6379_TCP_PROTO", "tcp"},
                      {"REDIS_PRIMARY_PORT_6379_TCP_PORT", "6379"},
                      {"REDIS_PRIMARY_PORT_6379_TCP_ADDR", "10.0.0.11"}}));
}

// The kubernetes Service always (as in the docs' "Connecting Applications with Services":
// KUBERNETES_SERVICE_HOST=10.0.0.1, KUBERNETES_SERVICE_PORT=443, KUBERNETES_SERVICE_PORT_HTTPS=443);
// the namespace's own Services only with links on; named ports, UDP, IPv6; no headless or
// ExternalName Service; nothing from other namespaces.
TEST(ServiceEnvTest, WhichServicesAndNamedPorts) {
  std::vector<k8s::Service> all{
      service("default", "kubernetes", "10.0.0.1", {{.name = "https", .port = 443}}),
      service("shop", "my-nginx", "10.0.162.149", {{.port = 80}}),
      service(
          "shop", "dns", "fd00::a",
          {{.name = "dns", .protocol = k8s::Protocol::kUdp, .port = 53}, {.name = "dns-tcp", .port = 53}}),
      service("shop", "headless", "None", {{.port = 80}}),
      service("shop", "external", "", {}),
      service("other", "elsewhere", "10.0.0.9", {{.port = 80}}),
  };
  auto env = service_env(all, "shop", true);
  Env kubernetes{
      {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},           {"KUBERNETES_SERVICE_PORT", "443"},
      {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},          {"KUBERNETES_PORT", "tcp://10.0.0.1:443"},
      {"KUBERNETES_PORT_443_TCP", "tcp://10.0.0.1:443"}, {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
      {"KUBERNETES_PORT_443_TCP_PORT", "443"},           {"KUBERNETES_PORT_443_TCP_ADDR", "10.0.0.1"}};
  Env expected{{"DNS_SERVICE_HOST", "fd00::a"},     {"DNS_SERVICE_PORT", "53"},
               {"DNS_SERVICE_PORT_DNS", "53"},      {"DNS_SERVICE_PORT_DNS_TCP", "53"},
               {"DNS_PORT", "udp://[fd00::a]:53"},  {"DNS_PORT_53_UDP", "udp://[fd00::a]:53"},
               {"DNS_PORT_53_UDP_PROTO", "udp"},    {"DNS_PORT_53_UDP_PORT", "53"},
               {"DNS_PORT_53_UDP_ADDR", "fd00::a"}, {"DNS_PORT_53_TCP", "tcp://[fd00::a]:53"},
               {"DNS_PORT_53_TCP_PROTO", "tcp"},    {"DNS_PORT_53_TCP_PORT", "53"},
               {"DNS_PORT_53_TCP_ADDR", "fd00::a"}};
  expected.insert(expected.end(), kubernetes.begin(), kubernetes.end());
  expected.insert(expected.end(), {{"MY_NGINX_SERVICE_HOST", "10.0.162.149"},
                                   {"MY_NGINX_SERVICE_PORT", "80"},
                                   {"MY_NGINX_PORT", "tcp://10.0.162.149:80"},
                                   {"MY_NGINX_PORT_80_TCP", "tcp://10.0.162.149:80"},
                                   {"MY_NGINX_PORT_80_TCP_PROTO", "tcp"},
                                   {"MY_NGINX_PORT_80_TCP_PORT", "80"},
                                   {"MY_NGINX_PORT_80_TCP_ADDR", "10.0.162.149"}});
  EXPECT_EQ(env, expected);
  EXPECT_EQ(service_env(all, "shop", false), kubernetes);
  // A "kubernetes" Service of the pod's own namespace takes the place of default's (kubelet's map).
  all.push_back(service("shop", "kubernetes", "10.0.5.5", {{.port = 8443}}));
  env = service_env(all, "shop", true);
  EXPECT_NE(std::find(env.begin(), env.end(),
                      std::pair<std::string, std::string>{"KUBERNETES_SERVICE_HOST", "10.0.5.5"}),
            env.end());
  EXPECT_EQ(service_env(all, "shop", false), kubernetes);
}

}  // namespace
}  // namespace podnet::runtime
