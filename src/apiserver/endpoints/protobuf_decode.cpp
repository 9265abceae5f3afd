// The field numbers of k8s.io/api's generated.proto for the messages involved, over the wire-format
// reader of protobuf_wire.h. Unknown fields are skipped, as protobuf requires; server-owned metadata
// (uid, timestamps, resourceVersion) is not read because create overwrites it anyway.
#include "apiserver/endpoints/protobuf_decode.h"

#include <boost/json.hpp>
#include <cstdint>

#include "apiserver/endpoints/protobuf_wire.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

using protobuf::each_field;
using Field = protobuf::WireField;

json::string str(const Field& f) {
  return json::string(f.bytes);
}

// Go's generated protobuf code writes empty strings and zero numbers that its JSON leaves out
// (omitempty); leaving them out here too keeps defaulting ("" -> None, 0 -> allocate) working.
void set_string(json::object& obj, std::string_view key, const Field& f) {
  if (!f.bytes.empty()) obj[key] = str(f);
}
void set_int(json::object& obj, std::string_view key, int64_t v) {
  if (v != 0) obj[key] = v;
}

// map<string,string> entries are messages {1: key, 2: value}.
void map_entry(const Field& f, json::object& into) {
  std::string key, value;
  each_field(f.bytes, [&](const Field& e) {
    if (e.number == 1) key = e.bytes;
    if (e.number == 2) value = e.bytes;
  });
  into[key] = value;
}

json::object object_meta(std::string_view data) {
  json::object meta, labels, annotations;
  json::array finalizers;
  each_field(data, [&](const Field& f) {
    switch (f.number) {
      case 1:
        set_string(meta, "name", f);
        break;
      case 2:
        set_string(meta, "generateName", f);
        break;
      case 3:
        set_string(meta, "namespace", f);
        break;
      case 11:
        map_entry(f, labels);
        break;
      case 12:
        map_entry(f, annotations);
        break;
      case 14:
        finalizers.push_back(str(f));
        break;
      default:
        break;
    }
  });
  if (!labels.empty()) meta["labels"] = std::move(labels);
  if (!annotations.empty()) meta["annotations"] = std::move(annotations);
  if (!finalizers.empty()) meta["finalizers"] = std::move(finalizers);
  return meta;
}

// int32 fields are varints of the sign-extended value.
int64_t int32_of(uint64_t v) {
  return static_cast<int32_t>(static_cast<uint32_t>(v));
}

json::object service_port(std::string_view data) {
  json::object port;
  each_field(data, [&](const Field& f) {
    switch (f.number) {
      case 1:
        set_string(port, "name", f);
        break;
      case 2:
        set_string(port, "protocol", f);
        break;
      case 3:
        port["port"] = int32_of(f.varint);
        break;
      case 4: {  // IntOrString {1: type (0 int, 1 string), 2: intVal, 3: strVal}
        int64_t type = 0, int_val = 0;
        std::string str_val;
        each_field(f.bytes, [&](const Field& x) {
          if (x.number == 1) type = static_cast<int64_t>(x.varint);
          if (x.number == 2) int_val = int32_of(x.varint);
          if (x.number == 3) str_val = x.bytes;
        });
        if (type == 1 && !str_val.empty()) port["targetPort"] = str_val;
        if (type == 0) set_int(port, "targetPort", int_val);
        break;
      }
      case 5:
        set_int(port, "nodePort", int32_of(f.varint));
        break;
      case 6:
        set_string(port, "appProtocol", f);
        break;
      default:
        break;
    }
  });
  return port;
}

json::object service_spec(std::string_view data) {
  json::object spec, selector;
  json::array ports, external_ips, cluster_ips;
  each_field(data, [&](const Field& f) {
    switch (f.number) {
      case 1:
        ports.push_back(service_port(f.bytes));
        break;
      case 2:
        map_entry(f, selector);
        break;
      case 3:
        set_string(spec, "clusterIP", f);
        break;
      case 4:
        set_string(spec, "type", f);
        break;
      case 5:
        external_ips.push_back(str(f));
        break;
      case 7:
        set_string(spec, "sessionAffinity", f);
        break;
      case 8:
        set_string(spec, "loadBalancerIP", f);
        break;
      case 10:
        set_string(spec, "externalName", f);
        break;
      case 11:
        set_string(spec, "externalTrafficPolicy", f);
        break;
      case 18:
        cluster_ips.push_back(str(f));
        break;
      default:
        break;
    }
  });
  if (!ports.empty()) spec["ports"] = std::move(ports);
  if (!selector.empty()) spec["selector"] = std::move(selector);
  if (!external_ips.empty()) spec["externalIPs"] = std::move(external_ips);
  if (!cluster_ips.empty()) spec["clusterIPs"] = std::move(cluster_ips);
  return spec;
}

json::object namespace_spec(std::string_view data) {
  json::array finalizers;
  each_field(data, [&](const Field& f) {
    if (f.number == 1) finalizers.push_back(str(f));
  });
  json::object spec;
  if (!finalizers.empty()) spec["finalizers"] = std::move(finalizers);
  return spec;
}

// authorization.k8s.io/v1 ResourceAttributes and NonResourceAttributes. A message that is present
// decodes to an object even when empty: the reviews ask which one of the two was sent.
json::object resource_attributes(std::string_view data) {
  static constexpr const char* kKeys[] = {"namespace", "verb",        "group", "version",
                                          "resource",  "subresource", "name"};
  json::object out;
  each_field(data, [&](const Field& f) {
    if (f.number >= 1 && f.number <= 7 && f.wire_type == 2) set_string(out, kKeys[f.number - 1], f);
  });
  return out;
}

json::object non_resource_attributes(std::string_view data) {
  json::object out;
  each_field(data, [&](const Field& f) {
    if (f.number == 1) set_string(out, "path", f);
    if (f.number == 2) set_string(out, "verb", f);
  });
  return out;
}

// SelfSubjectAccessReviewSpec and SubjectAccessReviewSpec (the latter adds user, groups, uid).
json::object access_review_spec(std::string_view data) {
  json::object spec;
  json::array groups;
  each_field(data, [&](const Field& f) {
    switch (f.number) {
      case 1:
        spec["resourceAttributes"] = resource_attributes(f.bytes);
        break;
      case 2:
        spec["nonResourceAttributes"] = non_resource_attributes(f.bytes);
        break;
      case 3:
        set_string(spec, "user", f);
        break;
      case 4:
        groups.push_back(str(f));
        break;
      case 6:
        set_string(spec, "uid", f);
        break;
      default:
        break;
    }
  });
  if (!groups.empty()) spec["groups"] = std::move(groups);
  return spec;
}

json::object rules_review_spec(std::string_view data) {
  json::object spec;
  each_field(data, [&](const Field& f) {
    if (f.number == 1) set_string(spec, "namespace", f);
  });
  return spec;
}

using SpecDecoder = json::object (*)(std::string_view);

// The kinds understood, by apiVersion and kind; null: the kind has no spec to read.
struct SpecKind {
  std::string_view api_version;
  std::string_view kind;
  SpecDecoder decoder;
};

constexpr SpecKind kSpecKinds[] = {
    {"v1", "Service", service_spec},
    {"v1", "Namespace", namespace_spec},
    {"authorization.k8s.io/v1", "SelfSubjectAccessReview", access_review_spec},
    {"authorization.k8s.io/v1", "SubjectAccessReview", access_review_spec},
    {"authorization.k8s.io/v1", "SelfSubjectRulesReview", rules_review_spec},
    {"authentication.k8s.io/v1", "SelfSubjectReview", nullptr},
};

std::optional<SpecDecoder> spec_decoder(const std::string& api_version, const std::string& kind) {
  for (const SpecKind& k : kSpecKinds)
    if (k.api_version == api_version && k.kind == kind) return k.decoder;
  return std::nullopt;
}

}  // namespace

ApiResult<json::value> decode_protobuf_object(std::string_view body) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (!body.starts_with(kMagic)) return api_fail(bad_request("protobuf body without the k8s envelope"));
  std::string api_version, kind;
  std::string_view raw;
  bool ok = each_field(body.substr(4), [&](const Field& f) {
    if (f.number == 1) {  // TypeMeta {1: apiVersion, 2: kind}
      each_field(f.bytes, [&](const Field& t) {
        if (t.number == 1) api_version = t.bytes;
        if (t.number == 2) kind = t.bytes;
      });
    } else if (f.number == 2) {
      raw = f.bytes;
    }
  });
  if (!ok) return api_fail(bad_request("malformed protobuf body"));
  auto decoder = spec_decoder(api_version, kind);
  if (!decoder)
    return api_fail(
        unsupported_media_type(std::string(kProtobufMediaType) + " for " + api_version + "/" + kind));
  json::object obj{{"apiVersion", api_version}, {"kind", kind}};
  ok = each_field(raw, [&](const Field& f) {
    if (f.number == 1) obj["metadata"] = object_meta(f.bytes);
    if (f.number == 2 && *decoder) obj["spec"] = (*decoder)(f.bytes);
    // 3 (2 for SelfSubjectReview): status, the server's to fill in
  });
  if (!ok) return api_fail(bad_request("malformed protobuf " + kind));
  return obj;
}

}  // namespace podnet::apiserver
