// Threads: one per informer (nodes, services, endpointslices), the proxy's sync loop, the
// heartbeat, the pod runner (optional) and the reconcile loop on the caller's thread. Informer
// handlers only record and wake; the reconcile loop is the only code that touches the network.
#include "agent/agent.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "agent/lb.h"
#include "client/watch_decoder.h"
#include "common/files.h"
#include "fastpath/fastpath_abi.h"
#include "k8s/decode.h"
#include "k8s/json_fields.h"
#include "nft/nft.h"
#include "policy/metrics.h"

namespace podnet::agent {

namespace json = boost::json;

class Agent::NodeHandler : public client::InformerHandler {
 public:
  explicit NodeHandler(Agent& a) : a_(a) {}
  void on_upsert(const json::value& object) override {
    auto n = decode_node(object);
    if (!n) return spdlog::warn("{}", n.error().message());
    std::lock_guard l(a_.mu_);
    a_.nodes_[n->name] = std::move(*n);
    a_.dirty_ = true;
    a_.cv_.notify_all();
  }
  void on_delete(const json::value& last_known) override {
    std::lock_guard l(a_.mu_);
    a_.nodes_.erase(client::object_key(last_known));
    a_.dirty_ = true;
    a_.cv_.notify_all();
  }
  void on_synced() override {
    std::lock_guard l(a_.mu_);
    a_.nodes_synced_ = true;
    a_.cv_.notify_all();
  }

 private:
  Agent& a_;
};

// One Services informer for the proxy (forwarded), the LB announcer and the pod runner (the
// Services with a ClusterIP, for the service environment variables).
// The identity the locally served cluster DNS address carries for NetworkPolicy (docs/datapath.md
// section 4): a virtual endpoint of kube-dns in its namespace, labelled with the Service's selector
// (k8s-app: kube-dns), at the ClusterIP(s), with the Service's named ports (dns 53/UDP, dns-tcp
// 53/TCP). Peer sets whose selectors match a kube-dns pod then hold the address, so the standard
// "allow egress to k8s-app=kube-dns in kube-system" policy lets the pods' queries reach the agent's
// server on lo. Its name holds a ':' so it can never be a real pod's; no node runs it, so it is
// never a local pod (no isolation, no pending drop).
namespace {
constexpr const char* kLocalDnsEndpointName = "podnet:node-local-dns";
json::object local_dns_endpoint_key() {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"namespace", "kube-system"}, {"name", kLocalDnsEndpointName}}}};
}
std::optional<json::object> local_dns_endpoint(const json::value& service) {
  const auto* spec = service.is_object() ? service.as_object().if_contains("spec") : nullptr;
  if (!spec || !spec->is_object()) return std::nullopt;
  const auto& sp = spec->as_object();
  json::array ips;
  if (const auto* cips = sp.if_contains("clusterIPs"); cips && cips->is_array())
    for (const auto& ip : cips->as_array())
      if (ip.is_string() && parse_ip(std::string(ip.as_string()))) ips.push_back(json::object{{"ip", ip}});
  if (ips.empty())
    if (const auto* ip = sp.if_contains("clusterIP");
        ip && ip->is_string() && parse_ip(std::string(ip->as_string())))
      ips.push_back(json::object{{"ip", *ip}});
  if (ips.empty()) return std::nullopt;  // headless or not allocated: nothing served locally
  json::array ports;
  if (const auto* ps = sp.if_contains("ports"); ps && ps->is_array())
    for (const auto& p : ps->as_array()) {
      if (!p.is_object()) continue;
      const auto* name = p.as_object().if_contains("name");
      const auto* port = p.as_object().if_contains("port");
      const auto* proto = p.as_object().if_contains("protocol");
      if (!name || !name->is_string() || !port || !port->is_int64()) continue;
      ports.push_back(json::object{{"name", *name},
                                   {"containerPort", *port},
                                   {"protocol", proto && proto->is_string() ? *proto : json::value("TCP")}});
    }
  json::object labels;
  if (const auto* sel = sp.if_contains("selector"); sel && sel->is_object())
    for (const auto& [k, v] : sel->as_object())
      if (v.is_string()) labels[k] = v;
  json::object pod = local_dns_endpoint_key();
  pod["metadata"].as_object()["labels"] = std::move(labels);
  pod["spec"] = {{"containers", json::array{{{"name", "dns"}, {"ports", std::move(ports)}}}}};
  pod["status"] = {{"phase", "Running"}, {"podIP", ips.front().at("ip")}, {"podIPs", std::move(ips)}};
  return pod;
}
}  // namespace

class Agent::ServiceHandler : public client::InformerHandler {
 public:
  ServiceHandler(Agent& a, client::InformerHandler* proxy) : a_(a), proxy_(proxy) {}

  // The namespace's Services with a ClusterIP, and default/kubernetes.
  std::vector<k8s::Service> services(const std::string& ns) {
    std::vector<k8s::Service> out;
    auto add = [&](const std::string& in_ns, const std::string& name, const EnvService& e) {
      k8s::Service& s = out.emplace_back();
      s.meta.namespace_ = in_ns;
      s.meta.name = name;
      s.cluster_ips = {e.cluster_ip};
      for (const auto& p : e.ports)
        s.ports.push_back({.name = p.name, .protocol = p.protocol, .port = p.port});
    };
    std::lock_guard l(services_mu_);
    if (auto it = services_.find(ns); it != services_.end())
      for (const auto& [name, s] : it->second) add(ns, name, s);
    if (ns != "default")
      if (auto it = services_.find("default"); it != services_.end())
        if (auto k = it->second.find("kubernetes"); k != it->second.end())
          add("default", k->first, k->second);
    return out;
  }

  void on_upsert(const json::value& object) override {
    if (proxy_) proxy_->on_upsert(object);
    if (a_.opts_.pod_runner) remember(object);
    if (a_.dns_feed_) {
      a_.dns_feed_->services().on_upsert(object);
      if (client::object_key(object) == kDnsServiceKey) {
        auto svc = k8s::decode_service(object);
        if (auto* np = a_.opts_.network_policy) {
          if (auto endpoint = local_dns_endpoint(object))
            np->pods().on_upsert(*endpoint);
          else
            np->pods().on_delete(local_dns_endpoint_key());
        }
        std::lock_guard l(a_.mu_);
        a_.dns_ips_ = svc ? svc->cluster_ips : std::vector<IpAddress>{};
        a_.dirty_ = true;
        a_.cv_.notify_all();
      }
    }
    std::vector<IpAddress> outside;
    auto ips = inside_pools(loadbalancer_ips(object), a_.opts_.lb_pools, outside);
    std::lock_guard l(a_.mu_);
    auto key = client::object_key(object);
    log_outside(key, outside);
    if (ips.empty() ? a_.lb_ips_.erase(key) > 0 : (a_.lb_ips_[key] != ips)) {
      if (!ips.empty()) a_.lb_ips_[key] = std::move(ips);
      a_.dirty_ = true;
      a_.cv_.notify_all();
    }
  }
  void on_delete(const json::value& last_known) override {
    if (proxy_) proxy_->on_delete(last_known);
    if (a_.opts_.pod_runner) forget(last_known);
    if (a_.dns_feed_) a_.dns_feed_->services().on_delete(last_known);
    if (a_.dns_feed_ && a_.opts_.network_policy && client::object_key(last_known) == kDnsServiceKey)
      a_.opts_.network_policy->pods().on_delete(local_dns_endpoint_key());
    std::lock_guard l(a_.mu_);
    if (a_.dns_feed_ && client::object_key(last_known) == kDnsServiceKey) {
      a_.dns_ips_.clear();
      a_.dirty_ = true;
      a_.cv_.notify_all();
    }
    outside_.erase(client::object_key(last_known));
    if (a_.lb_ips_.erase(client::object_key(last_known)) > 0) {
      a_.dirty_ = true;
      a_.cv_.notify_all();
    }
  }
  void on_synced() override {
    if (proxy_) proxy_->on_synced();
    std::lock_guard l(a_.mu_);
    a_.services_synced_ = true;
    a_.cv_.notify_all();
  }

 private:
  void remember(const json::value& object) {
    auto s = k8s::decode_service(object);
    if (!s) return;  // the proxy logs what it cannot read
    std::lock_guard l(services_mu_);
    auto& in_ns = services_[s->meta.namespace_];
    if (!s->headless && !s->cluster_ips.empty()) {
      EnvService& e = in_ns[s->meta.name];
      e.cluster_ip = s->cluster_ips.front();
      e.ports.clear();
      for (auto& p : s->ports) e.ports.push_back({std::move(p.name), p.protocol, p.port});
      e.ports.shrink_to_fit();
    } else {
      in_ns.erase(s->meta.name);
    }
    if (in_ns.empty()) services_.erase(s->meta.namespace_);
  }
  void forget(const json::value& last_known) {
    std::string ns = k8s::fields::string_at(last_known, {"metadata", "namespace"});
    std::string name = k8s::fields::string_at(last_known, {"metadata", "name"});
    std::lock_guard l(services_mu_);
    auto it = services_.find(ns);
    if (it == services_.end()) return;
    it->second.erase(name);
    if (it->second.empty()) services_.erase(it);
  }

  // Logged once per change of a service's refused addresses (under a_.mu_); only services that
  // have some are remembered.
  void log_outside(const std::string& key, const std::vector<IpAddress>& outside) {
    auto it = outside_.find(key);
    if (outside.empty()) {
      if (it != outside_.end()) outside_.erase(it);
      return;
    }
    if (it != outside_.end() && it->second == outside) return;
    outside_[key] = outside;
    std::string list;
    for (const auto& ip : outside) list += (list.empty() ? "" : ", ") + ip.to_string();
    if (a_.opts_.lb_pools.empty())
      spdlog::warn("service {}: not announcing LoadBalancer address(es) {}: this agent has no --lb-pool", key,
                   list);
    else
      spdlog::warn("service {}: not announcing LoadBalancer address(es) {}: outside every --lb-pool", key,
                   list);
  }

  Agent& a_;
  client::InformerHandler* proxy_;
  std::map<std::string, std::vector<IpAddress>> outside_;
  // What the service environment variables read (service_env.h) of each Service with a ClusterIP:
  // its first ClusterIP and its ports, not the whole Service (an agent holds one per Service).
  struct EnvPort {
    std::string name;
    k8s::Protocol protocol;
    int32_t port;
  };
  struct EnvService {
    IpAddress cluster_ip;
    std::vector<EnvPort> ports;
  };
  std::mutex services_mu_;
  std::map<std::string, std::map<std::string, EnvService>> services_;  // namespace -> name
};

// EndpointSlices go to the proxy and to the DNS records, whichever run.
class Agent::SliceHandler : public client::InformerHandler {
 public:
  SliceHandler(client::InformerHandler* proxy, client::InformerHandler* dns) : proxy_(proxy), dns_(dns) {}
  void on_upsert(const json::value& object) override {
    if (proxy_) proxy_->on_upsert(object);
    if (dns_) dns_->on_upsert(object);
  }
  void on_delete(const json::value& last_known) override {
    if (proxy_) proxy_->on_delete(last_known);
    if (dns_) dns_->on_delete(last_known);
  }
  void on_synced() override {
    if (proxy_) proxy_->on_synced();
    if (dns_) dns_->on_synced();
  }

 private:
  client::InformerHandler* proxy_;
  client::InformerHandler* dns_;
};

Agent::Agent(k8s::ApiClient& api, NetKernel& kernel, proxy::Proxier* proxier, AgentOptions options)
    : api_(api),
      kernel_(kernel),
      proxier_(proxier),
      opts_(std::move(options)),
      reconciler_(
          kernel,
          {.node_ip = opts_.node.ip, .overlay = opts_.node.overlay, .cluster_cidrs = opts_.cluster_cidrs}) {
  if (proxier_) feed_ = std::make_unique<proxy::ProxyFeed>(*proxier_);
  if (opts_.dns) {
    dns_store_ = std::make_unique<dns::RecordStore>(dns::StoreOptions{.zone = opts_.cluster_domain});
    dns_feed_ = std::make_unique<dns::StoreFeed>(*dns_store_);
  }
  slice_handler_ = std::make_unique<SliceHandler>(feed_ ? &feed_->slices() : nullptr,
                                                  dns_feed_ ? &dns_feed_->slices() : nullptr);
  node_handler_ = std::make_unique<NodeHandler>(*this);
  service_handler_ = std::make_unique<ServiceHandler>(*this, feed_ ? &feed_->services() : nullptr);
}

Agent::~Agent() {
  stop_dns_server();
}

void Agent::stop() {
  std::lock_guard l(mu_);
  stop_ = true;
  cv_.notify_all();
}

bool Agent::wait_locked(std::unique_lock<std::mutex>& l, std::chrono::milliseconds d) {
  cv_.wait_for(l, d, [&] { return stop_; });
  return !stop_;
}

Status Agent::register_node() {
  const std::string path = "/api/v1/nodes/" + opts_.node.name;
  // A Node left by an earlier run remembers the VTEP MAC: a recreated device keeps it, so the
  // other nodes' FDB and neighbour entries stay right.
  std::optional<netlink::Mac> remembered;
  std::optional<NodeInfo> before;
  if (auto existing = api_.get(path); existing) {
    if (auto n = decode_node(*existing); n) {
      remembered = n->vtep_mac;
      before = std::move(*n);
    }
  } else if (!k8s::is_not_found(existing.error())) {
    return std::unexpected(existing.error());
  }
  PODNET_TRY(mac, reconciler_.prepare(remembered));
  opts_.node.vtep_mac = mac;
  auto created = api_.create("/api/v1/nodes", node_object(opts_.node));
  if (!created) {
    if (!k8s::is_already_exists(created.error())) return std::unexpected(created.error());
    PODNET_TRY(patched, api_.patch(path, k8s::PatchType::kMerge, metadata_patch(opts_.node)));
    (void)patched;
  }
  {
    std::lock_guard l(status_mu_);
    network_ready_ =
        !opts_.pod_runner || ::access((opts_.state_dir + "/cni/10-podnet.conflist").c_str(), F_OK) == 0;
    // A restart that posts what was there keeps its transition time: Ready did not change.
    ready_since_ = before && before->ready_condition == network_ready_ && before->ready_transition
                       ? *before->ready_transition
                       : std::chrono::system_clock::now();
  }
  return post_status();
}

Status Agent::post_status() {
  auto now = std::chrono::system_clock::now();
  json::value patch;
  {
    std::lock_guard l(status_mu_);
    patch = status_patch(opts_.node, now, ready_since_, network_ready_);
  }
  PODNET_TRY(answer, api_.patch("/api/v1/nodes/" + opts_.node.name + "/status",
                                k8s::PatchType::kStrategicMerge, patch));
  (void)answer;
  return {};
}

// Service replies between two pods of one bridge are bridged, and only br_netfilter lets conntrack
// undo their DNAT (docs/datapath.md section 1): without it pod -> ClusterIP -> pod on the same node
// times out. The kernel's default is 1 in every namespace, but a host may have turned it off, and
// where br_netfilter is missing the keys do not exist: the node then stays NotReady, as kubeadm's
// preflight refuses such a host. Per network namespace on this kernel.
static Status ensure_bridge_netfilter() {
  for (const char* key : {"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"}) {
    auto now = netlink::get_sysctl(key);
    if (!now) return std::unexpected(wrap(now.error(), "br_netfilter missing?"));
    if (*now == "1") continue;
    if (auto s = netlink::set_sysctl(key, "1"); !s) return s;
    spdlog::info("{} was {}, set to 1 (Service replies between pods of one node need it)", key, *now);
  }
  return {};
}

void Agent::set_network_ready() {
  {
    std::lock_guard l(status_mu_);
    if (network_ready_) return;
    network_ready_ = true;
    ready_since_ = std::chrono::system_clock::now();
  }
  spdlog::info("node {}: network ready", opts_.node.name);
  // Now rather than at the next heartbeat; the heartbeat posts it again if this fails.
  if (auto s = post_status(); !s) spdlog::warn("node status: {}", s.error().message());
}

void Agent::heartbeat_loop() {
  std::unique_lock l(mu_);
  while (wait_locked(l, opts_.heartbeat_interval)) {
    l.unlock();
    auto s = post_status();
    if (!s) spdlog::warn("heartbeat: {}", s.error().message());
    l.lock();
  }
}

Status Agent::write_cni_config(const IpPrefix& cidr) {
  unsigned mtu = reconciler_.underlay_mtu();
  if (opts_.node.overlay == Overlay::kVxlan) mtu -= kVxlanOverhead;
  std::string text = cni_conflist({.pod_cidr = cidr,
                                   .mtu = mtu,
                                   .ipam_dir = run_dir() + "/ipam",
                                   .state_dir = run_dir() + "/cni-state",
                                   .bpf_dir = fast_ ? fast_->dir() : std::string(),
                                   .policy = opts_.network_policy != nullptr});
  std::vector<std::string> dirs{opts_.state_dir + "/cni"};
  if (!opts_.cni_conf_dir.empty()) dirs.push_back(opts_.cni_conf_dir);
  for (const auto& dir : dirs) {
    if (auto s = make_dirs(dir); !s) return s;
    std::string path = dir + "/10-podnet.conflist";
    if (auto old = read_file(path); old && *old == text) continue;
    if (auto s = write_file_atomic(path, text, 0644, true); !s) return s;
    spdlog::info("wrote CNI config {} (pod range {}, MTU {})", path, cidr.str(), mtu);
  }
  return {};
}

void Agent::open_fastpath() {
  if (opts_.bpf_dir.empty()) return;
  auto fp = fastpath::FastPath::open(opts_.bpf_dir);
  if (!fp) {
    // The node still works, through the bridge and the stack.
    spdlog::error("eBPF fast path off: {}", fp.error().message());
    return;
  }
  fast_ = std::move(*fp);
}

Status Agent::sync_fastpath(const ClusterView& view) {
  if (!fast_) return {};
  const Links& links = reconciler_.links();
  fastpath::NodeConfig cfg;
  for (const auto& c : opts_.cluster_cidrs)
    if (c.is_v4()) {
      cfg.cluster = c;
      break;
    }
  if (!cfg.cluster.addr.is_v4() || cfg.cluster.len == 0) return {};
  // The pod bridge appears with the first pod (podnet-cni makes it); until then 0, which only
  // means a local pod missing from pn_pods is sent to the bridge's egress instead of the stack.
  PODNET_TRY(bridge, kernel_.find_link(kPodBridge));
  if (bridge) {
    cfg.bridge_ifindex = bridge->index;
    cfg.bridge_mac = bridge->mac;
  }
  cfg.node_ip = opts_.node.ip;
  cfg.uplink_ifindex = links.underlay;
  if (opts_.node.overlay == Overlay::kVxlan && opts_.node.vtep_mac)
    cfg.vxlan = fastpath::VxlanConfig{kVxlanPort, kVxlanVni, *opts_.node.vtep_mac};
  if (fast_config_ != cfg) {
    if (auto s = fast_->configure(cfg); !s) return s;
    fast_config_ = cfg;
  }
  std::vector<int> want_attached;
  if (links.underlay) want_attached.push_back(links.underlay);
  if (links.vxlan) want_attached.push_back(links.vxlan);
  if (want_attached != fast_attached_) {
    for (int ifindex : want_attached)
      if (auto s = fast_->attach_node(ifindex); !s) return s;
    fast_attached_ = want_attached;
  }
  std::vector<fastpath::Tunnel> tunnels;
  if (cfg.vxlan)
    for (const auto& p : view.peers)
      if (p.vtep_mac && p.ip.is_v4())
        for (const auto& c : p.pod_cidrs)
          if (c.is_v4()) tunnels.push_back({c.network(), p.ip, *p.vtep_mac});
  if (tunnels != fast_tunnels_) {
    if (auto s = fast_->set_tunnels(tunnels); !s) return s;
    fast_tunnels_ = tunnels;
  }
  return {};
}

void Agent::update_fast_flags(const policy::TableState& s) {
  std::map<uint32_t, uint16_t> flags;
  auto has = [&](const char* set, const std::string& ip) {
    auto it = s.sets.find(set);
    return it != s.sets.end() && it->second.elements.contains(ip);
  };
  if (auto it = s.sets.find("local-pods"); it != s.sets.end())
    for (const auto& [ip, _] : it->second.elements) {
      auto a = parse_ip(ip);
      if (!a || !a->is_v4()) continue;
      uint16_t f = (has("ingress-isolated", ip) ? PN_POD_INGRESS_ISOLATED : 0) |
                   (has("egress-isolated", ip) ? PN_POD_EGRESS_ISOLATED : 0);
      flags[htonl(a->to_v4().to_uint())] = f;
    }
  std::lock_guard l(fast_flags_mu_);
  fast_flags_ = std::move(flags);
  // Now, not at the pods loop's next turn: a pod just isolated must leave the fast path at once.
  if (auto n = fast_->set_pod_flags(*fast_flags_, PN_POD_PENDING); !n)
    spdlog::warn("fast path: pod flags: {}", n.error().message());
}

// Bounded: a pod whose rules cannot be written in time starts anyway, still pending (dropped).
std::function<Status(const json::value&, const std::vector<std::string>&)> Agent::admit_pod_hook() {
  auto* np = opts_.network_policy;
  if (!np) return {};
  return [np](const json::value& pod, const std::vector<std::string>& ips) {
    return np->admit_local_pod(pod, ips, std::chrono::seconds(10));
  };
}

// The per-rule counters for the node API, read in the caller's (the node's) network namespace.
std::function<Result<std::string>(std::string_view, std::string_view)> Agent::policy_counters_hook() {
  auto* np = opts_.network_policy;
  if (!np) return {};
  return [np](std::string_view ns, std::string_view name) -> Result<std::string> {
    PODNET_TRY(nft, nft::Nft::open());
    PODNET_TRY(counters, policy::read_denied(nft));
    return policy::rule_counters_json(policy::rule_counters(np->counters(), counters, ns, name));
  };
}

void Agent::fastpath_pods_loop() {
  // Separate from the reconcile loop: attaching takes a qdisc and a filter per new veth, and a
  // burst of new pods must not hold up network programming.
  std::map<int, netlink::Mac> attached;
  auto swept = std::chrono::steady_clock::now();
  std::unique_lock l(mu_);
  while (wait_locked(l, std::chrono::milliseconds(100))) {
    l.unlock();
    {
      std::lock_guard fl(fast_flags_mu_);
      if (fast_flags_)
        if (auto n = fast_->set_pod_flags(*fast_flags_, PN_POD_PENDING); !n)
          spdlog::warn("fast path: pod flags: {}", n.error().message());
    }
    if (auto n = fast_->attach_pods(attached); !n)
      spdlog::warn("fast path: attach pods: {}", n.error().message());
    else if (*n)
      spdlog::debug("fast path: attached {} pod veth(s)", *n);
    if (auto now = std::chrono::steady_clock::now(); now - swept > std::chrono::seconds(30)) {
      swept = now;
      if (auto n = fast_->forget_missing_pods(); !n)
        spdlog::warn("fast path: {}", n.error().message());
      else if (*n)
        spdlog::info("fast path: forgot {} pod address(es) whose veth is gone", *n);
    }
    l.lock();
  }
}

ClusterView Agent::view_locked(SystemTime now) {
  ClusterView v;
  std::vector<std::string> ready;
  for (const auto& [name, n] : nodes_) {
    if (node_ready(n, now, opts_.node_grace)) ready.push_back(name);
    if (name == opts_.node.name) {
      v.own_cidrs = n.pod_cidrs;
      continue;
    }
    if (!n.internal_ip || n.pod_cidrs.empty()) continue;
    v.peers.push_back({.name = name, .ip = *n.internal_ip, .pod_cidrs = n.pod_cidrs, .vtep_mac = n.vtep_mac});
  }
  for (const auto& [_, ips] : lb_ips_)
    for (const auto& ip : ips)
      if (lb_owner(ip, ready) == opts_.node.name &&
          std::find(v.lb_addresses.begin(), v.lb_addresses.end(), ip) == v.lb_addresses.end())
        v.lb_addresses.push_back(ip);
  return v;
}

Status Agent::run() {
  // Registration is retried: the API server may come up after the agent (podnet up, reboots).
  for (auto backoff = std::chrono::milliseconds(200);;) {
    auto s = register_node();
    if (s) break;
    spdlog::warn("register node {}: {} (retry in {} ms)", opts_.node.name, s.error().message(),
                 backoff.count());
    std::unique_lock l(mu_);
    if (!wait_locked(l, backoff)) return {};
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  spdlog::info("node {} registered ({} {}, underlay {} MTU {}{})", opts_.node.name,
               overlay_name(opts_.node.overlay), opts_.node.ip.to_string(), reconciler_.underlay_name(),
               reconciler_.underlay_mtu(),
               opts_.node.vtep_mac ? ", VTEP MAC " + netlink::format_mac(*opts_.node.vtep_mac) : "");
  open_fastpath();

  // The informers keep only each object's resourceVersion, no JSON: every handler keeps what it
  // needs typed (Nodes, the proxy's Services and slices, the DNS records, the service environment)
  // and takes a delete by namespace and name (docs/architecture.md, "The API layer").
  client::Informer nodes(api_, *node_handler_, {.path = "/api/v1/nodes", .remember_objects = false});
  client::Informer services(api_, *service_handler_, {.path = "/api/v1/services", .remember_objects = false});
  std::optional<client::Informer> slices;
  if (feed_ || dns_feed_)
    slices.emplace(api_, *slice_handler_,
                   client::InformerOptions{.path = "/apis/discovery.k8s.io/v1/endpointslices",
                                           .remember_objects = false});
  std::vector<std::thread> threads;
  threads.emplace_back([&] { nodes.run(); });
  threads.emplace_back([&] { services.run(); });
  if (slices) threads.emplace_back([&] { slices->run(); });
  // NetworkPolicy: every pod, namespace and policy of the cluster (peers are matched by address).
  std::optional<client::Informer> np_pods, np_namespaces, np_policies;
  if (auto* np = opts_.network_policy) {
    np_pods.emplace(api_, np->pods(), client::InformerOptions{.path = "/api/v1/pods"});
    np_namespaces.emplace(api_, np->namespaces(), client::InformerOptions{.path = "/api/v1/namespaces"});
    np_policies.emplace(api_, np->policies(),
                        client::InformerOptions{.path = "/apis/networking.k8s.io/v1/networkpolicies"});
    threads.emplace_back([&] { np_pods->run(); });
    threads.emplace_back([&] { np_namespaces->run(); });
    threads.emplace_back([&] { np_policies->run(); });
    if (fast_) np->set_after_sync([this](const policy::TableState& s) { update_fast_flags(s); });
    threads.emplace_back([np] { np->run(); });
    np->set_denial_observer([flows = flows_](const policy::DeniedPacket& d, const std::string& policies) {
      flows->add_dropped(d.src, d.dst, d.protocol, d.sport, d.dport, d.direction, policies, unix_ms_now());
    });
    if (auto* log = opts_.network_policy_log) threads.emplace_back([np, log] { np->run_denial_log(*log); });
  }
  if (feed_) threads.emplace_back([&] { feed_->run(); });
  threads.emplace_back([&] { heartbeat_loop(); });
  if (fast_) threads.emplace_back([&] { fastpath_pods_loop(); });
  if (fast_) threads.emplace_back([this] { flows_->run_fastpath(opts_.bpf_dir); });
  // Connections through the stack (Services, masquerade, policy-selected pods): conntrack events.
  threads.emplace_back([this] { flows_->run_conntrack(opts_.cluster_cidrs); });

  std::unique_ptr<PodRunner> pods;
  std::optional<IpPrefix> cni_written;
  std::string pod_runner_error, bridge_nf_error;
  Status result;
  std::unique_lock l(mu_);
  while (!stop_) {
    // Not before both lists are complete: a restarted agent would otherwise see no nodes and
    // remove every route (and LB address) before putting them back.
    if (!nodes_synced_ || !services_synced_) {
      cv_.wait(l);
      continue;
    }
    if (!dirty_) {
      // Also on a timer: readiness depends on heartbeat age, which changes with no event.
      cv_.wait_for(l, opts_.resync_interval, [&] { return stop_ || dirty_; });
      if (stop_) break;
    }
    dirty_ = false;
    ClusterView view = view_locked(std::chrono::system_clock::now());
    std::vector<IpAddress> dns_want = dns_ips_;
    l.unlock();
    if (opts_.dns && dns_want != dns_served_) {
      if (auto s = sync_dns(dns_want); !s) {
        spdlog::error("cluster DNS: {}", s.error().message());
        l.lock();
        dirty_ = true;  // retried after a pause
        wait_locked(l, std::chrono::milliseconds(1000));
        continue;
      }
    }
    if (!view.own_cidrs.empty() && (!cni_written || *cni_written != view.own_cidrs.front())) {
      if (auto s = write_cni_config(view.own_cidrs.front()); s)
        cni_written = view.own_cidrs.front();
      else
        spdlog::error("CNI config: {}", s.error().message());
    }
    if (view.own_cidrs.empty() && !cni_written)
      spdlog::debug("waiting for spec.podCIDR of {}", opts_.node.name);
    if (opts_.network_policy && !view.own_cidrs.empty()) opts_.network_policy->set_own_ranges(view.own_cidrs);
    auto changed = reconciler_.reconcile(view);
    if (changed) {
      if (auto s = sync_fastpath(view); !s) spdlog::error("fast path: {}", s.error().message());
      if (!changed->empty()) spdlog::info("network changes:\n{}", changed->describe());
    } else {
      spdlog::error("reconcile: {}", changed.error().message());
    }
    // Pods start after the first network sync, not before: attaching the fast path to the underlay
    // device grafts a qdisc on it, which drops what the device sends meanwhile (seen: the pod
    // informer's SYN to the API server, lost and resent a second later, so a node started its
    // first pods ~1 s late).
    if (cni_written && opts_.pod_runner && !pods) {
      auto made = opts_.pod_runner({api_, opts_.node.name, opts_.node.ip, opts_.state_dir, opts_.cni_bin,
                                    opts_.state_dir + "/cni/10-podnet.conflist", *cni_written,
                                    opts_.cluster_dns, opts_.cluster_domain,
                                    [this](const std::string& ns) { return service_handler_->services(ns); },
                                    admit_pod_hook(), flows_, policy_counters_hook(), opts_.run_dir});
      if (made) {
        pods = std::move(*made);
        threads.emplace_back([&] { pods->run(); });
      } else if (made.error().message() != pod_runner_error) {
        pod_runner_error = made.error().message();  // tried again at every sync, logged once
        spdlog::error("pod runner: {}", pod_runner_error);
      }
    }
    auto bridge_nf = ensure_bridge_netfilter();
    if (!bridge_nf && bridge_nf.error().message() != bridge_nf_error) {
      bridge_nf_error = bridge_nf.error().message();  // checked at every sync, logged once
      spdlog::error("node not ready: {}", bridge_nf_error);
    }
    if (cni_written && changed && bridge_nf && (!opts_.pod_runner || pods)) set_network_ready();
    if (!changed) {
      l.lock();
      dirty_ = true;  // retry after a pause, not in a tight loop
      wait_locked(l, std::chrono::milliseconds(1000));
      continue;
    }
    l.lock();
  }
  l.unlock();
  nodes.stop();
  services.stop();
  if (slices) slices->stop();
  for (auto* i : {&np_pods, &np_namespaces, &np_policies})
    if (*i) (*i)->stop();
  if (opts_.network_policy) opts_.network_policy->stop();
  if (feed_) feed_->stop();
  if (pods) pods->stop();
  flows_->stop();
  for (auto& t : threads) t.join();
  stop_dns_server();
  return result;
}

void Agent::stop_dns_server() {
  if (!dns_server_) return;
  dns_server_->stop();
  if (dns_thread_.joinable()) dns_thread_.join();
  dns_server_.reset();
}

// docs/datapath.md section 4: the proxy stops DNATing the served frontends, the addresses go on
// lo, and the server binds exactly them (never the node IP: no open resolver). The addresses stay
// when the agent stops, so a restarted agent's server binds them at once.
Status Agent::sync_dns(const std::vector<IpAddress>& want) {
  std::vector<proxy::Frontend> local;
  for (const auto& ip : want)
    for (uint8_t proto : {uint8_t{6}, uint8_t{17}}) local.push_back({proxy::Ip::from(ip), proto, 53});
  if (feed_) feed_->set_local_frontends(local);
  PODNET_TRY(lo, kernel_.find_link("lo"));
  if (!lo) return fail_msg("no lo in this namespace");
  for (const auto& ip : dns_served_)
    if (std::find(want.begin(), want.end(), ip) == want.end())
      if (auto s = kernel_.delete_address(lo->index, {ip, ip.is_v4() ? 32 : 128}); !s)
        spdlog::warn("cluster DNS: remove {} from lo: {}", ip.to_string(), s.error().message());
  for (const auto& ip : want)
    if (auto s = kernel_.add_address(lo->index, {ip, ip.is_v4() ? 32 : 128}, kDnsAddressLabel);
        !s && s.error().code != EEXIST)
      return std::unexpected(wrap(s.error(), "add " + ip.to_string() + " to lo"));
  stop_dns_server();
  dns_served_.clear();
  if (want.empty()) {
    spdlog::info("cluster DNS: no {} Service (or no ClusterIP): not serving", kDnsServiceKey);
    return {};
  }
  dns::ServerOptions o;
  for (const auto& ip : want) o.listen.push_back({ip, 53});
  if (opts_.dns_upstreams.empty()) {
    auto text = read_file("/etc/resolv.conf");
    if (text) o.upstreams = dns::resolv_conf_nameservers(*text);
  } else {
    for (const auto& u : opts_.dns_upstreams) {
      PODNET_TRY(a, dns::parse_socket_address(u));
      o.upstreams.push_back(a);
    }
  }
  // A node whose resolv.conf names the cluster DNS itself would forward to itself.
  std::erase_if(o.upstreams, [&](const dns::SocketAddress& u) {
    return std::find(o.listen.begin(), o.listen.end(), u) != o.listen.end();
  });
  PODNET_TRY(server, dns::Server::create(*dns_store_, dns_metrics_, o));
  dns_server_ = std::move(server);
  dns_metrics_.set_server("dns://" + o.listen.front().str());
  dns_thread_ = std::thread([this] { dns_server_->run(); });
  dns_served_ = want;
  std::string upstreams;
  for (const auto& u : o.upstreams) upstreams += (upstreams.empty() ? "" : ", ") + u.str();
  spdlog::info("cluster DNS: serving {} on {} (zone {}, upstreams: {})", kDnsServiceKey,
               o.listen.front().str(), opts_.cluster_domain, upstreams.empty() ? "none" : upstreams);
  return {};
}

}  // namespace podnet::agent
