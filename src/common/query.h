// The query string of a request target (what follows '?'), decoded into key/value pairs: one parser,
// on Boost.URL's RFC 3986 grammar, for every endpoint that reads parameters from untrusted requests
// (the node's exec, attach, port-forward and log endpoints, the node API, the API server's exec and
// port-forward subresources). The API server's own list/watch parameters keep the lenient reading kube's
// Go server does (apiserver/http/request_info.cpp).
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace podnet::target {

struct QueryParam {
  std::string key;
  std::string value;  // empty when the pair has no '='
};

// What follows the first '?' of a request target, or "" when it has none.
std::string_view query_of(std::string_view target);

// The decoded pairs of `query`, in order, with '+' read as a space; empty pairs ("a=1&&b=2") are skipped.
// Fails with a sentence for a client ("invalid percent-encoding in the query", "invalid query string:
// ...") on invalid percent-encoding, a character a query may not hold, or more than max_params pairs. Never
// throws (but for std::bad_alloc).
std::expected<std::vector<QueryParam>, std::string> parse_query(std::string_view query,
                                                                size_t max_params = 256);

// Percent-decodes one path segment ('+' stays '+'); fails on a '%' not followed by two hex digits.
std::expected<std::string, std::string> decode_segment(std::string_view segment);

// The '/'-separated segments of `path` (no query), each decoded as above. Stops after max_segments + 1,
// so a caller that wants exactly N segments passes N and refuses any other count.
std::expected<std::vector<std::string>, std::string> decode_segments(std::string_view path,
                                                                     size_t max_segments);

}  // namespace podnet::target
