// Certificate generation and the on-disk bootstrap: reuse across starts, private-key modes,
// re-issue of the serving certificate for a new address, and the kubeconfig's shape.
#include "apiserver/auth/pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "apiserver/auth/kubeconfig.h"
#include "apiserver/auth/tls_bootstrap.h"
#include "common/files.h"
#include "support/temp_dir.h"

namespace podnet::apiserver {
namespace {

TEST(Pki, LeafCarriesSubject) {
  auto ca = make_ca("test-ca");
  ASSERT_TRUE(ca) << ca.error().message();
  CertRequest req{"alice", {"devs", "ops"}};
  req.client_auth = true;
  auto leaf = make_leaf(*ca, req);
  ASSERT_TRUE(leaf) << leaf.error().message();
  auto subject = certificate_subject(leaf->cert_pem);
  ASSERT_TRUE(subject);
  EXPECT_EQ(subject->common_name, "alice");
  EXPECT_EQ(subject->organizations, (std::vector<std::string>{"devs", "ops"}));
  EXPECT_FALSE(certificate_subject("not a pem"));
}

TEST(Bootstrap, ReusesCredentialsAndKeepsKeysPrivate) {
  podnet::testing::TempDir dir("podnet-pki");
  BootstrapOptions options{dir.path() + "/pki"};
  auto first = ensure_credentials(options);
  ASSERT_TRUE(first) << first.error().message();
  auto second = ensure_credentials(options);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->ca.cert_pem, second->ca.cert_pem);
  EXPECT_EQ(first->serving.cert_pem, second->serving.cert_pem);
  EXPECT_EQ(first->admin.key_pem, second->admin.key_pem);
  for (const char* key : {"ca.key", "apiserver.key", "admin.key"}) {
    struct stat st;
    ASSERT_EQ(::stat((options.pki_dir + "/" + key).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
  }
  options.serving_ips = {"192.0.2.10"};
  auto moved = ensure_credentials(options);
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->ca.cert_pem, first->ca.cert_pem);
  EXPECT_NE(moved->serving.cert_pem, first->serving.cert_pem) << "new bind address, new serving certificate";
}

TEST(Kubeconfig, RendersOneClusterUserAndContext) {
  KubeconfigSpec spec{"https://127.0.0.1:6443", "CA", KeyPair{"CERT", "KEY"}};
  std::string out = render_kubeconfig(spec);
  EXPECT_NE(out.find("server: https://127.0.0.1:6443\n"), std::string::npos);
  EXPECT_NE(out.find("certificate-authority-data: Q0E=\n"), std::string::npos);
  EXPECT_NE(out.find("client-key-data: S0VZ\n"), std::string::npos);
  EXPECT_NE(out.find("current-context: podnet-admin@podnet\n"), std::string::npos);
}

}  // namespace
}  // namespace podnet::apiserver
