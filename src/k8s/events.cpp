#include "k8s/events.h"

#include <boost/json.hpp>

#include "common/time.h"
#include "k8s/json_fields.h"

namespace podnet::k8s {
namespace json = boost::json;
namespace {

std::string str_at(const json::object* o, std::string_view key) {
  return o ? fields::string_at(*o, {key}) : std::string();
}

// Fields joined with a separator no API string field is likely to hold, so that two different
// tuples cannot make the same key (client-go joins with "", which can).
template <class... S>
std::string join(const S&... parts) {
  std::string out;
  ((out += parts, out += '\x1f'), ...);
  return out;
}

}  // namespace

json::object ObjectReference::to_json() const {
  json::object o;
  if (!kind.empty()) o["kind"] = kind;
  if (!ns.empty()) o["namespace"] = ns;
  if (!name.empty()) o["name"] = name;
  if (!uid.empty()) o["uid"] = uid;
  if (!api_version.empty()) o["apiVersion"] = api_version;
  if (!resource_version.empty()) o["resourceVersion"] = resource_version;
  if (!field_path.empty()) o["fieldPath"] = field_path;
  return o;
}

ObjectReference reference_to(const json::value& object) {
  const json::object* o = object.if_object();
  const json::value* m = o ? o->if_contains("metadata") : nullptr;
  const json::object* meta = m ? m->if_object() : nullptr;
  ObjectReference r;
  r.kind = str_at(o, "kind");
  r.api_version = str_at(o, "apiVersion");
  r.ns = str_at(meta, "namespace");
  r.name = str_at(meta, "name");
  r.uid = str_at(meta, "uid");
  r.resource_version = str_at(meta, "resourceVersion");
  return r;
}

json::value Event::to_json() const {
  json::object meta{{"name", name}, {"namespace", ns}};
  if (!resource_version.empty()) meta["resourceVersion"] = resource_version;
  json::object src{{"component", source.component}};
  if (!source.host.empty()) src["host"] = source.host;
  json::object e{{"apiVersion", "v1"},
                 {"kind", "Event"},
                 {"metadata", std::move(meta)},
                 {"involvedObject", involved.to_json()},
                 {"reason", reason},
                 {"message", message},
                 {"source", std::move(src)},
                 {"firstTimestamp", rfc3339(first)},
                 {"lastTimestamp", rfc3339(last)},
                 {"count", count},
                 {"type", type},
                 {"eventTime", nullptr},
                 {"reportingComponent", source.component},
                 {"reportingInstance", source.host}};
  return e;
}

std::string event_key(const Event& e) {
  const auto& i = e.involved;
  return join(e.source.component, e.source.host, i.kind, i.ns, i.name, i.field_path, i.uid, i.api_version,
              e.type, e.reason, e.message);
}

std::string aggregate_key(const Event& e) {
  const auto& i = e.involved;
  // reportingController and reportingInstance are the source's here.
  return join(e.source.component, e.source.host, i.kind, i.ns, i.name, i.uid, i.api_version, e.type,
              e.reason);
}

std::string spam_key(const Event& e) {
  const auto& i = e.involved;
  return join(e.source.component, e.source.host, i.kind, i.ns, i.name, i.uid, i.api_version);
}

EventCorrelator::EventCorrelator(CorrelatorOptions options)
    : options_(options),
      aggregates_(options.cache_size),
      observed_(options.cache_size),
      spam_(options.cache_size) {}

EventCorrelator::Result EventCorrelator::correlate(Event event, TimePoint now,
                                                   const std::string& unique_suffix) {
  // 1. Similar events (same object and reason): past the limit within the window, one combined event.
  std::string key = event_key(event);
  {
    std::string agg_key = aggregate_key(event);
    Aggregate& agg = aggregates_.get_or_put(agg_key, [] { return Aggregate{}; });
    if (now - agg.last > options_.similar_window) agg = Aggregate{};
    agg.messages.insert(event.message);
    agg.last = now;
    if (agg.messages.size() >= options_.max_similar) {
      agg.messages.erase(agg.messages.begin());  // bounded; the set only needs to stay "full"
      Event combined;
      combined.ns = event.ns;
      combined.name = event.involved.name + "." + unique_suffix;
      combined.involved = event.involved;
      combined.type = event.type;
      combined.reason = event.reason;
      combined.source = event.source;
      combined.message = kCombinedPrefix + event.message;
      combined.first = combined.last = now;
      combined.count = 1;
      event = std::move(combined);
      key = agg_key;
    }
  }
  // 2. A repeat of an event already written: the same object, counted up (a patch).
  Result result;
  if (Observed* seen = observed_.get(key)) {
    event.count = seen->count + 1;
    event.first = seen->first;
    event.name = seen->name;
    event.resource_version = seen->resource_version;
    result.patch = json::object{
        {"count", event.count}, {"lastTimestamp", rfc3339(event.last)}, {"message", event.message}};
  }
  observed_.put(key, Observed{event.count, event.first, event.name, event.resource_version});
  // 3. The spam filter: a token per event, per source and object.
  auto& bucket = spam_.get_or_put(
      spam_key(event), [&] { return TokenBucket<TimePoint>(options_.spam_qps, options_.spam_burst, now); });
  result.skip = !bucket.take(now);
  result.event = std::move(event);
  return result;
}

void EventCorrelator::written(const Event& event) {
  // client-go's UpdateState: keyed by the event as written (a combined event by its own message).
  observed_.put(event_key(event), Observed{event.count, event.first, event.name, event.resource_version});
}

}  // namespace podnet::k8s
