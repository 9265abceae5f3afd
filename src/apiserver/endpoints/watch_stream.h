// A watch request as a chunked stream of {"type","object"} lines: synthetic ADDED events for the
// current state when no resourceVersion is given, then store events filtered by namespace and
// selectors, optional BOOKMARKs, an ERROR event for an expired resourceVersion, and a timeout.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/http/http_types.h"
#include "apiserver/registry/object_store.h"

namespace podnet::apiserver {

struct WatchRequest {
  const ResourceType* type = nullptr;
  std::string ns;  // empty: all namespaces
  LabelSelector labels;
  FieldSelector fields;
  std::string resource_version;  // "" or "0": start with the current state as ADDED events
  bool bookmarks = false;
  std::chrono::seconds timeout{1800};
  std::chrono::milliseconds bookmark_interval{60000};
  // Applied to the object of ADDED/MODIFIED/DELETED events (Table conversion); empty: none.
  std::function<boost::json::value(const boost::json::value&)> transform;
};

class WatchStream final : public StreamBody, public std::enable_shared_from_this<WatchStream> {
 public:
  // Never fails at the HTTP level: problems kube reports inside the stream (an expired
  // resourceVersion) become an ERROR event. Bad parameters are rejected before this is called.
  static std::shared_ptr<WatchStream> open(ObjectStore& objects, WatchRequest request);
  ~WatchStream() override;

  void start(boost::asio::any_io_executor executor, std::shared_ptr<ChunkSink> sink) override;
  void stop() override;

 private:
  WatchStream(ObjectStore& objects, WatchRequest request);
  void pump();
  void arm_bookmark();
  // ADDED/MODIFIED/DELETED as seen through the selectors: an update that makes an object match is
  // ADDED for this watcher, one that makes it stop matching is DELETED.
  void emit(const storage::Event& event);
  void send(std::string_view type, const boost::json::value& object);
  void end();

  ObjectStore& objects_;
  WatchRequest request_;
  std::unique_ptr<storage::Watch> watch_;
  std::vector<std::string> initial_;  // events decided at open(): synthetic ADDED or an ERROR
  bool end_after_initial_ = false;
  storage::Revision last_revision_ = 0;
  std::shared_ptr<ChunkSink> sink_;
  std::unique_ptr<boost::asio::steady_timer> timeout_timer_;
  std::unique_ptr<boost::asio::steady_timer> bookmark_timer_;
  bool stopped_ = false;
};

// A watch from `revision` the store has not reached yet waits for it (limits::kFutureWatchWait, as
// kube's watch cache does), then fails with kube's 504 Timeout "Too large resource version" and
// Retry-After. Only a few requests wait at a time (each holds a handler thread); the others are
// answered at once.
ApiResult<void> wait_for_revision(storage::Store& store, storage::Revision revision);

// Parses a resourceVersion query value: "" -> 0; a non-number is 400.
ApiResult<storage::Revision> parse_resource_version(const std::string& text);

}  // namespace podnet::apiserver
