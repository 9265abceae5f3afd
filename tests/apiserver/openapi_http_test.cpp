// GET /openapi/v2 over real TLS, as kube-openapi answers it: the encoding chosen by Accept, one
// ETag for both, conditional requests, 406, and who may read it.
#include "api_fixture.h"
#include "apiserver/auth/node_credential.h"
#include "apiserver/endpoints/openapi_v2_proto.h"
#include "client/kubeconfig.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;

constexpr const char* kV2 = "/openapi/v2";
constexpr const char* kProtobuf = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
// What kubectl (client-go's discovery client) sends.
constexpr const char* kKubectlAccept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

class OpenApiV2HttpTest : public ApiServerTest {
 protected:
  HttpResult get(const std::string& accept, const http::fields& extra = {}) {
    return admin().request(http::verb::get, kV2, "", "", accept, extra);
  }
  static std::string header(const HttpResult& r, http::field f) { return std::string(r.headers[f]); }
};

TEST_F(OpenApiV2HttpTest, JsonAndProtobufAreTheSameDocument) {
  auto as_json = get("application/json");
  ASSERT_EQ(as_json.status, 200) << as_json.body;
  EXPECT_EQ(header(as_json, http::field::content_type), "application/json");
  json::value doc = as_json.json();
  EXPECT_EQ(doc.at("swagger"), "2.0");
  EXPECT_TRUE(doc.at("definitions").as_object().contains("io.k8s.api.core.v1.Pod"));

  auto as_pb = get(kKubectlAccept);
  ASSERT_EQ(as_pb.status, 200) << as_pb.body;
  EXPECT_EQ(header(as_pb, http::field::content_type), kProtobuf);  // the current name, as kube
  auto encoded = encode_openapi_v2(doc);
  ASSERT_TRUE(encoded) << encoded.error().message();
  EXPECT_TRUE(as_pb.body == *encoded) << "the protobuf is not the encoding of the JSON served";
  EXPECT_EQ(get(kProtobuf).body, as_pb.body);

  // kube-openapi: one strong ETag, the quoted upper-case hex SHA-512 of the JSON, for both.
  std::string etag = header(as_json, http::field::etag);
  ASSERT_EQ(etag.size(), 130u) << etag;
  EXPECT_EQ(etag.front(), '"');
  EXPECT_EQ(etag.find_first_not_of("0123456789ABCDEF", 1), 129u) << etag;
  EXPECT_EQ(header(as_pb, http::field::etag), etag);
  for (const auto* r : {&as_json, &as_pb}) {
    EXPECT_EQ(header(*r, http::field::vary), "Accept");
    EXPECT_TRUE(header(*r, http::field::last_modified).ends_with(" GMT"))
        << header(*r, http::field::last_modified);
    EXPECT_EQ(header(*r, http::field::cache_control), "no-cache, private");
  }
}

TEST_F(OpenApiV2HttpTest, AcceptNegotiation) {
  struct Case {
    const char* accept;
    int status;
    const char* content_type;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", 200, "application/json"},
           {"*/*", 200, "application/json"},
           {"application/*", 200, "application/json"},
           {"text/html, application/json;q=0.9", 200, "application/json"},
           {"application/json;q=0.5, application/com.github.proto-openapi.spec.v2.v1.0+protobuf", 200,
            kProtobuf},
           {"application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json", 200, kProtobuf},
           {"*/*;q=0.1, application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 200, kProtobuf},
           {"application/json;q=0, application/yaml", 406, ""},
           {"text/html", 406, ""},
           {"application/json;q=bad", 406, ""},
       }) {
    auto r = get(c.accept);
    EXPECT_EQ(r.status, c.status) << c.accept;
    EXPECT_EQ(header(r, http::field::content_type), c.content_type) << c.accept;
  }
}

TEST_F(OpenApiV2HttpTest, ConditionalRequestsGet304) {
  auto first = get(kKubectlAccept);
  ASSERT_EQ(first.status, 200);
  std::string etag = header(first, http::field::etag);
  std::string modified = header(first, http::field::last_modified);

  auto cached = [&](http::field f, const std::string& value) {
    http::fields h;
    h.set(f, value);
    return get(kKubectlAccept, h);
  };
  auto same = cached(http::field::if_none_match, etag);
  EXPECT_EQ(same.status, 304);
  EXPECT_EQ(same.body, "");
  EXPECT_EQ(same.headers.count(http::field::content_length), 0u) << "a 304 carries no Content-Length";
  EXPECT_EQ(header(same, http::field::etag), etag);
  EXPECT_EQ(cached(http::field::if_none_match, "\"other\", W/" + etag).status, 304);
  EXPECT_EQ(cached(http::field::if_none_match, "*").status, 304);
  EXPECT_EQ(cached(http::field::if_none_match, "\"other\"").status, 200);
  EXPECT_EQ(cached(http::field::if_modified_since, modified).status, 304);
  EXPECT_EQ(cached(http::field::if_modified_since, "Thu, 01 Jan 1970 00:00:00 GMT").status, 200);
  EXPECT_EQ(cached(http::field::if_modified_since, "yesterday").status, 200);
  // If-None-Match decides when both are given, as in Go's http.ServeContent.
  http::fields both;
  both.set(http::field::if_none_match, "\"other\"");
  both.set(http::field::if_modified_since, modified);
  EXPECT_EQ(get(kKubectlAccept, both).status, 200);
}

TEST_F(OpenApiV2HttpTest, EveryAuthenticatedUserMayReadIt) {
  std::string path = dir_.path() + "/node1.kubeconfig";
  ASSERT_TRUE(write_node_kubeconfig(server_->pki_dir(), "node1",
                                    "https://127.0.0.1:" + std::to_string(server_->port()), path));
  auto access = client::load_kubeconfig(path);
  ASSERT_TRUE(access);
  TlsClient node(server_->port(), ca_pem_, KeyPair{access->client_cert_pem, access->client_key_pem});
  EXPECT_EQ(node.request(http::verb::get, kV2, "", "", kKubectlAccept).status, 200);
  EXPECT_EQ(anonymous().request(http::verb::get, kV2, "", "", kKubectlAccept).status, 401);
}

}  // namespace
}  // namespace podnet::apiserver::testing
