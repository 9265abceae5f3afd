// A token bucket (golang.org/x/time/rate's, as client-go's flowcontrol uses it): `burst` tokens to
// start with, refilled at `qps` per second up to `burst`. Time is passed in, so callers choose the
// clock (a test clock, steady_clock) and tests need no sleeps. Not thread-safe: guard it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>

namespace podnet {

template <class TimePoint>
class TokenBucket {
 public:
  TokenBucket(double qps, double burst, TimePoint now)
      : qps_(qps), burst_(burst), tokens_(burst), last_(now) {}

  // Takes one token if there is one.
  bool take(TimePoint now) {
    refill(now);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }
  // How long until a token is there (zero when one is).
  std::chrono::nanoseconds wait(TimePoint now) {
    refill(now);
    if (tokens_ >= 1) return std::chrono::nanoseconds(0);
    if (qps_ <= 0) return std::chrono::nanoseconds::max();
    return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil((1 - tokens_) / qps_ * 1e9)));
  }
  double tokens(TimePoint now) {
    refill(now);
    return tokens_;
  }

 private:
  void refill(TimePoint now) {
    if (now <= last_) return;  // a clock that went back refills nothing
    double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + seconds * qps_);
    last_ = now;
  }

  double qps_, burst_, tokens_;
  TimePoint last_;
};

}  // namespace podnet
