// Authentication by client certificate (anonymous is 401 everywhere), health and discovery.
#include "api_fixture.h"

namespace podnet::apiserver::testing {
namespace {

TEST_F(ApiServerTest, AnonymousGets401StatusOnEveryPath) {
  for (const char* path : {"/api/v1/namespaces", "/version", "/healthz", "/apis", "/nonexistent"}) {
    auto r = anonymous().get(path);
    EXPECT_EQ(r.status, 401) << path << " " << r.error;
    EXPECT_EQ(str(r.json(), {"reason"}), "Unauthorized") << path;
    EXPECT_EQ(str(r.json(), {"kind"}), "Status") << path;
  }
}

TEST_F(ApiServerTest, CertificateSignedByAnotherCaIsRejected) {
  auto other_ca = make_ca("other");
  ASSERT_TRUE(other_ca);
  CertRequest req{"podnet-admin", {"system:masters"}};
  req.client_auth = true;
  auto forged = make_leaf(*other_ca, req);
  ASSERT_TRUE(forged);
  auto r = TlsClient(server_->port(), ca_pem_, *forged).get("/api/v1/namespaces");
  EXPECT_NE(r.status, 200) << "a certificate from an unknown CA must never authenticate";
}

TEST_F(ApiServerTest, AdminCertificateIsSystemMasters) {
  auto subject = certificate_subject(admin_.cert_pem);
  ASSERT_TRUE(subject);
  EXPECT_EQ(subject->organizations, std::vector<std::string>{"system:masters"});
}

TEST_F(ApiServerTest, HealthEndpoints) {
  for (const char* path : {"/healthz", "/livez", "/readyz"}) {
    auto r = admin().get(path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, "ok");
  }
}

TEST_F(ApiServerTest, DefaultNamespacesExist) {
  auto r = admin().get("/api/v1/namespaces");
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<std::string> names;
  const boost::json::value r_json = r.json();
  for (const auto& item : r_json.at("items").as_array()) names.push_back(str(item, {"metadata", "name"}));
  EXPECT_NE(std::find(names.begin(), names.end(), "default"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "kube-system"), names.end());
  EXPECT_EQ(str(r.json(), {"kind"}), "NamespaceList");
}

TEST_F(ApiServerTest, DiscoveryDocuments) {
  auto version = admin().get("/version");
  EXPECT_EQ(str(version.json(), {"major"}), "1");

  auto core = admin().get("/api/v1");
  ASSERT_EQ(core.status, 200);
  bool saw_pods = false, saw_pod_status = false;
  const boost::json::value core_json = core.json();
  for (const auto& res : core_json.at("resources").as_array()) {
    if (str(res, {"name"}) == "pods") {
      saw_pods = true;
      EXPECT_EQ(str(res, {"shortNames"}), "[\"po\"]");
      EXPECT_EQ(str(res, {"categories"}), "[\"all\"]");
      EXPECT_EQ(str(res, {"namespaced"}), "true");
    }
    if (str(res, {"name"}) == "pods/status") saw_pod_status = true;
  }
  EXPECT_TRUE(saw_pods && saw_pod_status);

  auto groups = admin().get("/apis");
  ASSERT_EQ(groups.status, 200);
  EXPECT_NE(groups.body.find("\"discovery.k8s.io/v1\""), std::string::npos);
  EXPECT_NE(groups.body.find("\"networking.k8s.io/v1\""), std::string::npos);

  auto netpol = admin().get("/apis/networking.k8s.io/v1");
  ASSERT_EQ(netpol.status, 200);
  EXPECT_NE(netpol.body.find("\"netpol\""), std::string::npos);
  EXPECT_EQ(admin().get("/apis/nope.example.com/v1").status, 404);
}

}  // namespace
}  // namespace podnet::apiserver::testing
