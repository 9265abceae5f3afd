// kubeconfig parsing: the YAML subset (kubectl's and podnet server's output), JSON, file
// references, and errors that name the field and line.
#include "client/kubeconfig.h"

#include <gtest/gtest.h>

#include <fstream>

#include "client/yaml_lite.h"
#include "support/temp_dir.h"

namespace podnet::client {
namespace {

// base64 of "CA PEM", "CERT PEM", "KEY PEM"
constexpr const char* kKubectlStyle = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EgUEVN
    server: https://10.0.0.1:6443
  name: prod
- cluster:
    insecure-skip-tls-verify: true
    server: "https://[fd00::1]:6443/prefix"   # quoted, with a comment
  name: lab
contexts:
- context:
    cluster: prod
    user: admin
  name: prod-admin
- context:
    cluster: lab
    user: 'bot'
  name: lab-bot
current-context: prod-admin
kind: Config
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: Q0VSVCBQRU0=
    client-key-data: S0VZIFBFTQ==
- name: bot
  user:
    token: abc.def
)";

TEST(Kubeconfig, CurrentContextWithEmbeddedData) {
  auto a = parse_kubeconfig(kKubectlStyle, "");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->server, "https://10.0.0.1:6443");
  EXPECT_EQ(a->ca_pem, "CA PEM");
  EXPECT_EQ(a->client_cert_pem, "CERT PEM");
  EXPECT_EQ(a->client_key_pem, "KEY PEM");
  EXPECT_EQ(a->token, "");
  EXPECT_FALSE(a->insecure_skip_tls_verify);
  EXPECT_EQ(a->context, "prod-admin");
}

TEST(Kubeconfig, ExplicitContextTokenAndInsecure) {
  auto a = parse_kubeconfig(kKubectlStyle, "", "lab-bot");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->server, "https://[fd00::1]:6443/prefix");
  EXPECT_TRUE(a->insecure_skip_tls_verify);
  EXPECT_EQ(a->token, "abc.def");
  EXPECT_TRUE(a->client_cert_pem.empty());
}

TEST(Kubeconfig, PodnetServerStyleIndentedSequences) {
  // What src/apiserver/kubeconfig.cpp writes: "- name:" first, nested mapping after.
  const char* text =
      "apiVersion: v1\nkind: Config\nclusters:\n- name: podnet\n  cluster:\n    server: "
      "https://127.0.0.1:6443\n"
      "    certificate-authority-data: Q0EgUEVN\nusers:\n- name: podnet-admin\n  user:\n"
      "    client-certificate-data: Q0VSVCBQRU0=\n    client-key-data: S0VZIFBFTQ==\ncontexts:\n"
      "- name: podnet\n  context:\n    cluster: podnet\n    user: podnet-admin\ncurrent-context: podnet\n";
  auto a = parse_kubeconfig(text, "");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->server, "https://127.0.0.1:6443");
  EXPECT_EQ(a->client_key_pem, "KEY PEM");
}

TEST(Kubeconfig, Json) {
  const char* text = R"({"apiVersion":"v1","kind":"Config","current-context":"c",
    "clusters":[{"name":"k","cluster":{"server":"https://127.0.0.1:1","insecure-skip-tls-verify":true}}],
    "contexts":[{"name":"c","context":{"cluster":"k","user":"u"}}],
    "users":[{"name":"u","user":{"token":"t0k"}}]})";
  auto a = parse_kubeconfig(text, "");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->insecure_skip_tls_verify);
  EXPECT_EQ(a->token, "t0k");
}

TEST(Kubeconfig, FileReferencesAreRelativeToTheKubeconfig) {
  podnet::testing::TempDir dir("pn-kubeconfig");
  std::ofstream(dir.path() + "/ca.crt") << "FILE CA";
  std::ofstream(dir.path() + "/c.crt") << "FILE CERT";
  std::ofstream(dir.path() + "/c.key") << "FILE KEY";
  std::ofstream(dir.path() + "/config")
      << "clusters:\n- name: k\n  cluster:\n    server: https://h:1\n    certificate-authority: ca.crt\n"
         "users:\n- name: u\n  user:\n    client-certificate: c.crt\n    client-key: " +
             dir.path() +
             "/c.key\n"
             "contexts:\n- name: c\n  context: {cluster: k}\n";
  // The flow mapping above is outside the subset: refused with its line.
  auto bad = load_kubeconfig(dir.path() + "/config", "c");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("line 13"), std::string::npos) << bad.error().message();

  std::ofstream(dir.path() + "/config")
      << "clusters:\n- name: k\n  cluster:\n    server: https://h:1\n    certificate-authority: ca.crt\n"
         "users:\n- name: u\n  user:\n    client-certificate: c.crt\n    client-key: " +
             dir.path() +
             "/c.key\n"
             "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n";
  auto a = load_kubeconfig(dir.path() + "/config", "c");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->ca_pem, "FILE CA");
  EXPECT_EQ(a->client_cert_pem, "FILE CERT");
  EXPECT_EQ(a->client_key_pem, "FILE KEY");
}

struct BadCase {
  const char* name;
  std::string text;
  std::string context;
  std::string error_part;
};

void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name;
}

std::string with_user(const std::string& user_body) {
  return "clusters:\n- name: k\n  cluster:\n    server: https://h:1\ncontexts:\n- name: c\n  context:\n"
         "    cluster: k\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n" +
         user_body;
}

class KubeconfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(KubeconfigErrors, NameFieldAndLine) {
  auto a = parse_kubeconfig(GetParam().text, "/nonexistent", GetParam().context);
  ASSERT_FALSE(a) << GetParam().name;
  EXPECT_NE(a.error().message().find(GetParam().error_part), std::string::npos)
      << GetParam().name << ": " << a.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, KubeconfigErrors,
    ::testing::Values(
        BadCase{"tab", "clusters:\n\t- name: x\n", "", "line 2: tab in indentation"},
        BadCase{"bad indentation", "a: 1\n  b: 2\n", "", "line 2: unexpected indentation"},
        BadCase{"duplicate key", "a: 1\na: 2\n", "", "line 2: duplicate key a"},
        BadCase{"anchor", "a: &x 1\n", "", "line 1: unsupported YAML"},
        BadCase{"block scalar", "a: |\n  text\n", "", "line 1: unsupported YAML"},
        BadCase{"unterminated quote", "a: \"abc\n", "", "line 1: unterminated quoted string"},
        BadCase{"not key value", "a: 1\njunk\n", "", "line 2: expected \"key: value\""},
        BadCase{"no current context", "clusters: []\n", "", "current-context: missing"},
        BadCase{"unknown context", with_user("    token: t\n"), "other",
                "contexts (line 6): no entry named \"other\""},
        BadCase{"bad base64", with_user("    client-certificate-data: '***'\n    client-key-data: QQ==\n"),
                "", "users[0].user.client-certificate-data (line 14): invalid base64"},
        BadCase{"cert without key", with_user("    client-certificate-data: QQ==\n"), "",
                "users[0].user (line 14): client-certificate and client-key must be given together"},
        BadCase{"missing file", with_user("    client-certificate: c.crt\n    client-key: c.key\n"), "",
                "users[0].user.client-certificate (line 14): open /nonexistent/c.crt"},
        BadCase{"exec plugin", with_user("    exec:\n      command: aws\n"), "",
                "users[0].user.exec (line 15): credential plugins are not supported"},
        BadCase{"non-https server",
                "clusters:\n- name: k\n  cluster:\n    server: ftp://x\ncontexts:\n- name: c\n"
                "  context:\n    cluster: k\ncurrent-context: c\n",
                "", "clusters[0].cluster.server (line 4): must be an http(s) URL"},
        BadCase{"bad bool",
                "clusters:\n- name: k\n  cluster:\n    server: https://x\n    insecure-skip-tls-verify: yes\n"
                "contexts:\n- name: c\n  context:\n    cluster: k\ncurrent-context: c\n",
                "", "clusters[0].cluster.insecure-skip-tls-verify (line 5): must be true or false"},
        BadCase{"bad json", "{\"a\": ", "", "JSON"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

TEST(YamlLite, ScalarsSequencesAndComments) {
  auto n =
      parse_yaml_lite("# top\nlist:\n  - a\n  - 'it''s'\n  - \"x\\ny\"\n  -\n    k: v\nempty:\nnull: ~\n");
  ASSERT_TRUE(n) << n.error().message();
  const YamlNode* list = n->find("list");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->seq.size(), 4u);
  EXPECT_EQ(list->seq[0].scalar, "a");
  EXPECT_EQ(list->seq[1].scalar, "it's");
  EXPECT_EQ(list->seq[2].scalar, "x\ny");
  EXPECT_EQ(list->seq[3].find("k")->scalar, "v");
  EXPECT_EQ(list->seq[3].find("k")->line, 7);
  EXPECT_EQ(n->find("empty")->kind, YamlNode::Kind::kNull);
  EXPECT_EQ(n->find("null")->kind, YamlNode::Kind::kNull);
}

TEST(Base64, DecodesAndRejects) {
  EXPECT_EQ(*base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(*base64_decode("aGVs\nbG8"), "hello");
  EXPECT_FALSE(base64_decode("a$=="));
  EXPECT_FALSE(base64_decode("aGVsbG8=x"));
}

}  // namespace
}  // namespace podnet::client
