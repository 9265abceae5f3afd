// The OpenAPI v2 document and its protobuf form: wire-format writing against the protobuf
// documentation's own examples, the encoder on a small document byte for byte and on what it
// refuses, the generated document's contents (the extensions kubectl's strategic merge and
// validation read), and the real document decoded by an independent decoder (protoc) with gnostic's
// message definitions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "apiserver/endpoints/openapi.h"
#include "apiserver/endpoints/openapi_v2_proto.h"
#include "apiserver/endpoints/protobuf_wire.h"
#include "common/files.h"
#include "hand_encoded.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace podnet::apiserver {
namespace {

namespace json = boost::json;
using protobuf::WireReader;
using protobuf::WireWriter;

std::string hex(const std::string& bytes) {
  std::string out;
  char buf[4];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

using hand_encoded::number;
// A length-delimited field: a string, bytes or an embedded message.
std::string field(int n, const std::string& data) {
  return hand_encoded::bytes(n, data);
}

TEST(ProtobufWire, WriterMatchesTheEncodingGuideExamples) {
  WireWriter w;
  w.uint64(1, 150);        // "08 96 01" in the protobuf encoding guide
  w.string(2, "testing");  // "12 07 74 65 73 74 69 6e 67"
  EXPECT_EQ(hex(w.bytes()), "089601120774657374696e67");
}

TEST(ProtobufWire, Proto3DefaultsAreLeftOutExceptWhereTheyMustBeWritten) {
  WireWriter w;
  w.uint64(1, 0);
  w.string(2, "");
  w.boolean(3, false);
  w.float64(4, 0.0);
  EXPECT_EQ(w.bytes(), "");
  w.present_bool(5, false);  // a oneof member
  w.message(6, "");          // a set, empty submessage
  EXPECT_EQ(hex(w.bytes()), "28003200");
}

TEST(ProtobufWire, NegativeInt64TakesTenBytesAndDoublesAreFixed64) {
  WireWriter w;
  w.int64(1, -1);
  w.float64(2, 1.5);
  EXPECT_EQ(hex(w.bytes()),
            "08ffffffffffffffffff01"
            "11000000000000f83f");
}

TEST(ProtobufWire, ReaderReadsBackWhatTheWriterWrote) {
  WireWriter inner;
  inner.string(1, "x");
  WireWriter w;
  w.uint64(1, 300);
  w.message(2, inner.bytes());
  w.float64(3, 2.0);
  w.string(4, std::string(200, 'a'));  // a two-byte length
  std::vector<protobuf::WireField> got;
  ASSERT_TRUE(protobuf::each_field(w.bytes(), [&](const protobuf::WireField& f) { got.push_back(f); }));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].varint, 300u);
  EXPECT_EQ(got[1].bytes, inner.bytes());
  EXPECT_EQ(got[2].wire_type, protobuf::kFixed64);
  EXPECT_EQ(got[3].bytes.size(), 200u);

  std::string truncated = w.bytes().substr(0, w.bytes().size() - 1);
  EXPECT_FALSE(protobuf::each_field(truncated, [](const protobuf::WireField&) {}));
  WireReader overlong(std::string(11, '\xff'));  // a varint longer than ten bytes
  EXPECT_FALSE(overlong.next());
  EXPECT_TRUE(overlong.failed());
}

TEST(OpenApiV2Proto, SmallDocumentByteForByte) {
  auto doc = json::parse(R"({
    "swagger": "2.0",
    "info": {"title": "T", "version": "1"},
    "definitions": {
      "A": {"type": "object", "required": ["b"],
            "properties": {"b": {"type": "string"}},
            "additionalProperties": false,
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "A", "version": "v1"}]}}})");
  auto pb = encode_openapi_v2(doc);
  ASSERT_TRUE(pb) << pb.error().message();
  std::string any_gvk = field(2, R"([{"group":"","kind":"A","version":"v1"}])");  // Any.yaml
  std::string schema_a = field(19, "b") +                                         // required
                         field(21, number(2, 0)) +        // additionalProperties: false
                         field(22, field(1, "object")) +  // type
                         field(25, field(1, field(1, "b") + field(2, field(22, field(1, "string"))))) +
                         field(31, field(1, "x-kubernetes-group-version-kind") + field(2, any_gvk));
  std::string expected = field(1, "2.0") + field(2, field(1, "T") + field(2, "1")) +
                         field(9, field(1, field(1, "A") + field(2, schema_a)));
  EXPECT_EQ(hex(*pb), hex(expected));
}

TEST(OpenApiV2Proto, ParametersByTheirLocationAndReferences) {
  auto doc = json::parse(R"({"paths": {"/x": {
      "parameters": [{"name": "name", "in": "path", "required": true, "type": "string"},
                     {"$ref": "#/parameters/p"}],
      "get": {"parameters": [{"name": "limit", "in": "query", "type": "integer"}],
              "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/X"}},
                            "404": {"$ref": "#/responses/nf"}}}}}})");
  auto pb = encode_openapi_v2(doc);
  ASSERT_TRUE(pb) << pb.error().message();
  // Path parameter: ParametersItem{1: Parameter{2: NonBodyParameter{4: PathParameterSubSchema}}}.
  std::string path_param =
      field(1, field(2, field(4, number(1, 1) + field(2, "path") + field(4, "name") + field(5, "string"))));
  std::string ref_param = field(2, field(1, "#/parameters/p"));
  std::string query_param =
      field(1, field(2, field(3, field(2, "query") + field(4, "limit") + field(6, "integer"))));
  std::string responses =
      field(1, field(1, "200") +
                   field(2, field(1, field(1, "OK") + field(2, field(1, field(1, "#/definitions/X")))))) +
      field(1, field(1, "404") + field(2, field(2, field(1, "#/responses/nf"))));
  std::string get = field(8, query_param) + field(9, responses);
  std::string item = field(2, get) + field(9, path_param) + field(9, ref_param);
  EXPECT_EQ(hex(*pb), hex(field(8, field(2, field(1, "/x") + field(2, item)))));
}

TEST(OpenApiV2Proto, RefusesWhatItCannotEncodeNamingThePlace) {
  struct Case {
    const char* doc;
    const char* error;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"({"securityDefinitions": {}})", "$: field \"securityDefinitions\" is not supported"},
           {R"({"info": {"title": 5}})", "$.info.title: want a string"},
           {R"({"definitions": {"A": {"xml": {}}}})", "$.definitions.A: field \"xml\" is not supported"},
           {R"({"definitions": {"A": {"maxLength": 1.5}}})", "$.definitions.A.maxLength: want an integer"},
           {R"({"definitions": {"A": {"required": ["a", 1]}}})",
            "$.definitions.A.required[1]: want a string"},
           {R"({"paths": {"/x": {"get": {"parameters": [{"in": "cookie"}]}}}})",
            "$.paths./x.get.parameters[0]: parameter \"in\" is \"cookie\""},
           {R"({"definitions": {"x-not-a-type": {}}})", "field \"x-not-a-type\" is not supported"},
           {R"([])", "$: want an object"},
       }) {
    auto pb = encode_openapi_v2(json::parse(c.doc));
    ASSERT_FALSE(pb) << c.doc;
    EXPECT_NE(pb.error().message().find(c.error), std::string::npos) << pb.error().message();
  }
}

const json::object& definition(const json::value& doc, const std::string& name) {
  return doc.at("definitions").at(name).as_object();
}

// Every "$ref" in `v`, recursively.
void collect_refs(const json::value& v, std::set<std::string>& out) {
  if (const auto* o = v.if_object()) {
    for (const auto& [k, x] : *o) {
      if (k == "$ref" && x.is_string()) out.insert(std::string(x.get_string()));
      collect_refs(x, out);
    }
  } else if (const auto* a = v.if_array()) {
    for (const auto& x : *a) collect_refs(x, out);
  }
}

TEST(OpenApiV2Document, KindsCarryTheExtensionsKubectlReads) {
  auto registry = ResourceRegistry::builtin();
  json::value doc = openapi_v2_document(registry);
  EXPECT_EQ(doc.at("swagger"), "2.0");

  const auto& pod = definition(doc, "io.k8s.api.core.v1.Pod");
  EXPECT_EQ(pod.at("x-kubernetes-group-version-kind"),
            json::parse(R"([{"group":"","version":"v1","kind":"Pod"}])"));
  EXPECT_EQ(pod.at("properties").at("spec").at("$ref"), "#/definitions/io.k8s.api.core.v1.PodSpec");
  const auto& containers = definition(doc, "io.k8s.api.core.v1.PodSpec").at("properties").at("containers");
  EXPECT_EQ(containers.at("x-kubernetes-patch-merge-key"), "name");
  EXPECT_EQ(containers.at("x-kubernetes-patch-strategy"), "merge");
  EXPECT_EQ(containers.at("items").at("$ref"), "#/definitions/io.k8s.api.core.v1.Container");
  const auto& ports = definition(doc, "io.k8s.api.core.v1.ServiceSpec").at("properties").at("ports");
  EXPECT_EQ(ports.at("x-kubernetes-patch-merge-key"), "port");
  EXPECT_EQ(definition(doc, "io.k8s.api.discovery.v1.EndpointSlice").at("x-kubernetes-group-version-kind"),
            json::parse(R"([{"group":"discovery.k8s.io","version":"v1","kind":"EndpointSlice"}])"));
  // v3's markers have no place in v2: a free-form object is a map, int-or-string a string.
  EXPECT_EQ(json::serialize(doc).find("x-kubernetes-preserve-unknown-fields"), std::string::npos);
  EXPECT_EQ(json::serialize(doc).find("allOf"), std::string::npos);

  std::set<std::string> refs;
  collect_refs(doc, refs);
  for (const auto& r : refs) {
    ASSERT_TRUE(r.starts_with("#/definitions/")) << r;
    EXPECT_TRUE(doc.at("definitions").as_object().contains(r.substr(14))) << r << " does not resolve";
  }
}

// kubectl's v2 check for server-side field validation: a PATCH operation of the kind with a
// fieldValidation query parameter.
TEST(OpenApiV2Document, EveryKindAdvertisesFieldValidationOnPatch) {
  auto registry = ResourceRegistry::builtin();
  json::value doc = openapi_v2_document(registry);
  for (const auto& t : registry.all()) {
    std::string path = "/" + std::string(t.group.empty() ? "api/" : "apis/" + t.group + "/") + t.version +
                       (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural + "/{name}";
    const json::value* item = doc.at("paths").as_object().if_contains(path);
    ASSERT_TRUE(item) << path;
    const auto& patch = item->at("patch");
    EXPECT_EQ(patch.at("x-kubernetes-group-version-kind").at("kind"), json::value(t.kind));
    bool validation = false;
    for (const auto& p : patch.at("parameters").as_array())
      validation |= p.at("name") == "fieldValidation" && p.at("in") == "query";
    EXPECT_TRUE(validation) << path;
  }
}

// protoc decodes the encoding with gnostic's message definitions (tests/apiserver/data), every
// byte accounted for (no field it does not know), and encodes its decoding back to the same bytes.
TEST(OpenApiV2Proto, RealDocumentDecodesWithProtoc) {
  if (::access("/usr/bin/protoc", X_OK) != 0)
    GTEST_SKIP()
        << "SKIPPED: /usr/bin/protoc not installed (Debian protobuf-compiler; scripts/install-deps.sh)";
  auto registry = ResourceRegistry::builtin();
  auto pb = encode_openapi_v2(openapi_v2_document(registry));
  ASSERT_TRUE(pb) << pb.error().message();
  podnet::testing::TempDir dir("pn-openapi-v2");
  std::ofstream(dir.path() + "/doc.pb", std::ios::binary) << *pb;
  const std::string protoc =
      "/usr/bin/protoc --proto_path=" PODNET_SOURCE_DIR "/tests/apiserver/data openapiv2.proto ";
  auto decode = podnet::testing::shell(protoc + "--decode=openapi.v2.Document < " + dir.path() +
                                       "/doc.pb > " + dir.path() + "/doc.txt");
  ASSERT_EQ(decode.rc, 0) << decode.out;
  std::string text = read_file(dir.path() + "/doc.txt").value_or("");
  // Fields protoc cannot name print as bare numbers ("31: ...").
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    size_t b = line.find_first_not_of(' ');
    ASSERT_FALSE(b != std::string::npos && std::isdigit(static_cast<unsigned char>(line[b]))) << line;
  }
  EXPECT_NE(text.find(R"(yaml: "[{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"}]")"),
            std::string::npos);
  EXPECT_NE(text.find(R"(name: "x-kubernetes-patch-merge-key")"), std::string::npos);
  EXPECT_NE(text.find(R"(_ref: "#/definitions/io.k8s.api.core.v1.PodSpec")"), std::string::npos);
  auto encode = podnet::testing::shell(protoc + "--encode=openapi.v2.Document < " + dir.path() +
                                       "/doc.txt > " + dir.path() + "/again.pb");
  ASSERT_EQ(encode.rc, 0) << encode.out;
  EXPECT_TRUE(read_file(dir.path() + "/again.pb").value_or("") == *pb) << "protoc re-encodes different bytes";
}

}  // namespace
}  // namespace podnet::apiserver
