#include "runtime/pod_manager.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "client/informer.h"
#include "runtime/log_server.h"
#include "runtime/pod_worker.h"

namespace podnet::runtime {
namespace json = boost::json;

struct PodManager::Impl : client::InformerHandler {
  // The node's event recorder: outlives the workers, which record with it.
  std::unique_ptr<PodApiEventSink> event_sink;
  std::unique_ptr<k8s::EventBroadcaster> events;
  std::unique_ptr<NodeContext> ctx;
  std::unique_ptr<LogServer> logs;
  std::unique_ptr<client::Informer> informer;
  std::thread informer_thread;
  mutable std::mutex mu;
  std::map<std::string, std::unique_ptr<PodWorker>> workers;  // by uid
  bool gc_done = false;

  static std::string field(const json::value& pod, const char* a, const char* b) {
    const auto* o = pod.if_object();
    const auto* x = o ? o->if_contains(a) : nullptr;
    const auto* v = x && x->is_object() ? x->get_object().if_contains(b) : nullptr;
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  }
  static std::string meta(const json::value& pod, const char* key) { return field(pod, "metadata", key); }

  // Pods whose identity the node cannot use (no valid uid or name): logged once, never run.
  std::set<std::string> refused;

  // Finished workers are joined here, on the informer thread, never while holding `mu` in a worker.
  void collect_finished() {
    std::vector<std::unique_ptr<PodWorker>> done;
    {
      std::lock_guard lock(mu);
      for (auto it = workers.begin(); it != workers.end();)
        if (it->second->finished()) {
          done.push_back(std::move(it->second));
          it = workers.erase(it);
        } else {
          ++it;
        }
    }
  }

  void on_upsert(const json::value& pod) override {
    collect_finished();
    if (!pod.is_object()) return;
    std::string uid = meta(pod, "uid");
    if (uid.empty() || field(pod, "spec", "nodeName") != ctx->opts.node_name) return;
    std::lock_guard lock(mu);
    if (auto it = workers.find(uid); it != workers.end()) return it->second->update(pod);
    // The uid names files and the name goes into status writes: without both the pod cannot
    // even be reported. A worker takes any other problem and reports it on the pod.
    if (auto identity = decode_pod_identity(pod); !identity) {
      std::string key = meta(pod, "namespace") + "/" + meta(pod, "name") + " " + uid;
      if (refused.size() >= 1024) refused.clear();
      if (refused.insert(key).second)
        spdlog::error("pods: ignoring a pod bound to this node: {}", identity.error().message());
      return;
    }
    // A finished pod we no longer run (or never ran) stays finished: nothing to start.
    std::string phase = field(pod, "status", "phase");
    bool known = ctx->store.load(uid).has_value();
    if (!known && (phase == "Succeeded" || phase == "Failed")) return;
    auto w = std::make_unique<PodWorker>(*ctx, uid, pod);
    w->start();
    workers.emplace(uid, std::move(w));
  }

  void on_delete(const json::value& pod) override {
    collect_finished();
    std::lock_guard lock(mu);
    if (auto it = workers.find(meta(pod, "uid")); it != workers.end()) it->second->gone();
  }

  void on_synced() override {
    collect_finished();
    if (gc_done) return;
    gc_done = true;
    // Pods on disk that the API no longer has: stop what still runs and release their network.
    std::vector<CniAttachment> valid;
    {
      std::lock_guard lock(mu);
      for (const auto& uid : ctx->store.list_uids()) {
        if (workers.contains(uid)) continue;
        spdlog::info("pods: cleaning up {} (no longer in the API)", uid);
        auto w = std::make_unique<PodWorker>(*ctx, uid, std::nullopt);
        w->start();
        workers.emplace(uid, std::move(w));
      }
      for (const auto& [uid, w] : workers)
        if (auto rec = ctx->store.load(uid); rec && !rec->host_network && !rec->cni_result.is_null())
          valid.push_back(CniAttachment{uid, "", "eth0", "", {}});
    }
    // Attachments the plugin holds for pods nobody runs any more (e.g. a crash between ADD and the
    // state write). Orphans being torn down are excluded above only once their DEL is done; a GC
    // racing that DEL releases the same address, which is what both want.
    auto gc_start = std::chrono::steady_clock::now();
    if (auto net = load_cni_network(ctx->opts.cni_conf); net) {
      if (auto s = ctx->cni.gc(*net, valid); !s) spdlog::warn("pods: CNI GC: {}", s.error().message());
    }
    spdlog::debug(
        "pods: listed; CNI GC ({} valid attachments) took {} ms", valid.size(),
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - gc_start)
            .count());
  }

  // The running process of a container, for exec (for port-forward, with no container named: of
  // any of the pod's): only while its worker says it runs.
  std::optional<ProcessId> exec_target(const std::string& ns, const std::string& pod,
                                       const std::string& container) {
    std::string uid;
    {
      std::lock_guard lock(mu);
      for (auto& [u, w] : workers)
        if (w->key() == ns + "/" + pod && !w->finished() &&
            (container.empty() || w->container_running(container)))
          uid = u;
    }
    if (uid.empty()) return std::nullopt;
    auto rec = ctx->store.load(uid);
    if (!rec) return std::nullopt;
    // No container named (port-forward): any running one, for the pod's network namespace.
    for (const auto& [name, c] : rec->containers)
      if ((container.empty() || name == container) && process_alive(c.container)) return c.container;
    return std::nullopt;
  }

  // The attach socket of a running container (pods/attach): only while its worker says it runs.
  std::optional<std::string> attach_target(const std::string& ns, const std::string& pod,
                                           const std::string& container) {
    std::lock_guard lock(mu);
    for (auto& [u, w] : workers)
      if (w->key() == ns + "/" + pod && !w->finished() && w->container_running(container))
        return ctx->store.attach_path(u, container);
    return std::nullopt;
  }

  // The addresses of a pod running here on its own network (pods/proxy, services/proxy).
  std::optional<std::vector<std::string>> pod_addresses(const std::string& ns, const std::string& pod) {
    std::string uid;
    {
      std::lock_guard lock(mu);
      for (auto& [u, w] : workers)
        if (w->key() == ns + "/" + pod && !w->finished()) uid = u;
    }
    if (uid.empty()) return std::nullopt;
    auto rec = ctx->store.load(uid);
    if (!rec || rec->host_network || rec->network_released || rec->ips.empty()) return std::nullopt;
    return rec->ips;
  }

  std::optional<LogSource> log_source(const std::string& ns, const std::string& pod,
                                      const std::string& container) {
    std::lock_guard lock(mu);
    for (auto& [uid, w] : workers) {
      if (w->key() != ns + "/" + pod) continue;
      std::string path = ctx->store.log_path(uid, container);
      if (::access(path.c_str(), F_OK) != 0) return std::nullopt;
      PodWorker* raw = w.get();
      std::string c = container;
      // Workers outlive log requests only while the manager lives; the server stops first.
      return LogSource{path, [this, uid, c] {
                         std::lock_guard l(mu);
                         auto it = workers.find(uid);
                         return it != workers.end() && it->second->container_running(c);
                       }};
      (void)raw;
    }
    return std::nullopt;
  }
};

Result<std::unique_ptr<PodManager>> PodManager::start(PodManagerOptions options, PodApi& api) {
  if (options.node_name.empty() || options.node_ip.empty() || options.state_dir.empty())
    return fail_msg("pod manager: node name, node IP and state dir are required");
  if (options.shim_bin.empty()) {
    auto slash = options.cni_bin.rfind('/');
    options.shim_bin =
        (slash == std::string::npos ? std::string(".") : options.cni_bin.substr(0, slash)) + "/podnet-shim";
  }
  if (::access(options.shim_bin.c_str(), X_OK) != 0)
    return fail("pod manager: the container shim " + options.shim_bin +
                " is not there or not executable (it is built and installed next to podnet-cni)");
  std::optional<netlink::NetNs> node_ns;
  if (!options.node_netns.empty()) {
    PODNET_TRY(ns, netlink::NetNs::open(options.node_netns));
    node_ns.emplace(std::move(ns));
  }
  auto impl = std::make_unique<Impl>();
  impl->event_sink = std::make_unique<PodApiEventSink>(api);
  impl->events = std::make_unique<k8s::EventBroadcaster>(*impl->event_sink);
  std::string node_name = options.node_name;
  impl->ctx = std::make_unique<NodeContext>(std::move(options), api, std::move(node_ns));
  impl->ctx->events = impl->events->recorder({"kubelet", node_name});
  const auto& opts = impl->ctx->opts;
  Impl* raw = impl.get();
  PODNET_TRY(logs,
             LogServer::start(
                 opts.log_address.empty() ? opts.node_ip : opts.log_address, opts.log_port, impl->ctx->node(),
                 opts.log_tls,
                 [raw](const std::string& ns, const std::string& pod, const std::string& c) {
                   return raw->log_source(ns, pod, c);
                 },
                 [raw](const std::string& ns, const std::string& pod, const std::string& c) {
                   return raw->exec_target(ns, pod, c);
                 },
                 opts.streaming, opts.node_api,
                 [raw](const std::string& ns, const std::string& pod) { return raw->pod_addresses(ns, pod); },
                 [raw](const std::string& ns, const std::string& pod, const std::string& c) {
                   return raw->attach_target(ns, pod, c);
                 }));
  impl->logs = std::move(logs);
  impl->informer =
      std::make_unique<client::Informer>(api.pods_client(), *impl, client::InformerOptions{api.pods_path()});
  impl->informer_thread = std::thread([raw] { raw->informer->run(); });
  return std::unique_ptr<PodManager>(new PodManager(std::move(impl)));
}

PodManager::PodManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PodManager::~PodManager() {
  impl_->informer->stop();
  impl_->informer_thread.join();
  impl_->logs.reset();
  std::map<std::string, std::unique_ptr<PodWorker>> workers;
  {
    std::lock_guard lock(impl_->mu);
    workers.swap(impl_->workers);
  }
  for (auto& [uid, w] : workers) w->stop();
  workers.clear();  // joins
}

uint16_t PodManager::log_port() const {
  return impl_->logs->port();
}

std::optional<std::string> PodManager::pod_netns_path(const std::string& ns, const std::string& pod) const {
  if (!impl_->pod_addresses(ns, pod)) return std::nullopt;  // not here, or on the host network
  auto process = impl_->exec_target(ns, pod, "");
  if (!process) return std::nullopt;
  return "/proc/" + std::to_string(process->pid) + "/ns/net";
}

size_t PodManager::pod_count() const {
  std::lock_guard lock(impl_->mu);
  size_t n = 0;
  for (const auto& [uid, w] : impl_->workers) n += w->finished() ? 0 : 1;
  return n;
}

}  // namespace podnet::runtime
