// Runs entirely on the connection's strand: the store's ready callback and both timers post to it,
// so the stream's state needs no lock.
#include "apiserver/endpoints/watch_stream.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <thread>

#include "apiserver/http/limits.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace net = boost::asio;

ApiResult<storage::Revision> parse_resource_version(const std::string& text) {
  if (text.empty()) return 0;
  storage::Revision rv = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), rv);
  if (ec != std::errc() || end != text.data() + text.size() || rv < 0)
    return api_fail(bad_request("invalid resourceVersion \"" + text + "\""));
  return rv;
}

ApiResult<void> wait_for_revision(storage::Store& store, storage::Revision revision) {
  if (revision <= store.current_revision()) return {};
  static std::atomic<int> waiting{0};
  constexpr int kMaxWaiting = 2;
  if (waiting.fetch_add(1) < kMaxWaiting) {
    auto deadline = std::chrono::steady_clock::now() + limits::kFutureWatchWait;
    while (revision > store.current_revision() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  waiting.fetch_sub(1);
  storage::Revision current = store.current_revision();
  if (revision <= current) return {};
  ApiError e{504, "Timeout",
             "Timeout: Too large resource version: " + std::to_string(revision) +
                 ", current: " + std::to_string(current)};
  e.causes.push_back({"ResourceVersionTooLarge", "Too large resource version", ""});
  e.retry_after_seconds = limits::kFutureWatchRetrySeconds;
  return api_fail(std::move(e));
}

namespace {

std::string event_line(std::string_view type, const json::value& object) {
  return json::serialize(json::object{{"type", type}, {"object", object}}) + "\n";
}

}  // namespace

WatchStream::WatchStream(ObjectStore& objects, WatchRequest request)
    : objects_(objects), request_(std::move(request)) {}

WatchStream::~WatchStream() {
  if (watch_) {
    watch_->set_ready_callback({});
    watch_->cancel();
  }
}

std::shared_ptr<WatchStream> WatchStream::open(ObjectStore& objects, WatchRequest request) {
  std::shared_ptr<WatchStream> self(new WatchStream(objects, std::move(request)));
  const ResourceType& type = *self->request_.type;
  std::string prefix = objects.prefix(type, self->request_.ns);
  auto error_event = [&](const ApiError& e) {
    self->initial_.push_back(event_line("ERROR", status_json(e)));
    self->end_after_initial_ = true;
    return self;
  };
  auto rv = parse_resource_version(self->request_.resource_version);
  if (!rv) return error_event(rv.error());
  storage::Revision from = *rv;
  if (from == 0) {
    // Kube's "Any" semantics: the current state first, then changes after that snapshot.
    ListQuery query{self->request_.labels, self->request_.fields};
    auto list = objects.list(type, self->request_.ns, query);
    if (!list) return error_event(list.error());
    for (const auto& item : list->get_object()["items"].get_array())
      self->initial_.push_back(
          event_line("ADDED", self->request_.transform ? self->request_.transform(item) : item));
    auto list_rv = parse_resource_version(
        std::string(list->get_object()["metadata"].get_object()["resourceVersion"].get_string()));
    from = list_rv ? *list_rv : 0;
  }
  auto watch = objects.store().watch(prefix, from);
  if (!watch) {
    if (watch.error().code == storage::Errc::kCompacted)
      return error_event(expired("too old resource version: " + std::to_string(from) + " (" +
                                 std::to_string(objects.store().compacted_revision()) + ")"));
    return error_event(from_store(watch.error(), type.group, type.plural, ""));
  }
  self->watch_ = std::move(*watch);
  self->last_revision_ = from;
  return self;
}

void WatchStream::start(net::any_io_executor executor, std::shared_ptr<ChunkSink> sink) {
  if (stopped_) return;  // stop() came first: holding the sink now would keep it alive forever
  sink_ = std::move(sink);
  for (auto& line : initial_) sink_->write(std::move(line));
  initial_.clear();
  if (end_after_initial_ || !watch_) return end();

  std::weak_ptr<WatchStream> weak = weak_from_this();
  watch_->set_ready_callback([weak, executor] {
    net::post(executor, [weak] {
      if (auto self = weak.lock()) self->pump();
    });
  });
  timeout_timer_ = std::make_unique<net::steady_timer>(executor);
  timeout_timer_->expires_after(request_.timeout);
  timeout_timer_->async_wait([weak](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->end();
  });
  if (request_.bookmarks) {
    bookmark_timer_ = std::make_unique<net::steady_timer>(executor);
    arm_bookmark();
  }
  pump();  // events written between open() and now
}

void WatchStream::arm_bookmark() {
  std::weak_ptr<WatchStream> weak = weak_from_this();
  bookmark_timer_->expires_after(request_.bookmark_interval);
  bookmark_timer_->async_wait([weak](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopped_) return;
    self->pump();  // a bookmark must not claim a revision whose events are still queued
    const ResourceType& type = *self->request_.type;
    self->send(
        "BOOKMARK",
        json::object{{"kind", type.kind},
                     {"apiVersion", type.api_version()},
                     {"metadata", json::object{{"resourceVersion", std::to_string(self->last_revision_)}}}});
    self->arm_bookmark();
  });
}

void WatchStream::pump() {
  if (stopped_ || !watch_) return;
  auto events = watch_->next(std::chrono::milliseconds(0));
  if (!events) {
    const ResourceType& type = *request_.type;
    if (events.error().code == storage::Errc::kCompacted) {
      send("ERROR", status_json(expired("too old resource version: " + std::to_string(last_revision_))));
    } else if (events.error().code != storage::Errc::kClosed) {
      send("ERROR", status_json(from_store(events.error(), type.group, type.plural, "")));
    }
    return end();
  }
  for (const auto& e : *events) emit(*e);
  last_revision_ = std::max(last_revision_, watch_->revision());
}

void WatchStream::emit(const storage::Event& event) {
  auto matches = [this](const json::value& obj) {
    return request_.labels.matches(obj) && request_.fields.matches(obj);
  };
  auto now = objects_.decode(event.kv);
  if (!now) return;
  bool now_matches = matches(*now);
  bool before_matches = false;
  if (event.prev) {
    if (auto before = objects_.decode(*event.prev)) before_matches = matches(*before);
  }
  switch (event.type) {
    case storage::EventType::kAdded:
      if (now_matches) send("ADDED", *now);
      break;
    case storage::EventType::kModified:
      if (now_matches && before_matches)
        send("MODIFIED", *now);
      else if (now_matches)
        send("ADDED", *now);
      else if (before_matches)
        send("DELETED", *now);
      break;
    case storage::EventType::kDeleted:
      if (now_matches) send("DELETED", *now);
      break;
  }
}

void WatchStream::send(std::string_view type, const json::value& object) {
  if (!sink_ || stopped_) return;
  bool object_event = type == "ADDED" || type == "MODIFIED" || type == "DELETED";
  sink_->write(event_line(type, object_event && request_.transform ? request_.transform(object) : object));
}

void WatchStream::end() {
  if (stopped_) return;
  if (sink_) sink_->finish();
  stop();
}

void WatchStream::stop() {
  stopped_ = true;
  if (timeout_timer_) timeout_timer_->cancel();
  if (bookmark_timer_) bookmark_timer_->cancel();
  if (watch_) {
    watch_->set_ready_callback({});
    watch_->cancel();
  }
  sink_.reset();  // the sink (the connection) owns this stream: break the cycle
}

}  // namespace podnet::apiserver
