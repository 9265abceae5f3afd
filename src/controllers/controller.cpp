#include "controllers/controller.h"

#include <spdlog/spdlog.h>

namespace podnet::controllers {

Controller::Controller(std::string name, Clock clock)
    : clock_(std::move(clock)), queue_(clock_), name_(std::move(name)) {}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  if (worker_.joinable()) return;
  resync();
  worker_ = std::thread([this] { work(); });
}

void Controller::stop() {
  queue_.shutdown();
  if (worker_.joinable()) worker_.join();
}

void Controller::work() {
  while (auto key = queue_.get()) {
    Outcome outcome = reconcile(*key);
    if (outcome == Outcome::kRetry) {
      spdlog::debug("{}: retrying {}", name_, *key);
      queue_.add_rate_limited(*key);
    } else {
      queue_.forget(*key);
    }
    queue_.done(*key);
  }
}

}  // namespace podnet::controllers
