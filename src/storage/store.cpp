// Backend-independent helpers of the storage interface: names for errors and events, key ranges.
// Kept out of the backends so an etcd implementation shares them.
#include "storage/store.h"

namespace podnet::storage {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::kNotFound:
      return "NotFound";
    case Errc::kAlreadyExists:
      return "AlreadyExists";
    case Errc::kConflict:
      return "Conflict";
    case Errc::kCompacted:
      return "Compacted";
    case Errc::kFutureRevision:
      return "FutureRevision";
    case Errc::kInvalidArgument:
      return "InvalidArgument";
    case Errc::kClosed:
      return "Closed";
    case Errc::kIo:
      return "Io";
  }
  return "Unknown";
}

std::string StoreError::str() const {
  return std::string(errc_name(code)) + ": " + message;
}

std::string_view event_type_name(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "UNKNOWN";
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  // Bytes 0xff cannot be incremented: drop them and carry into the byte before (etcd's rule).
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace podnet::storage
