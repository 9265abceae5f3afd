// decode_pod on bad input: every field the node acts on, one table. Each case changes one field
// of a valid pod and names the error it must give; none may throw, crash or be accepted.
#include "runtime/pod_spec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace podnet::runtime {
namespace {

namespace json = boost::json;

constexpr const char* kValidPod = R"({
  "metadata": {"name": "web", "namespace": "shop", "uid": "0b5c6f6e-1111-4222-8333-944455556666",
               "labels": {"app": "web"}, "annotations": {"team": "a"}},
  "spec": {"nodeName": "node1", "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
    "serviceAccountName": "sa",
    "initContainers": [{"name": "init", "image": "i", "command": ["true"]}],
    "containers": [{"name": "app", "image": "i", "command": ["sleep"], "args": ["1000"], "workingDir": "/",
      "stdin": true, "tty": true,
      "ports": [{"name": "http", "containerPort": 8080, "hostPort": 0, "protocol": "TCP"}],
      "env": [{"name": "A", "value": "1"},
              {"name": "L", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['app']"}}}],
      "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
      "livenessProbe": {"httpGet": {"port": "http", "path": "/healthz", "scheme": "HTTP"}},
      "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30}}]}})";

// Sets (or with `remove`, erases) the member at a '/'-separated path; numbers index lists.
void set_path(json::value& root, const std::string& path, const json::value& value, bool remove = false) {
  json::value* cur = &root;
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    bool last = slash == std::string::npos;
    if (cur->is_array()) {
      auto& a = cur->as_array();
      size_t i = std::stoul(part);
      if (last) {
        a.at(i) = value;
        return;
      }
      cur = &a.at(i);
    } else {
      auto& o = cur->as_object();
      if (last) {
        if (remove)
          o.erase(part);
        else
          o[part] = value;
        return;
      }
      cur = &o[part];
    }
    start = slash + 1;
  }
}

struct BadField {
  const char* path;    // what is changed
  const char* value;   // its new value, as JSON (nullptr: removed)
  const char* expect;  // part of the error
};

class PodSpecBadInput : public ::testing::TestWithParam<BadField> {};

TEST_P(PodSpecBadInput, IsRefusedWithItsFieldNamed) {
  json::value pod = json::parse(kValidPod);
  const auto& c = GetParam();
  if (c.value)
    set_path(pod, c.path, json::parse(c.value));
  else
    set_path(pod, c.path, nullptr, true);
  auto decoded = decode_pod(pod);
  ASSERT_FALSE(decoded) << c.path << " = " << (c.value ? c.value : "(removed)") << " was accepted";
  EXPECT_NE(decoded.error().message().find(c.expect), std::string::npos) << decoded.error().message();
}

const std::string kP = "spec/containers/0/";

INSTANTIATE_TEST_SUITE_P(
    EveryField, PodSpecBadInput,
    ::testing::Values(
        // Identity: it names files, namespaces and CNI_ARGS.
        BadField{"metadata/uid", R"("../../etc")", "metadata.uid: Invalid value: \"../../etc\""},
        BadField{"metadata/uid", R"("")", "metadata.uid: Invalid value"},
        BadField{"metadata/uid", "7", "metadata.uid: must be a string"},
        BadField{"metadata/name", R"("web;IP=10.0.0.1")", "metadata.name: Invalid value"},
        BadField{"metadata/name", R"("Web")", "metadata.name: Invalid value"},
        BadField{"metadata/namespace", R"("a/b")", "metadata.namespace: Invalid value"},
        BadField{"metadata", R"("x")", "metadata: must be an object"},
        BadField{"spec", R"("x")", "spec: must be an object"},
        BadField{"spec", nullptr, "spec: Required value"},
        // Pod fields.
        BadField{"spec/hostNetwork", R"("yes")", "spec.hostNetwork: must be a boolean"},
        BadField{"spec/restartPolicy", R"("Sometimes")",
                 "spec.restartPolicy: Unsupported value: \"Sometimes\""},
        BadField{"spec/restartPolicy", "[]", "spec.restartPolicy: must be a string"},
        BadField{"spec/terminationGracePeriodSeconds", R"("30")",
                 "spec.terminationGracePeriodSeconds: Invalid value: \"30\": must be an integer"},
        BadField{"spec/terminationGracePeriodSeconds", "1.5",
                 "spec.terminationGracePeriodSeconds: Invalid value"},
        BadField{"spec/terminationGracePeriodSeconds", "18446744073709551615", "must be an integer"},
        BadField{"spec/nodeName", "{}", "spec.nodeName: must be a string"},
        BadField{"spec/serviceAccountName", "1", "spec.serviceAccountName: must be a string"},
        BadField{"spec/containers", "{}", "spec.containers: must be a list"},
        BadField{"spec/containers", "[]", "spec.containers: Required value"},
        BadField{"spec/containers", nullptr, "spec.containers: Required value"},
        BadField{"spec/containers/0", R"("app")", "spec.containers[0]: must be an object"},
        BadField{"spec/initContainers", "{}", "spec.initContainers: must be a list"},
        // Container names become file names.
        BadField{"spec/containers/0/name", R"("")", "spec.containers[0].name: Required value"},
        BadField{"spec/containers/0/name", R"("../x")", "spec.containers[0].name: Invalid value: \"../x\""},
        BadField{"spec/containers/0/name", R"("App")", "spec.containers[0].name: Invalid value"},
        BadField{"spec/containers/0/name", R"("init")",
                 "spec.initContainers[0].name: Duplicate value: \"init\""},
        BadField{"spec/initContainers/0/name", R"("a.b")", "spec.initContainers[0].name: Invalid value"},
        // What reaches execve.
        BadField{"spec/containers/0/command", R"("sleep")", "spec.containers[0].command: must be a list"},
        BadField{"spec/containers/0/command", "[1]", "spec.containers[0].command[0]: must be a string"},
        BadField{"spec/containers/0/command", R"(["sl\u0000eep"])", "command[0]: must not contain a NUL"},
        BadField{"spec/containers/0/args", "[true]", "spec.containers[0].args[0]: must be a string"},
        BadField{"spec/containers/0/workingDir", "5", "spec.containers[0].workingDir: must be a string"},
        BadField{"spec/containers/0/stdin", R"("yes")", "spec.containers[0].stdin: must be a boolean"},
        BadField{"spec/containers/0/tty", "1", "spec.containers[0].tty: must be a boolean"},
        BadField{"spec/containers/0/image", "[]", "spec.containers[0].image: must be a string"},
        BadField{"spec/containers/0/env", "{}", "spec.containers[0].env: must be a list"},
        BadField{"spec/containers/0/env/0", R"("A=1")", "spec.containers[0].env[0]: must be an object"},
        BadField{"spec/containers/0/env/0/name", R"("")", "spec.containers[0].env[0].name: Required value"},
        BadField{"spec/containers/0/env/0/name", R"("A=B")", "spec.containers[0].env[0].name: Invalid value"},
        BadField{"spec/containers/0/env/0/value", "5", "spec.containers[0].env[0].value: must be a string"},
        BadField{"spec/containers/0/env/0/value", R"("a\u0000b")", "env[0].value: must not contain a NUL"},
        BadField{"spec/containers/0/env/1/valueFrom/fieldRef/fieldPath", R"("spec.restartPolicy")",
                 "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value"},
        BadField{"spec/containers/0/env/1/valueFrom/fieldRef/fieldPath", R"("metadata.labels['']")",
                 "Unsupported value"},
        BadField{"spec/containers/0/env/1/valueFrom", R"({"configMapKeyRef": {"name": "c", "key": "k"}})",
                 "env[1].valueFrom.configMapKeyRef: not supported by this node"},
        BadField{"spec/containers/0/env/1/valueFrom", "{}", "env[1].valueFrom: Required value"},
        BadField{"spec/containers/0/env/1/valueFrom/fieldRef", "[]", "valueFrom.fieldRef: must be an object"},
        // Ports: host ports become nftables rules.
        BadField{"spec/containers/0/ports", "{}", "spec.containers[0].ports: must be a list"},
        BadField{"spec/containers/0/ports/0/containerPort", "0",
                 "ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive"},
        BadField{"spec/containers/0/ports/0/containerPort", "70000", "containerPort: Invalid value: 70000"},
        BadField{"spec/containers/0/ports/0/containerPort", R"("80")",
                 "containerPort: Invalid value: \"80\""},
        BadField{"spec/containers/0/ports/0/containerPort", nullptr, "containerPort: Invalid value: 0"},
        BadField{"spec/containers/0/ports/0/hostPort", "99999", "ports[0].hostPort: Invalid value: 99999"},
        BadField{"spec/containers/0/ports/0/hostPort", "-1", "ports[0].hostPort: Invalid value: -1"},
        BadField{"spec/containers/0/ports/0/protocol", R"("ICMP")", "ports[0].protocol: Unsupported value"},
        BadField{"spec/containers/0/ports/0/name", R"("Bad_Name")", "ports[0].name: Invalid value"},
        // Probes: the reported crash was std::stoi on this very value.
        BadField{
            "spec/containers/0/readinessProbe/tcpSocket/port", R"("99999999999")",
            "readinessProbe.tcpSocket.port: Invalid value: \"99999999999\": must be between 1 and 65535"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/port", R"("999999999999999999999999")",
                 "tcpSocket.port: Invalid value"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/port", "99999999999",
                 "tcpSocket.port: Invalid value: 99999999999"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/port", "0", "tcpSocket.port: Invalid value: 0"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/port", "-80",
                 "tcpSocket.port: Invalid value: -80"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/port", "true",
                 "tcpSocket.port: Invalid value: true"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/port", "{}", "tcpSocket.port: Invalid value"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/port", nullptr,
                 "tcpSocket.port: Invalid value: 0"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/port", R"("Http")",
                 "tcpSocket.port: Invalid value"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket/host", "1", "tcpSocket.host: must be a string"},
        BadField{"spec/containers/0/readinessProbe/tcpSocket", R"("8080")",
                 "readinessProbe.tcpSocket: must be an object"},
        BadField{"spec/containers/0/readinessProbe", R"("tcp")", "readinessProbe: must be an object"},
        BadField{"spec/containers/0/readinessProbe", "{}",
                 "readinessProbe: Required value: must specify a handler"},
        BadField{"spec/containers/0/readinessProbe/exec", R"({"command": ["true"]})",
                 "readinessProbe: may not specify more than 1 handler type"},
        BadField{"spec/containers/0/readinessProbe/grpc", R"({"port": 9000})",
                 "readinessProbe.grpc: grpc probes"},
        BadField{"spec/containers/0/readinessProbe/periodSeconds", "-1",
                 "readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"},
        BadField{"spec/containers/0/readinessProbe/periodSeconds", R"("1")",
                 "periodSeconds: Invalid value: \"1\""},
        BadField{"spec/containers/0/readinessProbe/timeoutSeconds", "3000000000",
                 "timeoutSeconds: Invalid value"},
        BadField{"spec/containers/0/readinessProbe/initialDelaySeconds", "-5",
                 "initialDelaySeconds: Invalid value"},
        BadField{"spec/containers/0/readinessProbe/successThreshold", "1.5",
                 "successThreshold: Invalid value"},
        BadField{"spec/containers/0/readinessProbe/failureThreshold", "-3",
                 "failureThreshold: Invalid value"},
        BadField{"spec/containers/0/livenessProbe/successThreshold", "2",
                 "livenessProbe.successThreshold: Invalid value: 2: must be 1"},
        BadField{"spec/containers/0/livenessProbe/httpGet/scheme", R"("FTP")",
                 "httpGet.scheme: Unsupported value"},
        BadField{"spec/containers/0/livenessProbe/httpGet/path", "5", "httpGet.path: must be a string"},
        BadField{"spec/containers/0/livenessProbe/httpGet/port", R"("99999999999")",
                 "httpGet.port: Invalid value"},
        BadField{"spec/containers/0/startupProbe/exec/command", "[]",
                 "startupProbe.exec.command: Required value"},
        BadField{"spec/containers/0/startupProbe/exec/command", R"("true")", "exec.command: must be a list"},
        BadField{"spec/containers/0/startupProbe/exec/command", "[null]",
                 "exec.command[0]: must be a string"},
        // Container kinds podnet does not run.
        BadField{"spec/containers/0/restartPolicy", R"("Always")",
                 "spec.containers[0].restartPolicy: Forbidden"},
        BadField{"spec/initContainers/0/restartPolicy", R"("Always")", "sidecar containers"},
        BadField{"spec/initContainers/0/readinessProbe", R"({"exec": {"command": ["true"]}})",
                 "spec.initContainers[0]: Forbidden: probes may not be set for init containers"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

TEST(PodSpecTest, ValidPodDecodesWithEverythingTheNodeUses) {
  auto s = decode_pod(json::parse(kValidPod));
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->key(), "shop/web");
  EXPECT_EQ(s->service_account, "sa");
  EXPECT_EQ(s->labels.at("app"), "web");
  EXPECT_EQ(s->annotations.at("team"), "a");
  ASSERT_EQ(s->containers.size(), 1u);
  ASSERT_EQ(s->init_containers.size(), 1u);
  const auto& c = s->containers[0];
  EXPECT_EQ(c.env.at(1).field_path, "metadata.labels['app']");
  EXPECT_EQ(probe_port(*c.readiness, c), 8080);
  EXPECT_EQ(probe_port(*c.liveness, c), 8080);  // named "http"
  EXPECT_EQ(c.startup->failure_threshold, 30);
  EXPECT_EQ(c.startup->period_seconds, 10);
  EXPECT_TRUE(c.stdin);
  EXPECT_FALSE(c.stdin_once);
  EXPECT_TRUE(c.tty);
  EXPECT_FALSE(s->init_containers[0].stdin);
}

TEST(PodSpecTest, KubeletLeniencesAreKept) {
  json::value pod = json::parse(kValidPod);
  // kubelet falls back to a number for a port string that names no port.
  set_path(pod, kP + "readinessProbe/tcpSocket/port", "9090");
  // kube still accepts a negative grace period and treats it as 1 s.
  set_path(pod, "spec/terminationGracePeriodSeconds", -5);
  set_path(pod, kP + "env/1/valueFrom/fieldRef/fieldPath", "spec.host");  // old name of spec.nodeName
  // A named port no container declares: the probe fails when it runs, as kubelet's does.
  set_path(pod, kP + "livenessProbe/httpGet/port", "metrics");
  set_path(pod, kP + "readinessProbe/periodSeconds", 0);  // 0 is kube's "unset": the default
  auto s = decode_pod(pod);
  ASSERT_TRUE(s) << s.error().message();
  const auto& c = s->containers[0];
  EXPECT_EQ(probe_port(*c.readiness, c), 9090);
  EXPECT_EQ(c.readiness->period_seconds, 10);
  EXPECT_EQ(probe_port(*c.liveness, c), 0);
  EXPECT_EQ(s->grace_period_seconds, 1);
  set_path(pod, "spec/terminationGracePeriodSeconds", INT64_MAX);
  EXPECT_EQ(decode_pod(pod)->grace_period_seconds, kMaxGraceSeconds);
}

TEST(PodSpecTest, IdentityAndDeletionOfAPodTheNodeCannotRun) {
  json::value pod = json::parse(kValidPod);
  set_path(pod, kP + "readinessProbe/tcpSocket/port", "99999999999");
  set_path(pod, "spec/initContainers/0/name", "Bad Name");
  set_path(pod, "metadata/deletionTimestamp", "2030-01-01T00:00:00Z");
  set_path(pod, "metadata/deletionGracePeriodSeconds", -3);
  ASSERT_FALSE(decode_pod(pod));
  auto id = decode_pod_identity(pod);
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->key(), "shop/web");
  EXPECT_TRUE(id->deleting);
  EXPECT_EQ(id->deletion_grace_seconds, 0);  // clamped
  ASSERT_EQ(id->containers.size(), 1u);
  EXPECT_EQ(id->containers[0].name, "app");
  EXPECT_FALSE(id->containers[0].readiness);
  EXPECT_TRUE(id->init_containers.empty());  // its name is not one the node may use

  set_path(pod, "metadata/uid", "../x");
  EXPECT_FALSE(decode_pod_identity(pod));
  EXPECT_FALSE(decode_pod_identity(json::parse("[]")));
  EXPECT_FALSE(decode_pod_identity(json::parse(R"({"metadata": {"uid": "u", "name": 5}})")));

  EXPECT_FALSE(decode_deletion(json::parse("7")).deleting);
  auto d = decode_deletion(json::parse(
      R"({"metadata": {"deletionTimestamp": "x", "deletionGracePeriodSeconds": 18446744073709551615}})"));
  EXPECT_TRUE(d.deleting);
  EXPECT_EQ(d.grace_seconds, kMaxGraceSeconds);
  EXPECT_FALSE(decode_deletion(json::parse(R"({"metadata": {"deletionTimestamp": null}})")).deleting);
}

TEST(PodSpecTest, UidsThatMayNameFiles) {
  EXPECT_TRUE(valid_pod_uid("0b5c6f6e-1111-4222-8333-944455556666"));
  for (const char* bad : {"", "..", "a/b", "a b", "a\nb", "ü"}) EXPECT_FALSE(valid_pod_uid(bad)) << bad;
  EXPECT_FALSE(valid_pod_uid(std::string(129, 'a')));
}

}  // namespace
}  // namespace podnet::runtime
