// Negotiation follows kube-openapi: Accept's media ranges by quality (more specific first on a
// tie), each tried against JSON, then the deprecated protobuf name kubectl sends ("...v2@v1.0+
// protobuf"), then the current one; the reply's Content-Type always names the current one.
// Conditional requests follow Go's http.ServeContent, which kube-openapi hands the bytes to:
// If-None-Match wins over If-Modified-Since, and a 304 carries the ETag but no body.
#include "apiserver/endpoints/openapi_v2_endpoint.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <ctime>
#include <vector>

#include "apiserver/endpoints/openapi.h"
#include "apiserver/endpoints/openapi_v2_proto.h"
#include "common/time.h"

namespace podnet::apiserver {
namespace {

constexpr std::string_view kProtobufDeprecated = "com.github.proto-openapi.spec.v2@v1.0+protobuf";
constexpr std::string_view kProtobuf = "com.github.proto-openapi.spec.v2.v1.0+protobuf";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct MediaRange {
  std::string_view type, subtype;
  float q = 1;
};

// "type/subtype;q=0.5;...", comma-separated. A malformed q counts as 0 (not acceptable), as in
// goautoneg; ranges without a slash are ignored.
std::vector<MediaRange> parse_accept(std::string_view header) {
  std::vector<MediaRange> out;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view range = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    size_t semi = range.find(';');
    std::string_view media = trim(range.substr(0, semi));
    size_t slash = media.find('/');
    if (slash == std::string_view::npos) continue;
    MediaRange m{trim(media.substr(0, slash)), trim(media.substr(slash + 1))};
    while (semi != std::string_view::npos) {
      range = range.substr(semi + 1);
      semi = range.find(';');
      std::string_view param = trim(range.substr(0, semi));
      if (!param.starts_with("q=")) continue;
      std::string_view value = param.substr(2);
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), m.q);
      if (ec != std::errc() || end != value.data() + value.size()) m.q = 0;
    }
    out.push_back(m);
  }
  std::stable_sort(out.begin(), out.end(), [](const MediaRange& a, const MediaRange& b) {
    if (a.q != b.q) return a.q > b.q;
    if ((a.type == "*") != (b.type == "*")) return b.type == "*";
    return a.subtype != "*" && b.subtype == "*";
  });
  return out;
}

enum class Encoding { kNone, kJson, kProtobuf };

Encoding negotiate(std::string_view accept) {
  if (trim(accept).empty()) accept = "*/*";
  for (const MediaRange& m : parse_accept(accept)) {
    if (m.q <= 0) continue;
    if (m.type != "application" && m.type != "*") continue;
    if (m.subtype == "json" || m.subtype == "*") return Encoding::kJson;
    if (m.subtype == kProtobufDeprecated || m.subtype == kProtobuf) return Encoding::kProtobuf;
  }
  return Encoding::kNone;
}

std::string sha512_hex_upper(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha512(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// If-None-Match: "*" or a list of entity tags, compared weakly (W/ prefixes ignored).
bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view tag = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

bool not_modified(const Request& request, const std::string& etag, const std::string& last_modified) {
  auto none_match = request.msg.find(http::field::if_none_match);
  if (none_match != request.msg.end()) return etag_matches(none_match->value(), etag);
  auto since = request.msg.find(http::field::if_modified_since);
  if (since == request.msg.end()) return false;
  auto client = parse_http_date(std::string(since->value()));
  auto ours = parse_http_date(last_modified);
  return client && ours && *ours <= *client;
}

}  // namespace

const OpenApiV2Endpoint::Document& OpenApiV2Endpoint::document() {
  std::call_once(built_, [this] {
    boost::json::value swagger = openapi_v2_document(registry_);
    doc_.json = boost::json::serialize(swagger);
    if (auto pb = encode_openapi_v2(swagger))
      doc_.protobuf = std::move(*pb);
    else
      doc_.error = pb.error().message();
    doc_.etag = "\"" + sha512_hex_upper(doc_.json) + "\"";
    doc_.last_modified = http_date(std::time(nullptr));
  });
  return doc_;
}

Reply OpenApiV2Endpoint::serve(const Request& request) {
  Reply r;
  r.msg.set(http::field::vary, "Accept");
  r.msg.set(http::field::cache_control, "no-cache, private");
  Encoding encoding = negotiate(request.msg[http::field::accept]);
  if (encoding == Encoding::kNone) {
    r.msg.result(http::status::not_acceptable);
    return r;
  }
  const Document& doc = document();
  if (encoding == Encoding::kProtobuf && !doc.error.empty()) {
    r.msg.result(http::status::service_unavailable);
    r.msg.set(http::field::content_type, "text/plain; charset=utf-8");
    r.msg.body() = doc.error;
    return r;
  }
  r.msg.set(http::field::etag, doc.etag);
  if (not_modified(request, doc.etag, doc.last_modified)) {
    r.msg.result(http::status::not_modified);
    return r;
  }
  r.msg.result(http::status::ok);
  r.msg.set(http::field::last_modified, doc.last_modified);
  r.msg.set(http::field::content_type, encoding == Encoding::kJson ? std::string("application/json")
                                                                   : "application/" + std::string(kProtobuf));
  r.msg.body() = encoding == Encoding::kJson ? doc.json : doc.protobuf;
  return r;
}

}  // namespace podnet::apiserver
