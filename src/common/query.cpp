#include "common/query.h"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/error.hpp>
#include <boost/url/params_encoded_view.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>

namespace podnet::target {

std::string_view query_of(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::expected<std::vector<QueryParam>, std::string> parse_query(std::string_view query, size_t max_params) {
  // Boost 1.81's parse_query rebuilds its input from data() as a C string, so it reads past the end
  // of a view that is not NUL-terminated (boostorg/url#757: a value ran on into the rest of the HTTP
  // request) and calls strlen on the null data() of an empty one (#946). It parses a NUL-terminated
  // copy here: the copy is exactly the query.
  if (query.empty()) return std::vector<QueryParam>{};
  const std::string owned(query);
  auto parsed = boost::urls::parse_query(boost::urls::string_view(owned.data(), owned.size()));
  if (!parsed) {
    if (parsed.error() == boost::urls::error::bad_pct_hexdig ||
        parsed.error() == boost::urls::error::missing_pct_hexdig)
      return std::unexpected("invalid percent-encoding in the query");
    return std::unexpected("invalid query string: a character a query may not hold (RFC 3986)");
  }
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  std::vector<QueryParam> out;
  for (const auto& p : *parsed) {
    if (p.key.empty() && !p.has_value) continue;
    if (out.size() >= max_params)
      return std::unexpected("invalid query string: more than " + std::to_string(max_params) + " parameters");
    out.push_back({p.key.decode(opts), p.has_value ? p.value.decode(opts) : std::string()});
  }
  return out;
}

std::expected<std::string, std::string> decode_segment(std::string_view segment) {
  if (segment.empty()) return std::string();  // (see parse_query)
  auto pct = boost::urls::make_pct_string_view(boost::urls::string_view(segment.data(), segment.size()));
  if (!pct) return std::unexpected("invalid percent-encoding in the path");
  return pct->decode();
}

std::expected<std::vector<std::string>, std::string> decode_segments(std::string_view path,
                                                                     size_t max_segments) {
  std::vector<std::string> out;
  while (out.size() <= max_segments) {
    size_t slash = path.find('/');
    auto segment = decode_segment(path.substr(0, slash));
    if (!segment) return std::unexpected(segment.error());
    out.push_back(std::move(*segment));
    if (slash == std::string_view::npos) break;
    path = path.substr(slash + 1);
  }
  return out;
}

}  // namespace podnet::target
