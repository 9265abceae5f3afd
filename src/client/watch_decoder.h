// Turns the bytes of a watch response body (one JSON event per line, arriving in arbitrary chunks)
// into WatchEvents, without waiting for the stream to end. Pure: no I/O.
#pragma once

#include <deque>
#include <string>
#include <string_view>

#include "k8s/api_client.h"

namespace podnet::client {

class WatchDecoder {
 public:
  // Appends bytes; complete lines become events. An error (bad JSON, unknown type) poisons the
  // stream: the caller drops the connection and resumes from the last good resourceVersion.
  Status feed(std::string_view bytes);
  bool has_event() const { return !events_.empty(); }
  k8s::WatchEvent pop();
  // Bytes of an unfinished line (at the end of the stream, a truncated event).
  size_t pending_bytes() const { return partial_.size(); }

 private:
  Status decode_line(std::string_view line);
  std::string partial_;
  std::deque<k8s::WatchEvent> events_;
};

// Parses one watch event object {"type": ..., "object": {...}} (k8s/api_client.h).
using k8s::parse_watch_event;
// The HTTP-style code of an ERROR event's Status object (410 for Expired), 0 when absent.
int status_code(const boost::json::value& status);
// metadata.resourceVersion of an object, empty when absent.
std::string resource_version_of(const boost::json::value& object);
// "namespace/name" (or "name" for cluster-scoped objects), empty when metadata.name is absent.
std::string object_key(const boost::json::value& object);

}  // namespace podnet::client
