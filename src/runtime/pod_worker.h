// One pod's lifecycle on its own thread, like kubelet's pod workers: sandbox (netns + CNI ADD),
// containers (start, exit, restart with backoff), probes, status, and graceful termination. The
// manager feeds it the pod's latest API object and tells it when the pod is gone or when to stop.
#pragma once

#include <sys/eventfd.h>

#include <atomic>
#include <boost/json/value.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "k8s/event_recorder.h"
#include "netlink/netns.h"
#include "runtime/cni_runner.h"
#include "runtime/pod_api.h"
#include "runtime/pod_manager.h"
#include "runtime/pod_spec.h"
#include "runtime/pod_state.h"

namespace podnet::runtime {

// What all workers of one node share; immutable after construction.
struct NodeContext {
  PodManagerOptions opts;
  PodApi* api = nullptr;
  PodStateStore store;
  std::optional<netlink::NetNs> node_ns;  // empty: the manager's own
  CniRunner cni;
  k8s::EventRecorder events;  // kubelet's: source component "kubelet", host the node's name

  NodeContext(PodManagerOptions o, PodApi& a, std::optional<netlink::NetNs> ns)
      : opts(std::move(o)),
        api(&a),
        store(opts.state_dir, opts.run_dir),
        node_ns(std::move(ns)),
        cni(opts.cni_bin, node_ns ? node_ns->fd() : -1) {}
  const netlink::NetNs* node() const { return node_ns ? &*node_ns : nullptr; }
  std::string netns_name(const std::string& uid) const;
  std::string cni_args(const std::string& ns, const std::string& name, const std::string& uid) const;
};

class PodWorker {
 public:
  // `pod`: the API object; null for an orphan found on disk (only cleaned up).
  PodWorker(const NodeContext& ctx, std::string uid, std::optional<boost::json::value> pod);
  ~PodWorker();

  void start();
  void update(const boost::json::value& pod);  // a newer API object
  void gone();                                 // the pod left the API: tear down
  void stop();                                 // leave containers running and return
  bool finished() const { return finished_; }
  bool container_running(const std::string& container);
  std::string key();  // namespace/name

 private:
  struct ProbeState {
    int successes = 0, failures = 0, tries = 0;
    std::chrono::steady_clock::time_point next{};
  };
  struct Container {
    ContainerSpec spec;
    bool init = false;
    enum class State { kWaiting, kRunning, kTerminated } state = State::kWaiting;
    std::string reason, message;  // waiting or terminated reason
    ContainerRecord rec;
    UniqueFd pidfd;
    std::optional<ExitRecord> exit;       // current terminated state, or lastState
    int64_t exit_started_ns = 0;          // startedAt of the run that ended in `exit`
    bool ready = false, started = false;  // readiness, startup probe passed
    bool restart_pending = false;
    std::vector<std::string> env;  // as the current run started with it; exec probes use it
    std::chrono::steady_clock::time_point start_at{};
    ProbeState readiness, liveness, startup;
    // When a failed readiness probe may next become an Unhealthy event: at most one per period, and
    // none in the first period, while the eager first probes (run_probes) race the container's start.
    std::chrono::steady_clock::time_point readiness_report{};
  };
  using Clock = std::chrono::steady_clock;

  void run();
  void load_spec();
  void park();
  void wake();
  void adopt();
  bool setup_sandbox();
  // The pod's mount namespace with its resolv.conf and hosts (pod_dns.h, pod_mounts.h): opened when
  // it exists, else made. False with sandbox_error_ set.
  bool setup_mounts();
  void remove_mounts();
  void release_network();
  void wait_links_up(const netlink::NetNs& pod_ns, const std::string& ifname,
                     const boost::json::value& cni_result);
  bool start_container(Container& c);
  void on_exit(Container& c);
  void schedule_restart(Container& c);
  void run_probes(Clock::time_point now);
  // Events about this pod (or one of its containers), as kubelet records them.
  k8s::ObjectReference reference(const Container* c);
  void record(const Container* c, const char* type, std::string reason, std::string message);
  uint64_t last_event_ = 0;  // the recorder's ticket of this pod's latest event
  // SIGTERM, up to `grace_seconds`, SIGKILL. `pod_terminating`: the whole pod is going, and as
  // kubelet does, readiness probes keep running meanwhile and the status follows them.
  void kill_containers(std::vector<Container*> which, int64_t grace_seconds, bool pod_terminating = false);
  // Takes the manager's news (a newer object, gone): deletion fields, readiness posted by others.
  // Returns whether the pod left the API.
  bool absorb_updates();
  void wait_events(Clock::time_point deadline);
  void terminate(bool api_present);
  void publish(bool force = false);
  boost::json::object build_status();
  std::vector<std::string> container_env(const ContainerSpec& c);
  void save();
  bool run_init_containers();
  std::string phase() const;
  bool terminal() const;

  const NodeContext& ctx_;
  std::string uid_;
  std::thread thread_;
  UniqueFd wake_fd_;
  std::atomic<bool> stop_{false}, finished_{false};

  std::mutex mu_;  // guards the three below, written by the manager's thread
  std::optional<boost::json::value> latest_;
  bool gone_ = false;
  bool updated_ = false;

  // Owned by the worker thread.
  std::optional<PodSpec> spec_;
  PodRecord rec_;
  std::optional<netlink::NetNs> pod_ns_;
  UniqueFd pod_mnt_;  // the pod's mount namespace; containers and exec probes join it
  bool sandbox_ready_ = false;
  std::map<std::string, Container> containers_;  // by name; inits keep their spec order below
  std::vector<std::string> order_, init_order_;
  std::map<std::string, std::pair<bool, std::string>> conditions_;  // type -> (status, transition time)
  std::string published_;
  Clock::time_point next_publish_retry_{};
  Clock::time_point next_sandbox_retry_{};
  std::string sandbox_error_;
  // Why the node cannot run this pod (decode_pod's error): nothing is started, every container
  // waits with reason CreateContainerConfigError and this message.
  std::string config_error_;
  bool terminating_ = false;  // deletion in progress: liveness and startup probes stop
  bool init_failed_ = false;
  // Start-up phases: where a pod's create -> Ready time goes. Each is logged at debug level as it
  // happens; the first occurrence of each is kept and, once the pod first publishes Ready, logged
  // in one info line with the wall-clock time the agent saw the pod (as kubelet's "Observed pod
  // startup duration"), which bench/cluster_bench parses for its per-phase breakdown.
  Clock::time_point created_ = Clock::now();
  std::chrono::system_clock::time_point created_wall_ = std::chrono::system_clock::now();
  std::vector<std::pair<const char*, double>> start_phases_;  // (phase, ms after created_)
  bool start_reported_ = false;
  void phase_done(const char* what);
  void report_start();
  std::atomic<int> running_count_{0};
  std::mutex status_mu_;  // running names for the log server
  std::map<std::string, bool> running_;
};

}  // namespace podnet::runtime
