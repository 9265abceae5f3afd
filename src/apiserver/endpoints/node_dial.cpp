#include "apiserver/endpoints/node_dial.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "common/tls_policy.h"
#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

using k8s::fields::at;
using k8s::fields::string_at;

namespace {

constexpr int kDefaultKubeletPort = 10250;

}  // namespace

std::string percent_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string NodeAddress::host_port() const {
  std::string ip = address.to_string();
  return (address.is_v6() ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

ApiResult<NodeAddress> pod_node_address(ObjectStore& objects, const ResourceRegistry& registry,
                                        const json::value& pod) {
  std::string name = string_at(pod, {"metadata", "name"});
  std::string node_name = string_at(pod, {"spec", "nodeName"});
  if (node_name.empty()) return api_fail(bad_request("pod " + name + " does not have a host assigned"));
  return node_address(objects, registry, node_name);
}

ApiResult<NodeAddress> node_address(ObjectStore& objects, const ResourceRegistry& registry,
                                    const std::string& node_name) {
  auto node = objects.get(*registry.find("", "v1", "nodes"), "", node_name);
  if (!node) return api_fail(node.error());
  std::string ip;
  if (const json::value* addrs = at(*node, {"status", "addresses"}); addrs && addrs->is_array())
    for (const auto& a : addrs->get_array())
      if (string_at(a, {"type"}) == "InternalIP" && ip.empty()) ip = string_at(a, {"address"});
  if (ip.empty())
    return api_fail({503, "ServiceUnavailable", "node " + node_name + " has no InternalIP address"});
  NodeAddress out;
  out.node_name = node_name;
  beast::error_code ec;
  out.address = net::ip::make_address(ip, ec);
  if (ec) return api_fail({503, "ServiceUnavailable", "node " + node_name + ": bad InternalIP " + ip});
  out.port = kDefaultKubeletPort;
  if (const json::value* p = at(*node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"});
      p && p->is_int64() && p->get_int64() > 0 && p->get_int64() < 65536)
    out.port = static_cast<uint16_t>(p->get_int64());
  return out;
}

ApiResult<void> connect_node(NodeConnection& conn, const NodeAddress& node, const KubeletClientTls& kubelet,
                             const std::string& what, std::chrono::milliseconds timeout) {
  auto unreachable = [&](const std::string& why) {
    return api_fail({503, "ServiceUnavailable", what + ": " + why});
  };
  // The node answered but is not who it must be: kube-apiserver's 500 for a failed verification.
  auto not_the_node = [&](const std::string& why) {
    return api_fail({502, "InternalError", what + ": " + why});
  };
  const std::string ip = node.address.to_string();
  try {  // ssl::context's constructor throws when OpenSSL cannot make a context
    conn.tls.emplace(ssl::context::tls_client);
  } catch (const std::exception& e) {
    return api_fail(internal_error(std::string("TLS context: ") + e.what()));
  }
  ssl::context& tls = *conn.tls;
  if (auto s = apply_tls_policy(tls.native_handle()); !s)
    return api_fail(internal_error(s.error().message()));
  beast::error_code ec;
  tls.add_certificate_authority(net::buffer(kubelet.ca_pem), ec);
  if (!ec) tls.use_certificate_chain(net::buffer(kubelet.client.cert_pem), ec);
  if (!ec) tls.use_private_key(net::buffer(kubelet.client.key_pem), ssl::context::pem, ec);
  if (!ec) tls.set_verify_mode(ssl::verify_peer, ec);
  if (ec) return api_fail(internal_error("kubelet client credentials: " + ec.message()));
  conn.stream.emplace(conn.ioc, tls);
  auto& stream = *conn.stream;
  // The node's certificate must chain to the cluster CA and name the address dialed.
  if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream.native_handle()), ip.c_str()) != 1)
    return api_fail(internal_error("verify parameters for " + ip));
  beast::error_code result;
  bool connected = false;
  auto& tcp_stream = beast::get_lowest_layer(stream);
  tcp_stream.expires_after(timeout);
  tcp_stream.async_connect(tcp::endpoint(node.address, node.port), [&](beast::error_code e) {
    if ((result = e)) return;
    connected = true;
    stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e1) { result = e1; });
  });
  conn.ioc.run();
  conn.ioc.restart();
  if (result && !connected) return unreachable(result.message());
  if (result) {
    long verify = SSL_get_verify_result(stream.native_handle());
    if (verify != X509_V_OK)
      return not_the_node("the node's serving certificate is not valid for " + ip +
                          " from the cluster CA: " + X509_verify_cert_error_string(verify));
    return not_the_node("TLS handshake: " + result.message());
  }
  // The address is the node's own only if the certificate is: one node may not answer for another.
  const X509* peer = SSL_get0_peer_certificate(stream.native_handle());
  std::string expected_cn = "system:node:" + node.node_name;
  if (!peer || cert_subject(peer).common_name != expected_cn)
    return not_the_node("the serving certificate at " + ip + " is for \"" +
                        (peer ? cert_subject(peer).common_name : std::string()) + "\", not \"" + expected_cn +
                        "\"");
  conn.fd = tcp_stream.socket().native_handle();
  return {};
}

}  // namespace podnet::apiserver
