// Member order in Parts is the order of construction; the destructor stops in reverse (controllers
// before the caches that call into them).
#include "controllers/manager.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "controllers/endpoint_slices.h"
#include "controllers/events.h"
#include "controllers/kubernetes_service.h"
#include "controllers/lb_ip.h"
#include "controllers/node_ipam.h"
#include "controllers/node_lifecycle.h"
#include "controllers/objects.h"
#include "controllers/pod_gc.h"
#include "controllers/scheduler.h"

namespace podnet::controllers {

struct ControllerManager::Parts {
  std::unique_ptr<Cache> node_cache, pod_cache, service_cache, slice_cache;
  std::unique_ptr<ControllerEvents> events_out;  // outlives the controllers, which record with it
  std::vector<std::unique_ptr<Controller>> controllers;
  // Waits for the caches' first lists (their own threads retry with backoff), then starts the
  // controllers; `synced` tells /readyz.
  std::thread starter;
  std::mutex mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::shared_ptr<std::atomic<bool>> synced = std::make_shared<std::atomic<bool>>(false);

  ~Parts() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    stop_cv.notify_all();
    if (starter.joinable()) starter.join();
    for (auto& c : controllers) c->stop();
    for (auto* cache : {slice_cache.get(), service_cache.get(), pod_cache.get(), node_cache.get()})
      if (cache) cache->stop();
  }
};

ControllerManager::ControllerManager(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
ControllerManager::~ControllerManager() = default;

Result<std::unique_ptr<ControllerManager>> ControllerManager::start(k8s::ApiClient& api,
                                                                    ControllerOptions options) {
  if (!options.clock) options.clock = [] { return std::chrono::system_clock::now(); };
  auto parts = std::make_unique<Parts>();
  parts->node_cache = std::make_unique<Cache>(api, "/api/v1/nodes");
  parts->pod_cache = std::make_unique<Cache>(api, "/api/v1/pods");
  parts->service_cache = std::make_unique<Cache>(api, "/api/v1/services");
  parts->slice_cache = std::make_unique<Cache>(api, "/apis/discovery.k8s.io/v1/endpointslices");
  parts->events_out = std::make_unique<ControllerEvents>(&api, options.clock);
  auto& recorders = *parts->events_out;

  // Controllers register their cache handlers as they are made, before the caches start.
  if (!options.cluster_cidr.empty()) {
    auto ipam = NodeIpamController::make(*parts->node_cache, recorders.recorder(kCidrAllocatorComponent),
                                         options.cluster_cidr, options.node_cidr_mask, options.clock);
    if (!ipam) return std::unexpected(ipam.error());
    parts->controllers.push_back(std::move(*ipam));
  }
  parts->controllers.push_back(std::make_unique<EndpointSliceController>(
      *parts->service_cache, *parts->pod_cache, *parts->slice_cache, options.clock));
  if (!options.lb_pool.empty()) {
    auto lb = LoadBalancerIpController::make(
        *parts->service_cache, recorders.recorder(kLoadBalancerComponent), options.lb_pool, options.clock);
    if (!lb) return std::unexpected(lb.error());
    parts->controllers.push_back(std::move(*lb));
  }
  parts->controllers.push_back(std::make_unique<Scheduler>(
      *parts->pod_cache, *parts->node_cache, options.clock, recorders.recorder(kSchedulerComponent)));
  parts->controllers.push_back(std::make_unique<NodeLifecycleController>(
      *parts->node_cache, *parts->pod_cache, options.clock, options.node_monitor_grace_period,
      recorders.recorder(kNodeControllerComponent)));
  parts->controllers.push_back(std::make_unique<PodGcController>(*parts->pod_cache, *parts->node_cache,
                                                                 options.clock, options.pod_gc_quarantine));
  if (options.kubernetes_service)
    parts->controllers.push_back(std::make_unique<KubernetesServiceController>(
        *parts->service_cache, *parts->slice_cache, *options.kubernetes_service, options.clock));

  std::vector<Cache*> caches{parts->node_cache.get(), parts->pod_cache.get(), parts->service_cache.get(),
                             parts->slice_cache.get()};
  for (auto* cache : caches) cache->start();
  Parts* p = parts.get();
  p->starter = std::thread([p, caches] {
    auto stopped = [p](std::chrono::milliseconds wait) {
      std::unique_lock lock(p->mu);
      return p->stop_cv.wait_for(lock, wait, [p] { return p->stopping; });
    };
    for (auto* cache : caches) {
      auto since = std::chrono::steady_clock::now();
      while (!cache->wait_synced(std::chrono::milliseconds(200))) {
        if (stopped(std::chrono::milliseconds(0))) return;
        if (std::chrono::steady_clock::now() - since > std::chrono::seconds(10)) {
          spdlog::error("controllers: waiting for the first list of {} (not ready until it succeeds)",
                        cache->path());
          since = std::chrono::steady_clock::now();
        }
      }
    }
    {
      std::lock_guard lock(p->mu);
      if (p->stopping) return;
      for (auto& c : p->controllers) c->start();
    }
    *p->synced = true;
    spdlog::info("controllers: started ({} controllers)", p->controllers.size());
  });
  return std::unique_ptr<ControllerManager>(new ControllerManager(std::move(parts)));
}

bool ControllerManager::synced() const {
  return *parts_->synced;
}

std::function<bool()> ControllerManager::readiness_check() const {
  return [synced = parts_->synced] { return synced->load(); };
}

}  // namespace podnet::controllers
