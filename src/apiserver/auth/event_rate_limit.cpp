#include "apiserver/auth/event_rate_limit.h"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "apiserver/http/http_types.h"
#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
using SteadyTime = std::chrono::steady_clock::time_point;
namespace {

const char* type_name(EventRateLimit::Type t) {
  switch (t) {
    case EventRateLimit::Type::kServer:
      return "Server";
    case EventRateLimit::Type::kNamespace:
      return "Namespace";
    case EventRateLimit::Type::kUser:
      return "User";
    case EventRateLimit::Type::kSourceAndObject:
      return "SourceAndObject";
  }
  return "";
}

// kube's getSourceAndObjectKey, with a separator so that two tuples cannot make one key.
std::string source_and_object(const json::object& e) {
  std::string key;
  for (auto path : {k8s::fields::Path{"source", "component"},
                    {"source", "host"},
                    {"involvedObject", "kind"},
                    {"involvedObject", "namespace"},
                    {"involvedObject", "name"},
                    {"involvedObject", "uid"},
                    {"involvedObject", "apiVersion"}})
    key += k8s::fields::string_at(e, path) + '\x1f';
  return key;
}

bool parse_number(std::string_view s, double& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(out) && out >= 0;
}

}  // namespace

struct EventRateLimitAdmission::Limiter {
  EventRateLimit limit;
  std::mutex mu;
  LruCache<std::string, TokenBucket<SteadyTime>> buckets;

  explicit Limiter(EventRateLimit l)
      : limit(l), buckets(l.type == EventRateLimit::Type::kServer ? 1 : l.cache_size) {}

  std::string key(const AdmissionRequest& r) const {
    switch (limit.type) {
      case EventRateLimit::Type::kServer:
        return "";
      case EventRateLimit::Type::kNamespace:
        return r.ns;
      case EventRateLimit::Type::kUser:
        return r.user.user;
      case EventRateLimit::Type::kSourceAndObject:
        return source_and_object(r.object);
    }
    return "";
  }
};

std::vector<EventRateLimit> default_event_rate_limits() {
  return {{EventRateLimit::Type::kNamespace, 50, 500, 4096}, {EventRateLimit::Type::kUser, 50, 500, 4096}};
}

Result<std::vector<EventRateLimit>> parse_event_rate_limits(const std::string& text) {
  std::vector<EventRateLimit> out;
  if (text.empty() || text == "none") return out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string_view part(text.data() + start, end - start);
    auto bad = [&](const char* why) {
      return std::unexpected(Error{EINVAL, "event rate limit \"" + std::string(part) + "\": " + why});
    };
    size_t eq = part.find('='), slash = part.find('/');
    if (eq == std::string_view::npos || slash == std::string_view::npos || slash < eq)
      return bad("want TYPE=QPS/BURST[:CACHE_SIZE]");
    EventRateLimit l;
    std::string_view type = part.substr(0, eq);
    if (type == "Server")
      l.type = EventRateLimit::Type::kServer;
    else if (type == "Namespace")
      l.type = EventRateLimit::Type::kNamespace;
    else if (type == "User")
      l.type = EventRateLimit::Type::kUser;
    else if (type == "SourceAndObject")
      l.type = EventRateLimit::Type::kSourceAndObject;
    else
      return bad("the type is one of Server, Namespace, User, SourceAndObject");
    size_t colon = part.find(':', slash);
    std::string_view qps = part.substr(eq + 1, slash - eq - 1);
    std::string_view burst =
        part.substr(slash + 1, (colon == std::string_view::npos ? part.size() : colon) - slash - 1);
    if (!parse_number(qps, l.qps) || l.qps <= 0) return bad("QPS must be a positive number");
    if (!parse_number(burst, l.burst) || l.burst < 1) return bad("BURST must be at least 1");
    if (colon != std::string_view::npos) {
      double cache = 0;
      if (!parse_number(part.substr(colon + 1), cache) || cache < 1 || cache > 1e6)
        return bad("CACHE_SIZE must be between 1 and 1000000");
      l.cache_size = static_cast<size_t>(cache);
    }
    for (const auto& other : out)
      if (other.type == l.type) return bad("a type may be given once");
    out.push_back(l);
    start = end + 1;
  }
  return out;
}

EventRateLimitAdmission::EventRateLimitAdmission(std::vector<EventRateLimit> limits, Clock clock)
    : clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {
  for (const auto& l : limits) limiters_.push_back(std::make_unique<Limiter>(l));
}

EventRateLimitAdmission::~EventRateLimitAdmission() = default;

ApiResult<void> EventRateLimitAdmission::admit(const AdmissionRequest& request) const {
  // core/v1 Events only, as kube's plugin compares GroupKinds.
  if (request.type.group_kind() != GroupKind{"", "Event"} || limiters_.empty()) return {};
  auto now = clock_();
  std::string refused;
  std::chrono::nanoseconds wait{0};
  int refusals = 0;
  for (const auto& l : limiters_) {
    std::string key = l->key(request);
    std::lock_guard lock(l->mu);
    auto& bucket = l->buckets.get_or_put(
        key, [&] { return TokenBucket<SteadyTime>(l->limit.qps, l->limit.burst, now); });
    if (bucket.take(now)) continue;
    wait = std::max(wait, bucket.wait(now));
    // kube's message; a source-and-object key is not for printing.
    std::string shown = l->limit.type == EventRateLimit::Type::kSourceAndObject ? "" : " for key " + key;
    if (l->limit.type == EventRateLimit::Type::kServer) shown.clear();
    refused +=
        (refusals++ ? ", " : "") + std::string("limit reached on type ") + type_name(l->limit.type) + shown;
  }
  if (refused.empty()) return {};
  if (refusals > 1) refused = "[" + refused + "]";  // utilerrors.NewAggregate's form
  ApiError e{429, "TooManyRequests", "Too many requests: " + refused};
  e.retry_after_seconds =
      static_cast<int>(std::clamp<int64_t>(std::chrono::ceil<std::chrono::seconds>(wait).count(), 1, 3600));
  return api_fail(std::move(e));
}

}  // namespace podnet::apiserver
