// Authorization needs two facts a URL does not carry: the name of a Node being created (from the
// body) and the node a pod is bound to (from the store); both are looked up only for node identities.
#include "apiserver/http/front_handler.h"

#include <boost/json.hpp>
#include <chrono>

#include "apiserver/api_error.h"
#include "apiserver/endpoints/node_proxy.h"
#include "apiserver/endpoints/pod_exec.h"
#include "apiserver/endpoints/pod_logs.h"
#include "apiserver/endpoints/pod_proxy.h"
#include "apiserver/endpoints/protobuf_decode.h"
#include "apiserver/http/limits.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

Reply error_reply(const ApiError& e) {
  Reply r;
  r.msg.result(static_cast<http::status>(e.code));
  r.msg.set(http::field::content_type, "application/json");
  r.msg.set(http::field::cache_control, "no-cache, private");
  r.msg.body() = json::serialize(status_json(e));
  return r;
}

// Counts a watch from the moment it is handed to the connection until the connection lets go.
class CountedStream final : public StreamBody {
 public:
  CountedStream(std::shared_ptr<StreamBody> inner, Metrics& metrics, RequestLabels labels)
      : inner_(std::move(inner)), metrics_(metrics), labels_(std::move(labels)) {
    metrics_.watch_opened(labels_);
  }
  ~CountedStream() override { metrics_.watch_closed(labels_); }
  void start(boost::asio::any_io_executor executor, std::shared_ptr<ChunkSink> sink) override {
    inner_->start(std::move(executor), std::move(sink));
  }
  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<StreamBody> inner_;
  Metrics& metrics_;
  RequestLabels labels_;
};

// pods/exec, attach and portforward: a WebSocket client opens them with a GET.
bool connect_subresource(const RequestAttributes& a) {
  return a.resource_request && a.group.empty() && a.resource == "pods" &&
         (a.subresource == "exec" || a.subresource == "attach" || a.subresource == "portforward");
}

// `podnet trace --live`'s probe steps (nodes/<n>/proxy/podnet/v1/probe/...) send traffic as the
// pod named in their query: beyond nodes/proxy they need what exec into that pod needs. Not a
// probe path: nullopt. A probe path naming no pod gets an empty name, which nothing is allowed.
std::optional<RequestAttributes> probe_exec_attributes(const RequestAttributes& a, const Target& target) {
  if (!a.resource_request || !a.group.empty() || a.resource != "nodes" || a.subresource != "proxy")
    return std::nullopt;
  auto rp = parse_resource_path(target.path);
  if (!rp || !rp->subpath.starts_with("/podnet/v1/probe")) return std::nullopt;
  RequestAttributes exec;
  exec.verb = "create";
  exec.resource_request = true;
  exec.version = "v1";
  exec.resource = "pods";
  exec.subresource = "exec";
  auto ns = target.query.find("namespace");
  auto pod = target.query.find("pod");
  exec.ns = ns == target.query.end() ? std::string() : ns->second;
  exec.name = pod == target.query.end() ? std::string() : pod->second;
  return exec;
}

// A probe's `src` (the address the node traces) must be the pod's own: exec into one pod is no
// licence to watch another's connections. Empty: fine (or no src given); else why not.
std::string probe_source_mismatch(ObjectStore& objects, const ResourceRegistry& registry,
                                  const RequestAttributes& pod, const Target& target) {
  auto src = target.query.find("src");
  if (src == target.query.end()) return {};
  auto obj = objects.get(*registry.find("", "v1", "pods"), pod.ns, pod.name);
  if (!obj) return "pod " + pod.ns + "/" + pod.name + " not found";
  const json::object* o = obj->if_object();
  const json::value* status = o ? o->if_contains("status") : nullptr;
  const json::object* st = status ? status->if_object() : nullptr;
  if (st) {
    if (const json::value* ip = st->if_contains("podIP");
        ip && ip->is_string() && ip->get_string() == src->second)
      return {};
    if (const json::value* ips = st->if_contains("podIPs"); ips && ips->is_array())
      for (const auto& i : ips->get_array())
        if (const json::object* io = i.if_object())
          if (const json::value* ip = io->if_contains("ip");
              ip && ip->is_string() && ip->get_string() == src->second)
            return {};
  }
  return "src " + src->second.substr(0, 64) + " is not an address of pod " + pod.ns + "/" + pod.name;
}

std::string body_name(const Request& request) {
  ApiResult<json::value> body = json::value();
  if (request.msg[http::field::content_type].starts_with(kProtobufMediaType)) {
    body = decode_protobuf_object(request.msg.body());
  } else {
    boost::system::error_code ec;
    body = limits::parse_request(request.msg.body(), ec);
    if (ec) return {};
  }
  if (!body) return {};
  const json::object* o = body->if_object();
  const json::value* meta = o ? o->if_contains("metadata") : nullptr;
  const json::value* name = meta && meta->is_object() ? meta->get_object().if_contains("name") : nullptr;
  return name && name->is_string() ? std::string(name->get_string()) : std::string();
}

}  // namespace

FrontHandler::FrontHandler(const ResourceRegistry& registry, ObjectStore& objects, Metrics& metrics,
                           HttpHandler& api, const Authorizer& authorizer, KubeletClientTls kubelet)
    : registry_(registry),
      objects_(objects),
      metrics_(metrics),
      api_(api),
      authorizer_(authorizer),
      kubelet_(std::move(kubelet)) {}

PodNodeLookup pod_node_lookup(ObjectStore& objects, const ResourceRegistry& registry) {
  return [&registry, &objects](const std::string& ns, const std::string& name) -> std::optional<std::string> {
    auto pod = objects.get(*registry.find("", "v1", "pods"), ns, name);
    if (!pod) return std::nullopt;
    const json::value* spec = pod->get_object().if_contains("spec");
    const json::value* node =
        spec && spec->is_object() ? spec->get_object().if_contains("nodeName") : nullptr;
    return node && node->is_string() ? std::string(node->get_string()) : std::string();
  };
}

Reply FrontHandler::handle(Request& request) {
  const auto start = std::chrono::steady_clock::now();
  Target target = parse_target(request.msg.target());
  RequestAttributes attributes = request_attributes(request.msg.method(), target);
  Reply reply;
  if (!request.identity.authenticated) {
    reply = error_reply(unauthorized());
  } else {
    if (attributes.verb == "create" && attributes.resource == "nodes" && node_name_of(request.identity))
      attributes.object_name = body_name(request);
    // A GET that opens a stream must also be allowed to create it (kube's
    // AuthorizePodWebsocketUpgradeCreatePermission): SPDY clients POST, WebSocket clients GET, and
    // `get pods/exec` must not be a way to run commands.
    RequestAttributes create = attributes;
    create.verb = "create";
    auto probe_exec = probe_exec_attributes(attributes, target);
    if (probe_exec && (probe_exec->ns.empty() || probe_exec->name.empty()))
      reply = error_reply(bad_request("a probe needs the source pod: namespace and pod query parameters"));
    else if (probe_exec && !authorizer_.allowed(request.identity, *probe_exec))
      reply = error_reply(forbidden(request.identity, *probe_exec));
    else if (std::string why =
                 probe_exec ? probe_source_mismatch(objects_, registry_, *probe_exec, target) : "";
             !why.empty())
      reply = error_reply(bad_request(why));
    else if (!authorizer_.allowed(request.identity, attributes))
      reply = error_reply(forbidden(request.identity, attributes));
    else if (attributes.verb == "get" && connect_subresource(attributes) &&
             !authorizer_.allowed(request.identity, create))
      reply = error_reply(forbidden(request.identity, create));
    else
      reply = route(request, target, attributes);
  }
  RequestLabels labels = metric_labels(request, attributes);
  if (reply.stream && labels.verb == "WATCH")
    reply.stream = std::make_shared<CountedStream>(std::move(reply.stream), metrics_, labels);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  metrics_.observe_request(labels, reply.msg.result_int(), took.count());
  return reply;
}

Reply FrontHandler::route(Request& request, const Target& target, const RequestAttributes& a) {
  if (!a.resource_request && a.path == "/metrics") {
    if (request.msg.method() != http::verb::get) return error_reply(method_not_allowed(a.verb));
    Reply r;
    r.msg.result(http::status::ok);
    r.msg.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.msg.body() = metrics_.render();
    return r;
  }
  if (a.resource_request && a.group.empty() && a.version == "v1" && a.resource == "pods" &&
      a.subresource == "log" && !a.name.empty()) {
    if (a.verb != "get") return error_reply(method_not_allowed(std::string(request.msg.method_string())));
    if (a.ns.empty()) return error_reply(bad_request("a namespace is required for pods"));
    return pod_log(objects_, registry_, a.ns, a.name, target.query, kubelet_);
  }
  if (a.resource_request && a.group.empty() && a.version == "v1" && a.resource == "pods" &&
      a.subresource == "exec" && !a.name.empty()) {
    if (a.verb != "get" && a.verb != "create")
      return error_reply(method_not_allowed(std::string(request.msg.method_string())));
    if (a.ns.empty()) return error_reply(bad_request("a namespace is required for pods"));
    return pod_exec(objects_, registry_, request, a.ns, a.name, kubelet_);
  }
  if (a.resource_request && a.group.empty() && a.version == "v1" && a.resource == "pods" &&
      a.subresource == "attach" && !a.name.empty()) {
    if (a.verb != "get" && a.verb != "create")
      return error_reply(method_not_allowed(std::string(request.msg.method_string())));
    if (a.ns.empty()) return error_reply(bad_request("a namespace is required for pods"));
    return pod_attach(objects_, registry_, request, a.ns, a.name, kubelet_);
  }
  if (a.resource_request && a.group.empty() && a.version == "v1" && a.resource == "pods" &&
      a.subresource == "portforward" && !a.name.empty()) {
    if (a.verb != "get" && a.verb != "create")
      return error_reply(method_not_allowed(std::string(request.msg.method_string())));
    if (a.ns.empty()) return error_reply(bad_request("a namespace is required for pods"));
    return pod_portforward(objects_, registry_, request, a.ns, a.name, kubelet_);
  }
  if (a.resource_request && a.group.empty() && a.version == "v1" && a.resource == "nodes" &&
      a.subresource == "proxy" && !a.name.empty()) {
    if (a.verb != "get") return error_reply(method_not_allowed(std::string(request.msg.method_string())));
    auto rp = parse_resource_path(target.path);
    return node_proxy(objects_, registry_, a.name, rp ? rp->subpath : std::string(), target.query, kubelet_,
                      node_connections_);
  }
  if (a.resource_request && a.group.empty() && a.version == "v1" &&
      (a.resource == "pods" || a.resource == "services") && a.subresource == "proxy" && !a.name.empty()) {
    if (a.ns.empty()) return error_reply(bad_request("a namespace is required for " + a.resource));
    ProxyCall call{a.ns, a.resource, a.name, "", "", target.path};
    // What follows .../<name>/proxy, trailing slash kept (parse_resource_path drops empty segments).
    const std::string marker = "/namespaces/" + a.ns + "/" + a.resource + "/" + a.name + "/proxy";
    if (size_t at = target.path.find(marker); at != std::string::npos)
      call.subpath = target.path.substr(at + marker.size());
    if (!call.subpath.empty() && call.subpath[0] != '/')
      return error_reply(not_found("", a.resource, a.name));
    std::string_view raw(request.msg.target().data(), request.msg.target().size());
    if (size_t q = raw.find('?'); q != std::string_view::npos)
      call.raw_query = std::string(raw.substr(q + 1));
    return resource_proxy(objects_, registry_, request, call, kubelet_);
  }
  return api_.handle(request);
}

RequestLabels FrontHandler::metric_labels(const Request& request, const RequestAttributes& a) const {
  RequestLabels l;
  static const std::map<std::string, std::string> kVerbs{
      {"get", "GET"},    {"list", "LIST"},   {"watch", "WATCH"},   {"create", "POST"},
      {"update", "PUT"}, {"patch", "PATCH"}, {"delete", "DELETE"}, {"deletecollection", "DELETECOLLECTION"}};
  if (!a.resource_request) {
    l.verb = std::string(request.msg.method_string());
    return l;
  }
  auto it = kVerbs.find(a.verb);
  l.verb = it == kVerbs.end() ? std::string(request.msg.method_string()) : it->second;
  if (l.verb == "PATCH" && request.msg[http::field::content_type].starts_with("application/apply-patch"))
    l.verb = "APPLY";
  // Only names the server knows become label values: a client must not grow the metric set.
  if (!registry_.find(a.group, a.version, a.resource)) return l;
  l.group = a.group;
  l.version = a.version;
  l.resource = a.resource;
  if (a.subresource == "status" || a.subresource == "log") l.subresource = a.subresource;
  return l;
}

}  // namespace podnet::apiserver
