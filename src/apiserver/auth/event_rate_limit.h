// kube's EventRateLimit admission plugin (plugin/pkg/admission/eventratelimit): token buckets on
// writes of Events, per server, per namespace, per user and per event source and object, so that no
// client (a node's credential, a looping controller) can fill the store with events. A write over a
// limit is refused with 429 TooManyRequests and a Retry-After; every limit takes a token, as kube's do.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apiserver/auth/admission.h"
#include "common/error.h"
#include "common/lru_cache.h"
#include "common/token_bucket.h"

namespace podnet::apiserver {

struct EventRateLimit {
  enum class Type { kServer, kNamespace, kUser, kSourceAndObject };
  Type type = Type::kNamespace;
  double qps = 0;
  double burst = 0;
  size_t cache_size = 4096;  // buckets kept (least recently used go first); not for kServer
};

// podnet's defaults: kube's plugin has none (a configuration file is required); these let a node
// start a hundred pods at once (two or three events each) and stop a client writing events in a loop.
std::vector<EventRateLimit> default_event_rate_limits();

// "Namespace=50/500,User=50/500:4096,SourceAndObject=1/100": TYPE=QPS/BURST[:CACHE_SIZE], comma
// separated; "none" or "" for no limits. EINVAL with the offending part otherwise.
Result<std::vector<EventRateLimit>> parse_event_rate_limits(const std::string& text);

class EventRateLimitAdmission final : public AdmissionPlugin {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit EventRateLimitAdmission(std::vector<EventRateLimit> limits, Clock clock = {});
  ~EventRateLimitAdmission() override;
  ApiResult<void> admit(const AdmissionRequest& request) const override;

 private:
  struct Limiter;
  std::vector<std::unique_ptr<Limiter>> limiters_;
  Clock clock_;
};

}  // namespace podnet::apiserver
