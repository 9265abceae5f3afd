// Wiring only. Member order in Parts is destruction order in reverse: the HTTPS server (and with it
// every watch) goes before the handler, the object layer and the store.
#include "apiserver/api_server.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <boost/json.hpp>
#include <cstring>
#include <random>

#include "apiserver/auth/kubeconfig.h"
#include "apiserver/auth/tls_bootstrap.h"
#include "apiserver/endpoints/readiness.h"
#include "apiserver/http/https_server.h"
#include "apiserver/http/metrics.h"
#include "apiserver/in_process_client.h"
#include "apiserver/registry/compactor.h"
#include "apiserver/registry/event_ttl.h"
#include "apiserver/registry/metered_store.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"
#include "apiserver/request_chain.h"
#include "common/files.h"
#include "storage/sqlite_store.h"

namespace podnet::apiserver {

struct ApiServer::Parts {
  ApiServerOptions options;
  ResourceRegistry registry = ResourceRegistry::builtin();
  Metrics metrics;
  std::unique_ptr<storage::SqliteStore> store;
  std::unique_ptr<MeteredStore> metered;  // what the API layer uses: every call timed
  std::unique_ptr<Compactor> compactor;
  std::unique_ptr<ObjectStore> objects;
  std::unique_ptr<EventTtl> event_ttl;
  std::unique_ptr<RequestChain> chain;  // authorization, admission, strategies, write hooks
  std::unique_ptr<HttpsServer> https;
  Readiness readiness;
  AuditReport audit;
};

namespace {

// default and kube-system exist in every cluster; clients (kubectl's default context) assume them.
Status ensure_namespaces(ObjectStore& objects, const ResourceRegistry& registry) {
  const ResourceType* ns_type = registry.find("", "v1", "namespaces");
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    boost::json::value ns = boost::json::object{{"metadata", boost::json::object{{"name", name}}}};
    auto created = objects.create(*ns_type, "", std::move(ns));
    if (!created && created.error().reason != "AlreadyExists")
      return fail_msg("create namespace " + std::string(name) + ": " + created.error().message);
  }
  return {};
}

// The addresses a node must not claim as its own: the one the server listens on or, listening on
// every address, each address of this host.
Result<std::vector<IpAddress>> own_addresses(const std::string& bind_address) {
  PODNET_TRY(bind, parse_ip(bind_address));
  if (!bind.is_unspecified()) return std::vector<IpAddress>{bind};
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return fail("getifaddrs");
  std::vector<IpAddress> out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      out.push_back(boost::asio::ip::address_v4(ntohl(in->sin_addr.s_addr)));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* in6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      boost::asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), in6->sin6_addr.s6_addr, bytes.size());
      out.push_back(boost::asio::ip::address_v6(bytes));
    }
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace

ApiServer::ApiServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
ApiServer::~ApiServer() {
  parts_->https.reset();
  parts_->chain.reset();
  parts_->event_ttl.reset();
  parts_->objects.reset();
  parts_->compactor.reset();
  parts_->metered.reset();
  parts_->store.reset();
}

uint16_t ApiServer::port() const {
  return parts_->https->port();
}
std::string ApiServer::kubeconfig_path() const {
  return parts_->options.data_dir + "/admin.kubeconfig";
}
storage::Store& ApiServer::store() {
  return *parts_->store;
}
ObjectStore& ApiServer::objects() {
  return *parts_->objects;
}
const ResourceRegistry& ApiServer::registry() const {
  return parts_->registry;
}
Readiness& ApiServer::readiness() {
  return parts_->readiness;
}
std::unique_ptr<k8s::ApiClient> ApiServer::client(const Identity& who) {
  return std::make_unique<InProcessClient>(parts_->chain->handler(), who);
}
HttpHandler& ApiServer::handler() {
  return parts_->chain->handler();
}
const AuditReport& ApiServer::audit() const {
  return parts_->audit;
}
std::string ApiServer::pki_dir() const {
  return parts_->options.data_dir + "/pki";
}

Result<std::unique_ptr<ApiServer>> ApiServer::start(ApiServerOptions options) {
  auto parts = std::make_unique<Parts>();
  parts->options = std::move(options);
  ApiServerOptions& opts = parts->options;
  if (auto s = make_dirs(opts.data_dir, 0700); !s) return std::unexpected(wrap(s.error(), "data dir"));

  storage::SqliteOptions store_options;
  store_options.path = opts.data_dir + "/state.db";
  auto store = storage::SqliteStore::open(store_options);
  if (!store) return fail_msg("open store: " + store.error().str());
  parts->store = std::move(*store);
  // Before anything reads the store: an object no read could parse would fail every LIST of its kind.
  auto audit = audit_stored_objects(*parts->store);
  if (!audit) return std::unexpected(wrap(audit.error(), "audit stored objects"));
  parts->audit = std::move(*audit);
  if (opts.compaction_interval.count() > 0)
    parts->compactor = std::make_unique<Compactor>(*parts->store, opts.compaction_interval);

  if (!opts.clock) opts.clock = [] { return std::chrono::system_clock::now(); };
  uint64_t seed = opts.random_seed;
  if (seed == 0) seed = (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
  parts->metered = std::make_unique<MeteredStore>(*parts->store, parts->metrics);
  parts->objects = std::make_unique<ObjectStore>(*parts->metered, opts.clock, seed);
  BootstrapOptions boot;
  boot.pki_dir = opts.data_dir + "/pki";
  if (opts.bind_address != "0.0.0.0" && opts.bind_address != "::" && opts.bind_address != "127.0.0.1")
    boot.serving_ips.push_back(opts.bind_address);
  auto creds = ensure_credentials(boot);
  if (!creds) return std::unexpected(wrap(creds.error(), "credentials"));

  ChainOptions chain;
  chain.service_cidr = opts.service_cidr;
  chain.node_port_range = opts.node_port_range;
  chain.node_network = opts.node_network;
  auto own = own_addresses(opts.bind_address);
  if (!own) return std::unexpected(wrap(own.error(), "the server's own addresses"));
  chain.server_addresses = std::move(*own);
  chain.event_rate_limits = opts.event_rate_limits;
  chain.bookmark_interval = opts.bookmark_interval;
  chain.random_seed = seed;
  chain.readiness = &parts->readiness;
  chain.kubelet = KubeletClientTls{creds->ca.cert_pem, creds->kubelet_client};
  auto made = RequestChain::make(*parts->objects, parts->registry, parts->metrics, std::move(chain));
  if (!made) return std::unexpected(made.error());
  parts->chain = std::move(*made);
  if (opts.event_ttl.count() > 0)
    parts->event_ttl = std::make_unique<EventTtl>(*parts->objects, *parts->registry.find("", "v1", "events"),
                                                  opts.event_ttl);
  if (auto s = ensure_namespaces(*parts->objects, parts->registry); !s) return std::unexpected(s.error());

  HttpsServerOptions https;
  https.bind_address = opts.bind_address;
  https.port = opts.port;
  https.serving = creds->serving;
  https.client_ca_pem = creds->ca.cert_pem;
  https.body_limit = opts.body_limit;
  https.max_connections = opts.max_connections;
  https.threads = opts.threads;
  auto server = HttpsServer::start(std::move(https), parts->chain->handler());
  if (!server) return std::unexpected(wrap(server.error(), "listen"));
  parts->https = std::move(*server);

  bool any_address = opts.bind_address == "0.0.0.0" || opts.bind_address == "::";
  std::string host = any_address ? "127.0.0.1" : opts.bind_address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  KubeconfigSpec kc;
  kc.server_url = "https://" + host + ":" + std::to_string(parts->https->port());
  kc.ca_pem = creds->ca.cert_pem;
  kc.client = creds->admin;
  if (auto s = write_kubeconfig(opts.data_dir + "/admin.kubeconfig", kc); !s)
    return std::unexpected(wrap(s.error(), "kubeconfig"));
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(parts)));
}

}  // namespace podnet::apiserver
