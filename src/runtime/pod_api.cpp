#include "runtime/pod_api.h"

#include <boost/json.hpp>

namespace podnet::runtime {
namespace json = boost::json;

namespace {
std::string meta(const json::value& pod, const char* key) {
  const auto* o = pod.if_object();
  const auto* m = o ? o->if_contains("metadata") : nullptr;
  const auto* v = m && m->is_object() ? m->get_object().if_contains(key) : nullptr;
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}
}  // namespace

std::string ClientPodApi::pods_path() const {
  return "/api/v1/pods?fieldSelector=spec.nodeName%3D" + node_;
}

template <typename F>
auto ClientPodApi::limited(F call) -> decltype(call()) {
  in_flight_.acquire();
  struct Release {
    std::counting_semaphore<64>& s;
    ~Release() { s.release(); }
  } release{in_flight_};
  return call();
}

Result<json::value> ClientPodApi::get_pod(const std::string& ns, const std::string& name) {
  return limited([&] { return api_.get("/api/v1/namespaces/" + ns + "/pods/" + name); });
}

Result<json::value> ClientPodApi::update_status(const json::value& pod) {
  std::string ns = meta(pod, "namespace"), name = meta(pod, "name");
  return limited([&] { return api_.update_status("/api/v1/namespaces/" + ns + "/pods/" + name, pod); });
}

Status ClientPodApi::delete_pod(const std::string& ns, const std::string& name, const std::string& uid) {
  json::value body = json::object{{"kind", "DeleteOptions"},
                                  {"apiVersion", "v1"},
                                  {"gracePeriodSeconds", 0},
                                  {"preconditions", json::object{{"uid", uid}}}};
  auto r = limited([&] { return api_.remove("/api/v1/namespaces/" + ns + "/pods/" + name, body); });
  // 409: the uid precondition failed, so a new pod of the same name holds it; ours is gone.
  if (!r && r.error().code != kNotFound && r.error().code != kConflict) return std::unexpected(r.error());
  return {};
}

// Events do not wait for the in-flight slots: one recorder thread writes them one at a time, and
// pod status writes should not queue behind them.
Result<json::value> ClientPodApi::create_event(const std::string& ns, const json::value& event) {
  return api_.create("/api/v1/namespaces/" + ns + "/events", event);
}

Result<json::value> ClientPodApi::patch_event(const std::string& ns, const std::string& name,
                                              const json::value& patch) {
  return api_.patch("/api/v1/namespaces/" + ns + "/events/" + name, k8s::PatchType::kStrategicMerge, patch);
}

namespace {
k8s::SinkResult<json::value> to_sink(Result<json::value> r) {
  if (r) return std::move(*r);
  return std::unexpected(k8s::sink_error(r.error()));
}
}  // namespace

k8s::SinkResult<json::value> PodApiEventSink::create(const std::string& ns, const json::value& event) {
  return to_sink(api_.create_event(ns, event));
}

k8s::SinkResult<json::value> PodApiEventSink::patch(const std::string& ns, const std::string& name,
                                                    const json::value& patch) {
  return to_sink(api_.patch_event(ns, name, patch));
}

}  // namespace podnet::runtime
