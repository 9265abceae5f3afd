#include "apiserver/endpoints/pod_proxy.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <random>

#include "apiserver/api_error.h"
#include "apiserver/endpoints/proxy_target.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace beast = boost::beast;

namespace {

Reply error_reply(const ApiError& e) {
  Reply r;
  r.msg.result(static_cast<http::status>(e.code));
  r.msg.set(http::field::content_type, "application/json");
  r.msg.body() = json::serialize(status_json(e));
  return r;
}

ApiError unreachable(const std::string& why) {
  return {503, "ServiceUnavailable", "error trying to reach service: " + why};
}

// Hop-by-hop headers (RFC 9110 7.6.1), the framing the API server sets itself, and Expect: never
// passed on.
bool hop_by_hop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection", "keep-alive", "proxy-connection",
                                                "proxy-authenticate", "proxy-authorization", "te", "trailer",
                                                "transfer-encoding", "upgrade", "content-length",
                                                // The body is here already: the pod's 100 Continue
                                                // would be read as its answer.
                                                "expect"};
  for (auto n : kNames)
    if (beast::iequals(name, n)) return true;
  return false;
}

// The client's credentials stay at the API server (kube's authentication filter drops them).
bool credential(std::string_view name) {
  return beast::iequals(name, "authorization") || beast::iequals(name, "host") ||
         (name.size() >= 12 && beast::iequals(name.substr(0, 12), "impersonate-"));
}

// A decoded path encoded again segment by segment (':' and '@' may stand in a segment as they are).
std::string encode_path(const std::string& path) {
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string segment = percent_encode(path.substr(start, slash - start));
    for (size_t at; (at = segment.find("%3A")) != std::string::npos;) segment.replace(at, 3, ":");
    for (size_t at; (at = segment.find("%40")) != std::string::npos;) segment.replace(at, 3, "@");
    out += segment;
    if (slash < path.size()) out += '/';
    start = slash + 1;
  }
  return out;
}

std::vector<json::value> items(ApiResult<json::value> list) {
  std::vector<json::value> out;
  if (!list || !list->is_object()) return out;
  if (const json::value* it = list->get_object().if_contains("items"); it && it->is_array())
    for (const auto& v : it->get_array()) out.push_back(v);
  return out;
}

ApiResult<ProxyTarget> resolve(ObjectStore& objects, const ResourceRegistry& registry, const ProxyCall& call,
                               const ProxyName& name) {
  const ResourceType* pods = registry.find("", "v1", "pods");
  if (call.resource == "pods") {
    auto pod = objects.get(*pods, call.ns, name.name);
    if (!pod) return std::unexpected(pod.error());
    return pod_proxy_target(*pod, name);
  }
  auto service = objects.get(*registry.find("", "v1", "services"), call.ns, name.name);
  if (!service) return std::unexpected(service.error());
  ListQuery q;
  auto selector = parse_label_selector("kubernetes.io/service-name=" + name.name);
  if (!selector) return std::unexpected(selector.error());
  q.labels = std::move(*selector);
  auto slices = items(objects.list(*registry.find("discovery.k8s.io", "v1", "endpointslices"), call.ns, q));
  thread_local std::mt19937_64 random{std::random_device{}()};
  return service_proxy_target(
      *service, slices,
      [&](const std::string& pod) -> std::optional<json::value> {
        auto p = objects.get(*pods, call.ns, pod);
        if (!p) return std::nullopt;
        return std::move(*p);
      },
      name, [](size_t n) { return static_cast<size_t>(random() % n); });
}

}  // namespace

Reply resource_proxy(ObjectStore& objects, const ResourceRegistry& registry, const Request& request,
                     const ProxyCall& call, const KubeletClientTls& kubelet,
                     std::chrono::milliseconds connect_timeout, std::chrono::milliseconds exchange_timeout) {
  const bool pods = call.resource == "pods";
  auto name = split_scheme_name_port(call.id);
  if (!name)
    return error_reply(bad_request("invalid " + std::string(pods ? "pod" : "service") + " request \"" +
                                   call.id.substr(0, 256) + "\""));
  // The root of a pod's site without the slash: relative links on it would resolve above /proxy.
  const auto method = request.msg.method();
  if (call.subpath.empty() && (method == http::verb::get || method == http::verb::head)) {
    Reply r;
    r.msg.result(http::status::moved_permanently);
    r.msg.set(http::field::location,
              encode_path(call.request_path) + "/" + (call.raw_query.empty() ? "" : "?" + call.raw_query));
    return r;
  }
  auto target = resolve(objects, registry, call, *name);
  if (!target) return error_reply(target.error());
  auto nodes = items(objects.list(*registry.find("", "v1", "nodes"), "", ListQuery{}));
  if (auto ok = check_proxy_address(target->ip, nodes); !ok) return error_reply(ok.error());
  auto node = node_address(objects, registry, target->node);
  if (!node) return error_reply(node.error());

  const bool v6 = target->ip.find(':') != std::string::npos;
  const std::string host = (v6 ? "[" + target->ip + "]" : target->ip) + ":" + std::to_string(target->port);
  NodeConnection conn;
  if (auto c = connect_node(conn, *node, kubelet, "node " + node->node_name, connect_timeout); !c)
    return error_reply(unreachable(c.error().message));
  auto& stream = *conn.stream;
  auto& tcp_stream = beast::get_lowest_layer(stream);

  // 1. The agent connects from the node to the pod and answers 101 (or why not).
  http::request<http::empty_body> upgrade{http::verb::get,
                                          "/podProxy/" + percent_encode(target->ns) + "/" +
                                              percent_encode(target->pod) + "/" + percent_encode(target->ip) +
                                              "/" + std::to_string(target->port),
                                          11};
  upgrade.set(http::field::host, node->host_port());
  upgrade.set(http::field::connection, "Upgrade");
  upgrade.set(http::field::upgrade, "podnet-stream");
  http::response_parser<http::string_body> agent;
  agent.body_limit(64 << 10);
  beast::error_code result;
  tcp_stream.expires_after(connect_timeout);
  http::async_write(stream, upgrade, [&](beast::error_code e, size_t) {
    if ((result = e)) return;
    http::async_read(stream, conn.buffer, agent, [&](beast::error_code e2, size_t) { result = e2; });
  });
  conn.ioc.run();
  conn.ioc.restart();
  if (result) return error_reply(unreachable("node " + node->node_name + ": " + result.message()));
  if (agent.get().result() != http::status::switching_protocols) {
    std::string why = agent.get().body().substr(0, 1024);
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    int code = agent.get().result_int();
    if (code == 400 || code == 403) return error_reply(bad_request(why));
    return error_reply(unreachable(why));
  }

  // 2. The client's request, as the pod must see it.
  http::request<http::string_body> out;
  if (method == http::verb::unknown)
    out.method_string(request.msg.method_string());
  else
    out.method(method);
  out.version(11);
  out.target(encode_path(call.subpath) + (call.raw_query.empty() ? "" : "?" + call.raw_query));
  for (const auto& field : request.msg) {
    if (hop_by_hop(field.name_string()) || credential(field.name_string())) continue;
    out.insert(field.name_string(), field.value());
  }
  out.set(http::field::host, host);
  out.set(http::field::connection, "close");
  out.body() = request.msg.body();
  if (!out.body().empty() || method == http::verb::post || method == http::verb::put ||
      method == http::verb::patch)
    out.prepare_payload();

  http::response_parser<http::string_body> answer;
  answer.header_limit(kProxyHeaderLimit);
  answer.body_limit(kProxyBodyLimit);
  if (method == http::verb::head) answer.skip(true);
  tcp_stream.expires_after(exchange_timeout);
  http::async_write(stream, out, [&](beast::error_code e, size_t) {
    if ((result = e)) return;
    http::async_read(stream, conn.buffer, answer, [&](beast::error_code e2, size_t) { result = e2; });
  });
  conn.ioc.run();
  if (result == http::error::body_limit)
    return error_reply({502, "InternalError",
                        "the answer of " + host + " is larger than the proxy's limit of " +
                            std::to_string(kProxyBodyLimit) + " bytes"});
  if (result) return error_reply(unreachable(host + ": " + result.message()));

  // 3. The pod's answer, as the client must see it.
  auto& res = answer.get();
  Reply r;
  r.msg.result(res.result_int());
  const std::string prefix =
      encode_path("/api/v1/namespaces/" + call.ns + "/" + call.resource + "/" + call.id + "/proxy");
  for (const auto& field : res) {
    if (hop_by_hop(field.name_string())) continue;
    if (field.name() == http::field::location)
      r.msg.insert(field.name_string(), rewrite_location(field.value(), prefix));
    else
      r.msg.insert(field.name_string(), field.value());
  }
  r.msg.body() = std::move(res.body());
  return r;
}

}  // namespace podnet::apiserver
