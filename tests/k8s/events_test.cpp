// client-go's event correlation (repeats counted on one event, similar events combined, the spam
// filter) and the broadcaster that writes through a sink: asynchronous, bounded, retrying only what
// did not reach the server, creating anew an event whose patch finds it gone.
#include "k8s/events.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "k8s/event_recorder.h"

namespace podnet::k8s {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const TimePoint kT0 = std::chrono::system_clock::from_time_t(1700000000);

ObjectReference pod_ref(const std::string& name = "web") {
  return ObjectReference{"Pod", "v1", "default", name, "uid-" + name, "7", ""};
}

Event occurrence(const std::string& reason, const std::string& message, TimePoint at,
                 const ObjectReference& ref = pod_ref()) {
  Event e;
  e.ns = ref.ns;
  e.name = ref.name + ".fresh";
  e.involved = ref;
  e.type = kEventWarning;
  e.reason = reason;
  e.message = message;
  e.source = {"kubelet", "node1"};
  e.first = e.last = at;
  return e;
}

TEST(EventCorrelator, RepeatsBecomeAPatchOfTheFirstEvent) {
  EventCorrelator c;
  auto first = c.correlate(occurrence("Unhealthy", "Readiness probe failed: refused", kT0), kT0, "1");
  ASSERT_FALSE(first.skip);
  EXPECT_TRUE(first.patch.is_null());  // a create
  first.event.resource_version = "10";
  c.written(first.event);

  auto again =
      c.correlate(occurrence("Unhealthy", "Readiness probe failed: refused", kT0 + 5s), kT0 + 5s, "2");
  ASSERT_FALSE(again.skip);
  EXPECT_EQ(again.event.name, "web.fresh");  // the first one's name
  EXPECT_EQ(again.event.count, 2);
  EXPECT_EQ(again.event.first, kT0);
  EXPECT_EQ(again.event.last, kT0 + 5s);
  EXPECT_EQ(again.event.resource_version, "10");
  EXPECT_EQ(
      json::serialize(again.patch),
      R"({"count":2,"lastTimestamp":"2023-11-14T22:13:25Z","message":"Readiness probe failed: refused"})");

  // Another object, another reason or another message is another event.
  EXPECT_TRUE(c.correlate(occurrence("Unhealthy", "x", kT0, pod_ref("db")), kT0, "3").patch.is_null());
  EXPECT_TRUE(
      c.correlate(occurrence("BackOff", "Readiness probe failed: refused", kT0), kT0, "4").patch.is_null());
}

TEST(EventCorrelator, TenSimilarMessagesWithinTenMinutesAreCombined) {
  EventCorrelator c;
  std::set<std::string> names;
  for (int i = 0; i < 9; ++i) {
    auto r = c.correlate(occurrence("Failed", "error " + std::to_string(i), kT0 + std::chrono::seconds(i)),
                         kT0 + std::chrono::seconds(i), "s" + std::to_string(i));
    EXPECT_TRUE(r.patch.is_null());
    EXPECT_EQ(r.event.message, "error " + std::to_string(i));
    names.insert(r.event.name);
  }
  // The tenth distinct message: one combined event, named anew, counting from 1.
  auto tenth = c.correlate(occurrence("Failed", "error 9", kT0 + 10s), kT0 + 10s, "abc");
  EXPECT_TRUE(tenth.patch.is_null());
  EXPECT_EQ(tenth.event.message, "(combined from similar events): error 9");
  EXPECT_EQ(tenth.event.name, "web.abc");
  EXPECT_EQ(tenth.event.count, 1);
  c.written(tenth.event);
  // Later similar ones update that event (count, last message) instead of making more.
  auto eleventh = c.correlate(occurrence("Failed", "error 10", kT0 + 11s), kT0 + 11s, "def");
  EXPECT_EQ(eleventh.event.name, "web.abc");
  EXPECT_EQ(eleventh.event.count, 2);
  EXPECT_EQ(eleventh.event.message, "(combined from similar events): error 10");
  EXPECT_FALSE(eleventh.patch.is_null());
  // Ten minutes without a similar event: the record starts over.
  auto later = c.correlate(occurrence("Failed", "error 11", kT0 + 30min), kT0 + 30min, "ghi");
  EXPECT_EQ(later.event.message, "error 11");
  EXPECT_TRUE(later.patch.is_null());
}

TEST(EventCorrelator, TheSpamFilterAllows25PerSourceAndObjectThenOneEveryFiveMinutes) {
  EventCorrelator c;
  int accepted = 0;
  for (int i = 0; i < 40; ++i)  // one message repeated: every occurrence takes a token
    accepted += c.correlate(occurrence("Unhealthy", "same", kT0), kT0, std::to_string(i)).skip ? 0 : 1;
  EXPECT_EQ(accepted, 25);
  EXPECT_TRUE(c.correlate(occurrence("Unhealthy", "same", kT0 + 4min), kT0 + 4min, "a").skip);
  EXPECT_FALSE(c.correlate(occurrence("Unhealthy", "same", kT0 + 5min), kT0 + 5min, "b").skip);
  // Another object, or the same object from another source, has its own bucket.
  EXPECT_FALSE(c.correlate(occurrence("Unhealthy", "same", kT0, pod_ref("db")), kT0, "c").skip);
  auto scheduler = occurrence("Unhealthy", "same", kT0);
  scheduler.source = {"default-scheduler", ""};
  EXPECT_FALSE(c.correlate(scheduler, kT0, "d").skip);
}

// An API server in a map, with switches for failures.
class FakeSink : public EventSink {
 public:
  SinkResult<json::value> create(const std::string& ns, const json::value& event) override {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !blocked; });
    ++creates;
    if (unavailable > 0) {
      --unavailable;
      return std::unexpected(SinkError{SinkError::Kind::kUnavailable, "down"});
    }
    if (reject) return std::unexpected(SinkError{SinkError::Kind::kRejected, "429"});
    json::value stored = event;
    std::string name(event.at("metadata").at("name").as_string());
    stored.as_object()["metadata"].as_object()["resourceVersion"] = std::to_string(++rv);
    events[ns + "/" + name] = stored;
    return stored;
  }
  SinkResult<json::value> patch(const std::string& ns, const std::string& name,
                                const json::value& p) override {
    std::lock_guard lock(mu);
    ++patches;
    auto it = events.find(ns + "/" + name);
    if (it == events.end()) return std::unexpected(SinkError{SinkError::Kind::kNotFound, "gone"});
    for (const auto& [k, v] : p.as_object()) it->second.as_object()[k] = v;
    return it->second;
  }
  json::value get(const std::string& key) {
    std::lock_guard lock(mu);
    return events.contains(key) ? events[key] : json::value();
  }
  void unblock() {
    {
      std::lock_guard lock(mu);
      blocked = false;
    }
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, json::value> events;
  int rv = 0, creates = 0, patches = 0, unavailable = 0;
  bool reject = false, blocked = false;
};

BroadcasterOptions fast_options(TimePoint* now) {
  BroadcasterOptions o;
  o.retry_delay = 1ms;
  o.clock = [now] { return *now; };
  return o;
}

TEST(EventBroadcaster, WritesCoreV1EventsAndCountsRepeatsWithPatches) {
  FakeSink sink;
  TimePoint now = kT0;
  EventBroadcaster b(sink, fast_options(&now));
  auto kubelet = b.recorder({"kubelet", "node1"});
  ObjectReference ref = pod_ref();
  ref.field_path = "spec.containers{srv}";
  kubelet.warning(ref, "Unhealthy", "Readiness probe failed: refused");
  ASSERT_TRUE(b.flush(5s));
  ASSERT_EQ(sink.events.size(), 1u);
  const std::string key = sink.events.begin()->first;
  const json::value e = sink.events.begin()->second;
  EXPECT_TRUE(key.starts_with("default/web.")) << key;
  EXPECT_EQ(e.at("involvedObject"), json::parse(R"({"kind":"Pod","namespace":"default","name":"web",
      "uid":"uid-web","apiVersion":"v1","resourceVersion":"7","fieldPath":"spec.containers{srv}"})"));
  EXPECT_EQ(e.at("type"), "Warning");
  EXPECT_EQ(e.at("reason"), "Unhealthy");
  EXPECT_EQ(e.at("source"), json::parse(R"({"component":"kubelet","host":"node1"})"));
  EXPECT_EQ(e.at("reportingComponent"), "kubelet");
  EXPECT_EQ(e.at("reportingInstance"), "node1");
  EXPECT_EQ(e.at("firstTimestamp"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(e.at("count"), 1);

  now += 3s;
  kubelet.warning(ref, "Unhealthy", "Readiness probe failed: refused");
  ASSERT_TRUE(b.flush(5s));
  EXPECT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.patches, 1);
  auto stored = sink.get(key);
  EXPECT_EQ(stored.at("count"), 2);
  EXPECT_EQ(stored.at("lastTimestamp"), "2023-11-14T22:13:23Z");
  EXPECT_EQ(stored.at("firstTimestamp"), "2023-11-14T22:13:20Z");

  // Its TTL ran out on the server: the next repeat creates it again, with the count it has reached.
  {
    std::lock_guard lock(sink.mu);
    sink.events.clear();
  }
  now += 3s;
  kubelet.warning(ref, "Unhealthy", "Readiness probe failed: refused");
  ASSERT_TRUE(b.flush(5s));
  EXPECT_EQ(sink.get(key).at("count"), 3);
  EXPECT_EQ(b.stats().created, 2u);
  EXPECT_EQ(b.stats().patched, 1u);

  // Events about nodes (cluster-scoped) go to "default".
  b.recorder({"node-controller", ""})
      .normal(ObjectReference{"Node", "v1", "", "n1", "n1", "", ""}, "RegisteredNode",
              "Node n1 event: Registered Node n1 in Controller");
  ASSERT_TRUE(b.flush(5s));
  bool node_event = false;
  for (const auto& [k, v] : sink.events) node_event = node_event || k.starts_with("default/n1.");
  EXPECT_TRUE(node_event);
}

TEST(EventBroadcaster, RecordingNeverBlocksAndTheQueueIsBounded) {
  FakeSink sink;
  sink.blocked = true;  // the API hangs
  TimePoint now = kT0;
  auto options = fast_options(&now);
  options.queue_limit = 5;
  options.drain_timeout = 100ms;
  {
    EventBroadcaster b(sink, options);
    auto r = b.recorder({"kubelet", "n"});
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i)
      r.normal(pod_ref("p" + std::to_string(i)), "Started", "Started container c");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    auto s = b.stats();
    EXPECT_EQ(s.recorded, 100u);
    EXPECT_GE(s.dropped_full, 94u);  // five queued, one possibly taken by the writer
    sink.unblock();
  }
  EXPECT_LE(sink.creates, 6);
}

TEST(EventBroadcaster, RetriesOnlyWhatDidNotReachTheServer) {
  FakeSink sink;
  TimePoint now = kT0;
  EventBroadcaster b(sink, fast_options(&now));
  auto r = b.recorder({"kubelet", "n"});
  sink.unavailable = 2;  // two connection failures, then it works (3 tries)
  uint64_t ticket = r.normal(pod_ref("a"), "Started", "Started container c");
  ASSERT_TRUE(r.wait(ticket, 5s));
  EXPECT_EQ(sink.creates, 3);
  EXPECT_EQ(sink.events.size(), 1u);

  sink.reject = true;  // a refusal (429, 403) is final
  ticket = r.normal(pod_ref("b"), "Started", "Started container c");
  ASSERT_TRUE(r.wait(ticket, 5s));
  EXPECT_EQ(sink.creates, 4);
  EXPECT_EQ(b.stats().failed, 1u);
}

}  // namespace
}  // namespace podnet::k8s
