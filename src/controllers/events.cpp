#include "controllers/events.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <ctime>

namespace podnet::controllers {
namespace json = boost::json;

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

EventRecorder::EventRecorder(ObjectClient* events, Clock clock, std::string component)
    : events_(events), clock_(std::move(clock)), component_(std::move(component)) {}

void EventRecorder::warning(const json::value& object, const std::string& reason,
                            const std::string& message) {
  std::string uid = string_at(object, {"metadata", "uid"});
  {
    std::lock_guard lock(mu_);
    if (!recorded_.insert(uid + "\n" + reason + "\n" + message).second) return;
  }
  std::string kind = string_at(object, {"kind"});
  spdlog::warn("{}: {} {}: {}: {}", component_, kind, key_of(object), reason, message);
  if (!events_) return;
  // Events about cluster-scoped objects live in "default", as kube records them.
  std::string ns = namespace_of(object);
  std::string event_ns = ns.empty() ? "default" : ns;
  std::string now = rfc3339(clock_());
  json::object involved{{"kind", kind},
                        {"apiVersion", string_at(object, {"apiVersion"})},
                        {"name", name_of(object)},
                        {"uid", uid},
                        {"resourceVersion", string_at(object, {"metadata", "resourceVersion"})}};
  if (!ns.empty()) involved["namespace"] = ns;
  json::object event{{"metadata", {{"generateName", name_of(object) + "."}, {"namespace", event_ns}}},
                     {"involvedObject", std::move(involved)},
                     {"reason", reason},
                     {"message", message},
                     {"type", "Warning"},
                     {"count", 1},
                     {"firstTimestamp", now},
                     {"lastTimestamp", now},
                     {"source", {{"component", component_}}},
                     {"reportingComponent", component_}};
  if (auto r = events_->create(event_ns, std::move(event)); !r)
    spdlog::warn("{}: record event: {}", component_, r.error().message);
}

}  // namespace podnet::controllers
