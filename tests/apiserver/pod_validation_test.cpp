// Pod validation through the real server over HTTPS, raw: kube-apiserver's status codes and exact
// messages for every Pod field a node acts on (422 with kube's causes; 400 for a value of the wrong
// JSON type, as kube's decoder says it), kube's defaults, and status writes on a stored pod that
// predates the rules.
#include <boost/json.hpp>

#include "api_fixture.h"

namespace podnet::apiserver::testing {
namespace {
namespace json = boost::json;

const std::string kPods = "/api/v1/namespaces/default/pods";

// A pod named "p" with `spec` (JSON text).
json::value pod_with(const std::string& spec) {
  return json::object{
      {"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}}, {"spec", json::parse(spec)}};
}

// One container "c" with `extra` members (JSON text without braces).
std::string one_container(const std::string& extra) {
  return R"({"containers": [{"name": "c", "image": "i")" + (extra.empty() ? "" : ", " + extra) + "}]}";
}

struct Refusal {
  const char* name;
  std::string spec;
  int status;
  std::string message;  // the Status message, whole
};

class PodValidationTest : public ApiServerTest, public ::testing::WithParamInterface<Refusal> {};

TEST_P(PodValidationTest, RefusedWithKubesStatusAndNothingStored) {
  const auto& c = GetParam();
  auto r = admin().post(kPods, pod_with(c.spec));
  EXPECT_EQ(r.status, c.status) << r.body;
  auto status = r.json();
  EXPECT_EQ(str(status, {"kind"}), "Status");
  EXPECT_EQ(str(status, {"reason"}), c.status == 422 ? "Invalid" : "BadRequest");
  EXPECT_EQ(str(status, {"message"}), c.message);
  if (c.status == 422) {
    EXPECT_EQ(str(status, {"details", "kind"}), "Pod");
    EXPECT_EQ(str(status, {"details", "name"}), "p");
  }
  EXPECT_EQ(admin().get(kPods + "/p").status, 404);
}

const std::string kInvalid = "Pod \"p\" is invalid: ";
const std::string kUndecodable = "Pod in version \"v1\" cannot be handled as a Pod: ";
const std::string kC0 = "spec.containers[0].";

INSTANTIATE_TEST_SUITE_P(
    Kube, PodValidationTest,
    ::testing::Values(
        // The agent crash of issue 13: a string that is no port name.
        Refusal{"ProbePortStringOfDigits",
                one_container(R"("readinessProbe": {"tcpSocket": {"port": "99999999999"}})"), 422,
                kInvalid + kC0 +
                    "readinessProbe.tcpSocket.port: Invalid value: \"99999999999\": must contain at least "
                    "one letter (a-z)"},
        Refusal{
            "ProbePortNumberOutOfRange", one_container(R"("livenessProbe": {"tcpSocket": {"port": 70000}})"),
            422,
            kInvalid + kC0 +
                "livenessProbe.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, inclusive"},
        Refusal{"ProbePortOverflowsInt32",
                one_container(R"("readinessProbe": {"tcpSocket": {"port": 99999999999}})"), 400,
                kUndecodable + "json: cannot unmarshal number 99999999999 into Go value of type int32"},
        Refusal{"ProbePortBool", one_container(R"("readinessProbe": {"httpGet": {"port": true}})"), 400,
                kUndecodable + "json: cannot unmarshal bool into Go value of type int32"},
        Refusal{"ProbePortBadName", one_container(R"("readinessProbe": {"httpGet": {"port": "Web--x"}})"),
                422,
                kInvalid + "[" + kC0 +
                    "readinessProbe.httpGet.port: Invalid value: \"Web--x\": must contain only alpha-numeric "
                    "characters "
                    "(a-z, 0-9), and hyphens (-), " +
                    kC0 +
                    "readinessProbe.httpGet.port: Invalid value: \"Web--x\": must not contain consecutive "
                    "hyphens]"},
        Refusal{"ProbeWithoutHandler", one_container(R"("readinessProbe": {"periodSeconds": 5})"), 422,
                kInvalid + kC0 + "readinessProbe: Required value: must specify a handler type"},
        Refusal{
            "ProbeWithTwoHandlers",
            one_container(R"("readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}})"),
            422,
            kInvalid + kC0 + "readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"},
        Refusal{"ProbeNegativePeriod",
                one_container(R"("livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": -1})"),
                422,
                kInvalid + kC0 +
                    "livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"},
        Refusal{"LivenessSuccessThreshold",
                one_container(R"("livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2})"),
                422, kInvalid + kC0 + "livenessProbe.successThreshold: Invalid value: 2: must be 1"},
        Refusal{
            "ReadinessGracePeriod",
            one_container(
                R"("readinessProbe": {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 10})"),
            422,
            kInvalid + kC0 +
                "readinessProbe.terminationGracePeriodSeconds: Invalid value: 10: must not be set for "
                "readinessProbes"},
        Refusal{
            "ProbeThresholdAsString",
            one_container(R"("readinessProbe": {"exec": {"command": ["true"]}, "failureThreshold": "3"})"),
            400,
            kUndecodable + "json: cannot unmarshal string into Go struct field "
                           "Probe.spec.containers.readinessProbe.failureThreshold of type int32"},
        Refusal{"ExecWithoutCommand", one_container(R"("startupProbe": {"exec": {"command": []}})"), 422,
                kInvalid + kC0 + "startupProbe.exec.command: Required value"},
        Refusal{"HttpScheme",
                one_container(R"("readinessProbe": {"httpGet": {"port": 80, "scheme": "FTP"}})"), 422,
                kInvalid + kC0 +
                    "readinessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", "
                    "\"HTTPS\""},
        Refusal{"GrpcPort", one_container(R"("readinessProbe": {"grpc": {"port": 0}})"), 422,
                kInvalid + kC0 +
                    "readinessProbe.grpc.port: Invalid value: 0: must be between 1 and 65535, inclusive"},
        Refusal{"ContainerName", R"({"containers": [{"name": "Web_1", "image": "i"}]})", 422,
                kInvalid +
                    "spec.containers[0].name: Invalid value: \"Web_1\": a lowercase RFC 1123 label must "
                    "consist of "
                    "lower case alphanumeric characters or '-', and must start and end with an alphanumeric "
                    "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"},
        Refusal{
            "ContainerNamesUnique",
            R"({"initContainers": [{"name": "c", "image": "i"}], "containers": [{"name": "c", "image": "i"}]})",
            422, kInvalid + "spec.initContainers[0].name: Duplicate value: \"c\""},
        Refusal{"ContainersRequired", R"({"containers": []})", 422,
                kInvalid + "spec.containers: Required value"},
        Refusal{"CommandNotAList", one_container(R"("command": "sleep 1")"), 400,
                kUndecodable + "json: cannot unmarshal string into Go struct field "
                               "Container.spec.containers.command of type []string"},
        Refusal{"ArgsOfNumbers", one_container(R"("args": [1])"), 400,
                kUndecodable + "json: cannot unmarshal number into Go struct field "
                               "Container.spec.containers.args of type string"},
        Refusal{"ContainerPortAsString", one_container(R"("ports": [{"containerPort": "80"}])"), 400,
                kUndecodable + "json: cannot unmarshal string into Go struct field "
                               "ContainerPort.spec.containers.ports.containerPort of type int32"},
        Refusal{"ContainerPortOverflows", one_container(R"("ports": [{"containerPort": 99999999999}])"), 400,
                kUndecodable + "json: cannot unmarshal number 99999999999 into Go struct field "
                               "ContainerPort.spec.containers.ports.containerPort of type int32"},
        Refusal{
            "HostPortTwice",
            R"({"containers": [{"name": "a", "image": "i", "ports": [{"containerPort": 80, "hostPort": 8080}]},
                                   {"name": "b", "image": "i", "ports": [{"containerPort": 81, "hostPort": 8080}]}]})",
            422, kInvalid + "spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""},
        Refusal{
            "HostNetworkHostPort",
            R"({"hostNetwork": true, "containers": [{"name": "a", "image": "i", "ports": [{"containerPort": 80, "hostPort": 81}]}]})",
            422,
            kInvalid + "spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` "
                       "when `hostNetwork` is true"},
        Refusal{
            "HostNetworkNotBool", R"({"hostNetwork": "yes", "containers": [{"name": "a", "image": "i"}]})",
            400,
            kUndecodable +
                "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool"},
        Refusal{"RestartPolicy",
                R"({"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "i"}]})", 422,
                kInvalid + "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: "
                           "\"Always\", \"OnFailure\", \"Never\""},
        Refusal{"GracePeriodAsString",
                R"({"terminationGracePeriodSeconds": "30", "containers": [{"name": "a", "image": "i"}]})",
                400,
                kUndecodable + "json: cannot unmarshal string into Go struct field "
                               "PodSpec.spec.terminationGracePeriodSeconds of type int64"},
        Refusal{"ContainerRestartPolicy", one_container(R"("restartPolicy": "Always")"), 422,
                kInvalid + kC0 + "restartPolicy: Forbidden: may not be set for non-init containers"},
        Refusal{
            "InitContainerProbe",
            R"({"initContainers": [{"name": "i", "image": "i", "readinessProbe": {"exec": {"command": ["true"]}}}],
                    "containers": [{"name": "c", "image": "i"}]})",
            422,
            kInvalid + "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers "
                       "without restartPolicy=Always"},
        Refusal{"EnvName", one_container(R"("env": [{"name": "A=B", "value": "1"}])"), 422,
                kInvalid + kC0 +
                    "env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist "
                    "only of printable "
                    "ASCII characters other than '='"},
        Refusal{
            "EnvFieldPathNotForEnv",
            one_container(
                R"("env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}}])"),
            422,
            kInvalid + kC0 +
                "env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported "
                "values: "
                "\"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", "
                "\"spec.serviceAccountName\", "
                "\"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\""},
        Refusal{"EnvFieldPathUnknown",
                one_container(R"("env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "foo"}}}])"),
                422,
                kInvalid + kC0 +
                    "env[0].valueFrom.fieldRef.fieldPath: Invalid value: \"foo\": error converting "
                    "fieldPath: field label not supported: foo"},
        Refusal{
            "EnvValueAndValueFrom",
            one_container(
                R"("env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])"),
            422,
            kInvalid + kC0 +
                "env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"},
        Refusal{
            "SeveralCauses",
            R"({"restartPolicy": "x", "containers": [{"name": "c", "image": "", "ports": [{"containerPort": 0}]}]})",
            422,
            kInvalid + "[spec.containers[0].image: Required value, "
                       "spec.containers[0].ports[0].containerPort: Required value, "
                       "spec.restartPolicy: Unsupported value: \"x\": supported values: \"Always\", "
                       "\"OnFailure\", \"Never\"]"}),
    [](const auto& info) { return std::string(info.param.name); });

// kube's v1 defaults, which validation runs after, are stored.
TEST_F(ApiServerTest, PodDefaultsAreKubes) {
  auto created = create(
      kPods,
      pod_with(one_container(
          R"("readinessProbe": {"httpGet": {"port": 80}}, "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])")));
  const auto& spec = created.at("spec");
  EXPECT_EQ(str(spec, {"restartPolicy"}), "Always");
  EXPECT_EQ(str(spec, {"terminationGracePeriodSeconds"}), "30");
  const auto& probe = spec.at("containers").at(0).at("readinessProbe");
  EXPECT_EQ(
      json::serialize(probe),
      R"({"httpGet":{"port":80,"path":"/","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3})");
  EXPECT_EQ(str(spec.at("containers").at(0).at("env").at(0), {"valueFrom", "fieldRef", "apiVersion"}), "v1");

  auto host = create(
      kPods,
      json::object{{"apiVersion", "v1"},
                   {"kind", "Pod"},
                   {"metadata", {{"name", "h"}}},
                   {"spec", json::parse(R"({"hostNetwork": true, "containers": [{"name": "c", "image": "i",
                                              "ports": [{"containerPort": 8080}]}]})")}});
  EXPECT_EQ(str(host.at("spec").at("containers").at(0).at("ports").at(0), {"hostPort"}), "8080");
}

// A stored pod that breaks today's rules (written before them, or straight to the store) still
// takes status writes and label changes: only a changed spec is validated, as kube validates
// updates with the options the old pod allows.
TEST_F(ApiServerTest, StatusOfAPodThatPredatesTheRulesIsWritable) {
  create(kPods, pod_with(one_container("")));
  auto& store = server_->store();
  auto list = store.list("/");
  ASSERT_TRUE(list);
  for (const auto& kv : list->items) {
    auto v = json::parse(kv.value);
    if (str(v, {"metadata", "name"}) != "p") continue;
    v.at("spec").at("containers").at(0).as_object()["readinessProbe"] =
        json::parse(R"({"tcpSocket": {"port": "99999999999"}})");
    ASSERT_TRUE(store.update(kv.key, json::serialize(v), kv.mod_revision));
  }
  auto got = admin().get(kPods + "/p").json();
  got.as_object()["status"] = json::parse(R"({"phase": "Pending", "message": "cannot run it"})");
  auto r = admin().put(kPods + "/p/status", got);
  EXPECT_EQ(r.status, 200) << r.body;
  auto labelled = admin().request(http::verb::patch, kPods + "/p", R"({"metadata":{"labels":{"a":"b"}}})",
                                  "application/merge-patch+json");
  EXPECT_EQ(labelled.status, 200) << labelled.body;
  // A spec change is held to the rules, though.
  auto changed = admin().request(http::verb::patch, kPods + "/p", R"({"spec":{"restartPolicy":"Sometimes"}})",
                                 "application/merge-patch+json");
  EXPECT_EQ(changed.status, 422) << changed.body;
}

}  // namespace
}  // namespace podnet::apiserver::testing
