// Kubernetes Events for what a controller cannot do (a range exhausted, an address taken), so that
// `kubectl describe` and `kubectl get events` show it, not only the server log.
#pragma once

#include <boost/json/value.hpp>
#include <mutex>
#include <set>
#include <string>

#include "controllers/object_client.h"
#include "controllers/work_queue.h"

namespace podnet::controllers {

class EventRecorder {
 public:
  // `events` may be null: the event then only goes to the log.
  EventRecorder(ObjectClient* events, Clock clock, std::string component);

  // Logs a warning and records an Event about `object`; the same (object, reason, message) is
  // recorded once, so a controller retrying in a loop does not flood the store.
  void warning(const boost::json::value& object, const std::string& reason, const std::string& message);

 private:
  ObjectClient* events_;
  Clock clock_;
  std::string component_;
  std::mutex mu_;
  std::set<std::string> recorded_;
};

std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace podnet::controllers
