// The API server's connection to the node agent that runs a pod (kube-apiserver -> kubelet), shared
// by pods/log and the streaming subresources: the node's InternalIP and kubelet port from its Node,
// a TLS connection that presents the API server's kubelet client certificate and accepts only the
// node's serving certificate (chain to the cluster CA, the address dialed among its IP SANs, CN
// system:node:<the pod's node>). Nothing is sent to a node that fails this.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "apiserver/api_error.h"
#include "apiserver/auth/pki.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

// The cluster CA nodes' serving certificates chain to, and the API server's client credential.
struct KubeletClientTls {
  std::string ca_pem;
  KeyPair client;  // CN=kube-apiserver-kubelet-client
};

struct NodeAddress {
  std::string node_name;
  boost::asio::ip::address address;
  uint16_t port = 10250;
  std::string host_port() const;  // "10.0.0.3:10250", "[fd00::3]:10250"
};

// A stored Node's InternalIP and kubelet port; 404 for no such node, 503 for no usable address.
ApiResult<NodeAddress> node_address(ObjectStore& objects, const ResourceRegistry& registry,
                                    const std::string& node_name);

// The node of a stored pod, or kube's errors: 400 no host assigned, 503 no usable address.
ApiResult<NodeAddress> pod_node_address(ObjectStore& objects, const ResourceRegistry& registry,
                                        const boost::json::value& pod);

// One TLS connection to a node agent, on a private io_context (its owner runs it).
struct NodeConnection {
  boost::asio::io_context ioc;
  std::optional<boost::asio::ssl::context> tls;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> stream;
  boost::beast::flat_buffer buffer;
  int fd = -1;  // the socket's, for shutdown() from another thread; closed with the stream
  std::atomic<bool> stopped{false};
};

// Connects, handshakes and verifies the node within `timeout`. Errors name `what` (e.g.
// `Get "https://10.0.0.3:10250/containerLogs/..."`): 503 when the node does not answer, 502 when
// it is not who it must be, 500 for the API server's own credentials.
ApiResult<void> connect_node(NodeConnection& conn, const NodeAddress& node, const KubeletClientTls& kubelet,
                             const std::string& what, std::chrono::milliseconds timeout);

std::string percent_encode(const std::string& s);

}  // namespace podnet::apiserver
