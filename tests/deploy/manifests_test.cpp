// deploy/ checked offline with the real kubectl (v1.32): every document parses as a Kubernetes
// object; the DaemonSet and the ClusterRoleBinding decode into kubectl's typed Go structs with no
// field lost (a lost field is one the API does not know, which a server would reject under
// strict validation); and the manifests say what docs/up.md promises: narrow RBAC, a privileged
// hostNetwork agent with the CNI and state mounts, podnet-cni installed by an init container, no
// --run-pods, and a kubeconfig our client loads.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <set>
#include <string>

#include "client/kubeconfig.h"
#include "common/files.h"
#include "support/temp_dir.h"

namespace podnet {
namespace {

namespace json = boost::json;
const std::string kDeploy = std::string(PODNET_SOURCE_DIR) + "/deploy";

// stdout only: kubectl's warnings must not end up in the JSON; a failing command is rerun for them.
std::pair<int, std::string> run(const std::string& cmd, bool with_stderr = false) {
  std::string out;
  FILE* p = ::popen(("KUBECONFIG=/dev/null " + cmd + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (!p) return {-1, ""};
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int st = ::pclose(p);
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (rc != 0 && !with_stderr) return run(cmd, true);
  return {rc, out};
}

// kubectl prints one JSON document per input file, back to back.
std::vector<json::value> parse_all(const std::string& text) {
  std::vector<json::value> out;
  json::stream_parser p;
  size_t at = 0;
  while (at < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[at]))) {
      ++at;
      continue;
    }
    boost::system::error_code ec;
    at += p.write_some(text.data() + at, text.size() - at, ec);
    if (ec) {
      ADD_FAILURE() << "kubectl output is not JSON: " << ec.message() << "\n" << text;
      break;
    }
    if (p.done()) {
      out.push_back(p.release());
      p.reset();
    }
  }
  return out;
}

// Every object of deploy/, as kubectl parsed them (no server involved: --local).
std::vector<json::value> objects() {
  auto [rc, out] = run("kubectl annotate --local -f " + kDeploy + " podnet.io/check=1 -o json");
  EXPECT_EQ(rc, 0) << out;
  std::vector<json::value> objs;
  for (auto& v : parse_all(out)) {
    if (v.at("kind") == "List")
      objs.insert(objs.end(), v.at("items").as_array().begin(), v.at("items").as_array().end());
    else
      objs.push_back(std::move(v));
  }
  return objs;
}

const json::value& find(const std::vector<json::value>& objs, const std::string& kind) {
  for (const auto& o : objs)
    if (o.at("kind") == kind.c_str()) return o;
  static json::value none;
  ADD_FAILURE() << "no " << kind << " in deploy/";
  return none;
}

// Paths of `have` missing from `typed` (arrays compared element by element).
void missing_paths(const json::value& have, const json::value& typed, const std::string& at,
                   std::vector<std::string>& out) {
  if (have.is_object()) {
    if (!typed.is_object()) return out.push_back(at);
    for (const auto& [k, v] : have.as_object()) {
      auto* t = typed.as_object().if_contains(k);
      if (!t) {
        out.push_back(at + "." + std::string(k));
        continue;
      }
      missing_paths(v, *t, at + "." + std::string(k), out);
    }
  } else if (have.is_array()) {
    if (!typed.is_array() || typed.as_array().size() < have.as_array().size()) return out.push_back(at);
    for (size_t i = 0; i < have.as_array().size(); ++i)
      missing_paths(have.as_array()[i], typed.as_array()[i], at + "[" + std::to_string(i) + "]", out);
  }
}

// Round-trips one object through a kubectl --local command that decodes it into its Go type.
void expect_typed_round_trip(const json::value& obj, const std::string& kubectl_local_cmd) {
  testing::TempDir dir("pn-deploy");
  ASSERT_TRUE(write_file_atomic(dir.path() + "/obj.json", json::serialize(obj)));
  auto [rc, out] = run("kubectl " + kubectl_local_cmd + " --local -f " + dir.path() + "/obj.json -o json");
  ASSERT_EQ(rc, 0) << out;
  std::vector<std::string> lost;
  missing_paths(obj, json::parse(out), "", lost);
  EXPECT_TRUE(lost.empty()) << "fields unknown to the API: " << ::testing::PrintToString(lost);
}

std::string str(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : "";
}

TEST(Deploy, EveryManifestParsesAsKubernetesObjects) {
  auto objs = objects();
  std::multiset<std::string> kinds;
  for (const auto& o : objs) kinds.insert(str(o.at("kind")));
  EXPECT_EQ(kinds, (std::multiset<std::string>{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet",
                                               "ServiceAccount"}));
}

TEST(Deploy, TypedObjectsKeepEveryField) {
  auto objs = objects();
  expect_typed_round_trip(find(objs, "DaemonSet"), "set env PODNET_CHECK=1");
  expect_typed_round_trip(find(objs, "ClusterRoleBinding"), "set subject --user=podnet-check");
}

TEST(Deploy, RbacIsNarrowAndBoundToTheAgentsAccount) {
  auto objs = objects();
  const auto& sa = find(objs, "ServiceAccount");
  const auto& role = find(objs, "ClusterRole");
  const auto& binding = find(objs, "ClusterRoleBinding");
  const std::set<std::string> known_verbs{"get", "list", "watch", "create", "update", "patch"};
  for (const auto& rule : role.at("rules").as_array()) {
    for (const auto& [key, _] : rule.as_object())
      EXPECT_TRUE(key == "apiGroups" || key == "resources" || key == "verbs") << key;
    for (const auto& r : rule.at("resources").as_array()) {
      EXPECT_NE(str(r), "*");
      EXPECT_NE(str(r), "secrets");
      if (str(r) == "pods" || str(r) == "services" || str(r) == "namespaces" || str(r) == "networkpolicies")
        for (const auto& v : rule.at("verbs").as_array())
          EXPECT_TRUE(v == "get" || v == "list" || v == "watch");
    }
    for (const auto& v : rule.at("verbs").as_array()) EXPECT_TRUE(known_verbs.contains(str(v))) << str(v);
  }
  // The cluster-wide reads a policy agent needs: pods, namespaces and NetworkPolicies.
  auto verbs_on = [&](const std::string& group, const std::string& resource) {
    std::set<std::string> verbs;
    for (const auto& rule : role.at("rules").as_array()) {
      bool in_group = false, has_resource = false;
      for (const auto& g : rule.at("apiGroups").as_array()) in_group = in_group || str(g) == group;
      for (const auto& r : rule.at("resources").as_array()) has_resource = has_resource || str(r) == resource;
      if (in_group && has_resource)
        for (const auto& v : rule.at("verbs").as_array()) verbs.insert(str(v));
    }
    return verbs;
  };
  const std::set<std::string> read{"get", "list", "watch"};
  EXPECT_EQ(verbs_on("networking.k8s.io", "networkpolicies"), read);
  EXPECT_EQ(verbs_on("", "pods"), read);
  EXPECT_EQ(verbs_on("", "namespaces"), read);
  EXPECT_EQ(binding.at("roleRef").at("name"), role.at("metadata").at("name"));
  EXPECT_EQ(binding.at("subjects").at(0).at("name"), sa.at("metadata").at("name"));
  EXPECT_EQ(binding.at("subjects").at(0).at("namespace"), sa.at("metadata").at("namespace"));
}

TEST(Deploy, DaemonSetRunsAPrivilegedHostNetworkAgentWithoutRunPods) {
  auto objs = objects();
  const auto& ds = find(objs, "DaemonSet");
  const auto& pod = ds.at("spec").at("template").at("spec");
  EXPECT_EQ(pod.at("hostNetwork"), true);
  EXPECT_EQ(pod.at("serviceAccountName"), find(objs, "ServiceAccount").at("metadata").at("name"));
  const auto& agent = pod.at("containers").at(0);
  EXPECT_EQ(agent.at("securityContext").at("privileged"), true);
  std::string args;
  for (const auto& a : agent.at("args").as_array()) args += str(a) + " ";
  EXPECT_TRUE(args.starts_with("agent ")) << args;
  EXPECT_EQ(args.find("--run-pods"), std::string::npos) << "the real kubelet runs pods: " << args;
  for (const char* flag : {"--kubeconfig=", "--node-name=$(NODE_NAME)", "--node-ip=$(NODE_IP)",
                           "--overlay=", "--cluster-cidr=", "--state-dir=/var/lib/podnet",
                           "--run-dir=/run/podnet", "--cni-conf-dir=/etc/cni/net.d"})
    EXPECT_NE(args.find(flag), std::string::npos) << flag << " in " << args;

  std::set<std::string> host_paths, mounted;
  std::map<std::string, std::string> volume_path;
  for (const auto& v : pod.at("volumes").as_array())
    volume_path[str(v.at("name"))] = str(v.at("hostPath").at("path"));
  for (const auto& m : agent.at("volumeMounts").as_array()) {
    auto host = volume_path[str(m.at("name"))];
    mounted.insert(host);
    // The kubelet runs podnet-cni on the host with the conflist's paths (IPAM dataDir, stateDir),
    // which the agent writes as it sees them: the run and state dirs sit at the host's path.
    if (host == "/run/podnet" || host == "/var/lib/podnet") EXPECT_EQ(str(m.at("mountPath")), host);
  }
  for (const char* p : {"/etc/cni/net.d", "/opt/cni/bin", "/run/netns", "/var/lib/podnet", "/run/podnet"})
    EXPECT_TRUE(mounted.contains(p)) << p;

  const auto& init = pod.at("initContainers").at(0);
  std::string script = str(init.at("args").at(0));
  EXPECT_NE(script.find("/usr/local/bin/podnet-cni /host/opt/cni/bin/podnet"), std::string::npos) << script;
}

TEST(Deploy, TheInitContainersKubeconfigLoads) {
  auto objs = objects();
  std::string script = str(find(objs, "DaemonSet")
                               .at("spec")
                               .at("template")
                               .at("spec")
                               .at("initContainers")
                               .at(0)
                               .at("args")
                               .at(0));
  size_t begin = script.find("<<EOF\n");
  size_t end = script.find("\nEOF\n");
  ASSERT_TRUE(begin != std::string::npos && end != std::string::npos) << script;
  std::string text = script.substr(begin + 6, end - begin - 6);
  testing::TempDir sa("pn-deploy");
  ASSERT_TRUE(
      write_file_atomic(sa.path() + "/ca.crt", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"));
  ASSERT_TRUE(write_file_atomic(sa.path() + "/token", "tok3n\n"));
  auto subst = [&](const std::string& from, const std::string& to) {
    for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
  };
  subst("${host}", "10.0.0.1");
  subst("${KUBERNETES_SERVICE_PORT}", "6443");
  subst("$sa", sa.path());
  auto access = client::parse_kubeconfig(text, sa.path());
  ASSERT_TRUE(access) << access.error().message() << "\n" << text;
  EXPECT_EQ(access->server, "https://10.0.0.1:6443");
  EXPECT_EQ(access->token, "tok3n");
  EXPECT_FALSE(access->ca_pem.empty());
}

}  // namespace
}  // namespace podnet
