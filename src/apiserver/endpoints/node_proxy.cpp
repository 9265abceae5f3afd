#include "apiserver/endpoints/node_proxy.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "apiserver/api_error.h"

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

}  // namespace

Reply node_proxy(ObjectStore& objects, const ResourceRegistry& registry, const std::string& node,
                 const std::string& subpath, const QueryParams& query, const KubeletClientTls& kubelet,
                 NodeConnectionPool& pool, std::chrono::milliseconds timeout) {
  // The agent's other paths (exec, port-forward, logs) have subresources of their own with their
  // own rules; nodes/proxy reaches only the read-only node API.
  if (!subpath.starts_with("/podnet/"))
    return error_reply(
        {404, "NotFound",
         "nodes/proxy relays only the node API (/podnet/v1/...), not \"" + subpath.substr(0, 64) + "\""});
  auto address = node_address(objects, registry, node);
  if (!address) return error_reply(address.error());
  std::string target;
  for (size_t i = 1, start = 1; i <= subpath.size(); ++i)
    if (i == subpath.size() || subpath[i] == '/') {
      target += "/" + percent_encode(subpath.substr(start, i - start));
      start = i + 1;
    }
  std::string sep = "?";
  for (const auto& [k, v] : query) {
    if (k == "timeout") continue;  // the API server's own (kubectl --request-timeout), not the node's
    target += sep + percent_encode(k) + "=" + percent_encode(v);
    sep = "&";
  }
  const std::string what = "Get \"https://" + address->host_port() + target + "\"";
  auto got = pool.get(*address, kubelet, target, what, timeout, kNodeProxyBodyLimit);
  if (!got) return error_reply(got.error());
  NodeGetReply& res = *got;
  if (res.status >= 400) {
    // The agent's reason, as a Status kubectl and client libraries print.
    json::error_code ec;
    json::value body = json::parse(res.body, ec);
    const json::object* o = ec ? nullptr : body.if_object();
    const json::value* why = o ? o->if_contains("error") : nullptr;
    std::string message = why && why->is_string() ? std::string(why->get_string()) : res.body.substr(0, 1024);
    int code = res.status < 600 ? static_cast<int>(res.status) : 502;
    std::string reason = code == 400   ? "BadRequest"
                         : code == 404 ? "NotFound"
                         : code == 413 ? "RequestEntityTooLarge"
                                       : "InternalError";
    return error_reply({code, reason, "node " + node + ": " + message});
  }
  Reply r;
  r.msg.result(res.status);
  r.msg.set(http::field::content_type,
            res.content_type.empty() ? "application/octet-stream" : res.content_type);
  r.msg.body() = std::move(res.body);
  return r;
}

}  // namespace podnet::apiserver
