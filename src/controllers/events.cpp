#include "controllers/events.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

namespace podnet::controllers {
namespace json = boost::json;
namespace {

k8s::SinkResult<json::value> to_sink(ApiResult<json::value> r) {
  if (r) return std::move(*r);
  auto kind = r.error().code == 404 ? k8s::SinkError::Kind::kNotFound
              // The object layer in this process: a 500 is the store failing, which may pass.
              : r.error().code >= 500 ? k8s::SinkError::Kind::kUnavailable
                                      : k8s::SinkError::Kind::kRejected;
  return std::unexpected(k8s::SinkError{kind, r.error().message});
}

}  // namespace

k8s::SinkResult<json::value> ObjectEventSink::create(const std::string& ns, const json::value& event) {
  return to_sink(events_.create(ns, event));
}

k8s::SinkResult<json::value> ObjectEventSink::patch(const std::string& ns, const std::string& name,
                                                    const json::value& patch) {
  return to_sink(events_.patch(ns, name, patch));
}

ControllerEvents::ControllerEvents(ObjectClient* events, Clock clock) {
  if (!events) return;
  sink_ = std::make_unique<ObjectEventSink>(*events);
  k8s::BroadcasterOptions options;
  options.clock = std::move(clock);
  broadcaster_ = std::make_unique<k8s::EventBroadcaster>(*sink_, std::move(options));
}

k8s::EventRecorder ControllerEvents::recorder(const std::string& component) {
  return broadcaster_ ? broadcaster_->recorder({component, ""}) : k8s::EventRecorder();
}

void warn(const k8s::EventRecorder& events, const json::value& object, const std::string& reason,
          const std::string& message) {
  spdlog::warn("{}: {} {}: {}: {}", events.source().component, string_at(object, {"kind"}), key_of(object),
               reason, message);
  events.warning(object, reason, message);
}

}  // namespace podnet::controllers
