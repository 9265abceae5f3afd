// NetworkPolicy validation through the real server over HTTPS: kube-apiserver v1.32's 422 with its
// exact messages and causes for what a node could not enforce (bad selectors, ports, protocols,
// CIDRs, peers, policyTypes), nothing stored on refusal, kube's v1 defaults on what is accepted,
// and the same checks on update.
#include <boost/json.hpp>

#include "api_fixture.h"

namespace podnet::apiserver::testing {
namespace {
namespace json = boost::json;

const std::string kPolicies = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies";
const std::string kInvalid = "NetworkPolicy.networking.k8s.io \"np\" is invalid: ";
const std::string kLabelRule =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const std::string kValueRule =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

json::value policy(const std::string& spec) {
  return json::object{{"apiVersion", "networking.k8s.io/v1"},
                      {"kind", "NetworkPolicy"},
                      {"metadata", {{"name", "np"}}},
                      {"spec", json::parse(spec)}};
}

struct Refusal {
  const char* name;
  std::string spec;
  std::string message;  // the Status message, whole
};

class NetworkPolicyValidationTest : public ApiServerTest, public ::testing::WithParamInterface<Refusal> {};

TEST_P(NetworkPolicyValidationTest, RefusedWithKubesStatusAndNothingStored) {
  const auto& c = GetParam();
  auto r = admin().post(kPolicies, policy(c.spec));
  EXPECT_EQ(r.status, 422) << r.body;
  auto status = r.json();
  EXPECT_EQ(str(status, {"kind"}), "Status");
  EXPECT_EQ(str(status, {"reason"}), "Invalid");
  EXPECT_EQ(str(status, {"message"}), c.message);
  EXPECT_EQ(str(status, {"details", "kind"}), "NetworkPolicy");
  EXPECT_EQ(str(status, {"details", "group"}), "networking.k8s.io");
  EXPECT_EQ(str(status, {"details", "name"}), "np");
  EXPECT_EQ(admin().get(kPolicies + "/np").status, 404);
}

INSTANTIATE_TEST_SUITE_P(
    Kube, NetworkPolicyValidationTest,
    ::testing::Values(
        Refusal{
            "BadOperator",
            R"({"podSelector": {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["a"]}]}})",
            kInvalid +
                "spec.podSelector.matchExpressions[0].operator: Invalid value: \"Equals\": not a valid "
                "selector operator"},
        Refusal{
            "InWithoutValues", R"({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}})",
            kInvalid + "spec.podSelector.matchExpressions[0].values: Required value: must be specified when "
                       "`operator` is 'In' or 'NotIn'"},
        Refusal{
            "ExistsWithValues",
            R"({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchExpressions":
                    [{"key": "team", "operator": "Exists", "values": ["x"]}]}}]}]})",
            kInvalid +
                "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values: Forbidden: may not "
                "be specified when `operator` is 'Exists' or 'DoesNotExist'"},
        Refusal{
            "BadSelectorKeyAndValue",
            R"({"podSelector": {"matchExpressions": [{"key": "-app", "operator": "In", "values": ["a b"]}]}})",
            kInvalid + "[spec.podSelector.matchExpressions[0].key: Invalid value: \"-app\": " + kLabelRule +
                ", spec.podSelector.matchExpressions[0].values[0]: Invalid value: \"a b\": " + kValueRule +
                "]"},
        Refusal{"BadMatchLabels", R"({"podSelector": {"matchLabels": {"app": "-x"}}})",
                kInvalid + "spec.podSelector.matchLabels: Invalid value: \"-x\": " + kValueRule},
        Refusal{"PortOutOfRange", R"({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]})",
                kInvalid +
                    "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, "
                    "inclusive"},
        Refusal{"PortZero", R"({"podSelector": {}, "egress": [{"ports": [{"protocol": "UDP", "port": 0}]}]})",
                kInvalid +
                    "spec.egress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"},
        Refusal{"BadNamedPort", R"({"podSelector": {}, "ingress": [{"ports": [{"port": "Web"}]}]})",
                kInvalid +
                    "spec.ingress[0].ports[0].port: Invalid value: \"Web\": must contain only alpha-numeric "
                    "characters (a-z, 0-9), and hyphens (-)"},
        Refusal{"UnknownProtocol", R"({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]})",
                kInvalid +
                    "spec.ingress[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: "
                    "\"TCP\", \"UDP\", \"SCTP\""},
        Refusal{"EndPortBelowPort",
                R"({"podSelector": {}, "ingress": [{"ports": [{"port": 8080, "endPort": 80}]}]})",
                kInvalid +
                    "spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to "
                    "`port`"},
        Refusal{"EndPortOutOfRange",
                R"({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "endPort": 65536}]}]})",
                kInvalid +
                    "spec.ingress[0].ports[0].endPort: Invalid value: 65536: must be between 1 and 65535, "
                    "inclusive"},
        Refusal{
            "EndPortWithNamedPort",
            R"({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]})",
            kInvalid +
                "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is "
                "non-numeric"},
        Refusal{
            "EndPortWithoutPort", R"({"podSelector": {}, "ingress": [{"ports": [{"endPort": 90}]}]})",
            kInvalid +
                "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is "
                "not specified"},
        Refusal{"BadCidr",
                R"({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]})",
                kInvalid +
                    "spec.egress[0].to[0].ipBlock.cidr: Invalid value: \"10.0.0.300/8\": not a valid CIDR"},
        Refusal{
            "CidrWithoutLength",
            R"({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.1"}}]}]})",
            kInvalid + "spec.egress[0].to[0].ipBlock.cidr: Invalid value: \"10.0.0.1\": not a valid CIDR"},
        Refusal{"EmptyCidr", R"({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": ""}}]}]})",
                kInvalid + "spec.egress[0].to[0].ipBlock.cidr: Required value"},
        Refusal{
            "ExceptOutside",
            R"({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16",
                    "except": ["10.0.1.0/24", "10.1.0.0/24", "10.0.0.0/16", "fd00::/64"]}}]}]})",
            kInvalid +
                "[spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: \"10.1.0.0/24\": must be a "
                "strict subset of `cidr`, spec.ingress[0].from[0].ipBlock.except[2]: Invalid value: "
                "\"10.0.0.0/16\": must be a strict subset of `cidr`, "
                "spec.ingress[0].from[0].ipBlock.except[3]: Invalid value: \"fd00::/64\": must be a strict "
                "subset of `cidr`]"},
        Refusal{"ExceptNotACidrStopsThere",
                R"({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "fd00::/48",
                    "except": ["fd00::/32", "nope", "fd01::/64"]}}]}]})",
                kInvalid +
                    "[spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"fd00::/32\": must be a "
                    "strict subset of `cidr`, spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: "
                    "\"nope\": not a valid CIDR]"},
        Refusal{
            "IpBlockWithSelector",
            R"({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"},
                    "podSelector": {}}]}]})",
            kInvalid + "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"},
        Refusal{"EmptyPeer", R"({"podSelector": {}, "egress": [{"to": [{}]}]})",
                kInvalid + "spec.egress[0].to[0]: Required value: must specify a peer"},
        Refusal{"UnknownPolicyType", R"({"podSelector": {}, "policyTypes": ["Ingress", "Sideways"]})",
                kInvalid +
                    "spec.policyTypes[1]: Unsupported value: \"Sideways\": supported values: \"Ingress\", "
                    "\"Egress\""},
        Refusal{"ThreePolicyTypes", R"({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]})",
                kInvalid +
                    "spec.policyTypes: Invalid value: []networking.PolicyType{\"Ingress\", \"Egress\", "
                    "\"Ingress\"}: may not specify more than two policyTypes"}),
    [](const auto& info) { return std::string(info.param.name); });

class NetworkPolicyTest : public ApiServerTest {};

TEST_F(NetworkPolicyTest, CausesCarryKubesReasonAndField) {
  auto r = admin().post(kPolicies, policy(R"({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP",
      "port": 0}], "from": [{}]}]})"));
  ASSERT_EQ(r.status, 422) << r.body;
  const json::value status = r.json();
  const auto& causes = status.at("details").at("causes").as_array();
  ASSERT_EQ(causes.size(), 3u) << r.body;
  EXPECT_EQ(str(causes[0], {"reason"}), "FieldValueNotSupported");
  EXPECT_EQ(str(causes[0], {"field"}), "spec.ingress[0].ports[0].protocol");
  EXPECT_EQ(str(causes[1], {"reason"}), "FieldValueInvalid");
  EXPECT_EQ(str(causes[1], {"field"}), "spec.ingress[0].ports[0].port");
  EXPECT_EQ(str(causes[2], {"reason"}), "FieldValueRequired");
  EXPECT_EQ(str(causes[2], {"field"}), "spec.ingress[0].from[0]");
}

TEST_F(NetworkPolicyTest, ValidPolicyIsStoredWithKubesDefaults) {
  auto r = admin().post(kPolicies, policy(R"({"podSelector": {"matchLabels": {"app": "web"}},
      "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name",
      "operator": "In", "values": ["shop"]}]}, "podSelector": {}}, {"ipBlock": {"cidr": "10.0.0.1/8",
      "except": ["10.1.0.0/16", "010.2.0.0/16"]}}],
      "ports": [{"port": 80, "endPort": 90}, {"protocol": "UDP", "port": "dns"}, {"protocol": "SCTP"}]}],
      "egress": [{"to": [{"ipBlock": {"cidr": "fd00::/8", "except": ["fd00:1::/32"]}}]}]})"));
  ASSERT_EQ(r.status, 201) << r.body;
  auto got = admin().get(kPolicies + "/np").json();
  // SetDefaults_NetworkPolicyPort and SetDefaults_NetworkPolicy.
  const auto& ports = got.at("spec").at("ingress").at(0).at("ports").as_array();
  EXPECT_EQ(ports[0].at("protocol"), "TCP");
  EXPECT_EQ(ports[1].at("protocol"), "UDP");
  EXPECT_EQ(ports[2].at("protocol"), "SCTP");
  EXPECT_EQ(got.at("spec").at("policyTypes"), (json::array{"Ingress", "Egress"}));
}

TEST_F(NetworkPolicyTest, PolicyTypesDefaultToIngressWithoutEgressRules) {
  ASSERT_EQ(admin().post(kPolicies, policy(R"({"podSelector": {}})")).status, 201);
  EXPECT_EQ(admin().get(kPolicies + "/np").json().at("spec").at("policyTypes"), (json::array{"Ingress"}));
}

TEST_F(NetworkPolicyTest, UpdateIsValidatedToo) {
  ASSERT_EQ(admin().post(kPolicies, policy(R"({"podSelector": {}})")).status, 201);
  auto stored = admin().get(kPolicies + "/np").json();
  stored.at("spec").as_object()["ingress"] = json::parse(R"([{"ports": [{"port": 0}]}])");
  auto r = admin().put(kPolicies + "/np", stored);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(
      str(r.json(), {"message"}),
      kInvalid + "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive");
  // A merge patch goes through the same checks.
  auto p = admin().request(http::verb::patch, kPolicies + "/np",
                           R"({"spec": {"egress": [{"to": [{"ipBlock": {"cidr": "x"}}]}]}})",
                           "application/merge-patch+json");
  EXPECT_EQ(p.status, 422) << p.body;
  EXPECT_EQ(admin().get(kPolicies + "/np").json().at("spec").at("policyTypes"), (json::array{"Ingress"}));
}

}  // namespace
}  // namespace podnet::apiserver::testing
