#include "controllers/events.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

namespace podnet::controllers {
namespace json = boost::json;
namespace {

k8s::SinkResult<json::value> to_sink(Result<json::value> r) {
  if (r) return std::move(*r);
  return std::unexpected(k8s::sink_error(r.error()));
}

std::string events_path(const std::string& ns) {
  return "/api/v1/namespaces/" + ns + "/events";
}

}  // namespace

k8s::SinkResult<json::value> ApiEventSink::create(const std::string& ns, const json::value& event) {
  return to_sink(api_.create(events_path(ns), event));
}

k8s::SinkResult<json::value> ApiEventSink::patch(const std::string& ns, const std::string& name,
                                                 const json::value& patch) {
  return to_sink(api_.patch(events_path(ns) + "/" + name, k8s::PatchType::kMerge, patch));
}

ControllerEvents::ControllerEvents(k8s::ApiClient* api, Clock clock) {
  if (!api) return;
  sink_ = std::make_unique<ApiEventSink>(*api);
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
