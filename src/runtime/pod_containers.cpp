// PodWorker, containers: environment, start, exit, restart with backoff, kill with grace, and
// init containers in order (pod_worker.h).
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "common/files.h"
#include "common/time.h"
#include "runtime/pod_dns.h"
#include "runtime/pod_worker.h"
#include "runtime/service_env.h"

namespace podnet::runtime {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Kubernetes' $(VAR) references: defined names expand, $$ escapes, the rest stays as written.
std::string expand(const std::string& s, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      size_t close = s.find(')', i + 2);
      if (close != std::string::npos) {
        auto it = vars.find(s.substr(i + 2, close - i - 2));
        if (it != vars.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
      out += s[i];
    } else {
      out += s[i];
    }
  }
  return out;
}

// metadata.labels['key'] and metadata.annotations['key'] (pod_spec.cpp accepts no other form).
std::string subscripted_field(const PodSpec& spec, const std::string& path) {
  for (auto [prefix, map] : {std::pair{std::string_view("metadata.labels['"), &spec.labels},
                             std::pair{std::string_view("metadata.annotations['"), &spec.annotations}}) {
    if (!path.starts_with(prefix) || !path.ends_with("']")) continue;
    auto it = map->find(path.substr(prefix.size(), path.size() - prefix.size() - 2));
    return it == map->end() ? "" : it->second;
  }
  return "";
}

}  // namespace

// ---- containers ---------------------------------------------------------------------------------

std::vector<std::string> PodWorker::container_env(const ContainerSpec& c) {
  std::map<std::string, std::string> vars;
  std::vector<std::string> order;
  // kubelet: the Services' variables feed $(VAR) expansion, and the container's own win.
  std::vector<std::pair<std::string, std::string>> services;
  if (ctx_.opts.services)
    services =
        service_env(ctx_.opts.services(spec_->namespace_), spec_->namespace_, spec_->enable_service_links);
  std::map<std::string, std::string> expansion(services.begin(), services.end());
  auto set = [&](const std::string& k, const std::string& v) {
    if (!vars.contains(k)) order.push_back(k);
    vars[k] = v;
    expansion[k] = v;
  };
  set("PATH", kDefaultPath);
  set("HOSTNAME", spec_->host_network ? "" : pod_uts_hostname(*spec_, ctx_.opts.cluster_domain));
  std::string ips;
  for (const auto& ip : rec_.ips) ips += (ips.empty() ? "" : ",") + ip;
  for (const auto& e : c.env) {
    std::string v = e.value;
    if (!e.field_path.empty()) {
      const std::string& f = e.field_path;
      v = f == "metadata.name"                            ? spec_->name
          : f == "metadata.namespace"                     ? spec_->namespace_
          : f == "metadata.uid"                           ? spec_->uid
          : f == "spec.nodeName" || f == "spec.host"      ? ctx_.opts.node_name
          : f == "spec.serviceAccountName"                ? spec_->service_account
          : f == "status.hostIP" || f == "status.hostIPs" ? ctx_.opts.node_ip
          : f == "status.podIP"                           ? (rec_.ips.empty() ? "" : rec_.ips[0])
          : f == "status.podIPs"                          ? ips
                                                          : subscripted_field(*spec_, f);
    } else {
      v = expand(v, expansion);
    }
    set(e.name, v);
  }
  if (vars["HOSTNAME"].empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    vars["HOSTNAME"] = host;
  }
  std::vector<std::string> out;
  for (const auto& k : order) out.push_back(k + "=" + vars[k]);
  for (const auto& [k, v] : services)
    if (!vars.contains(k)) out.push_back(k + "=" + v);
  return out;
}

bool PodWorker::start_container(Container& c) {
  auto env = container_env(c.spec);
  std::map<std::string, std::string> vars;
  std::string path_var = kDefaultPath;
  for (const auto& e : env) {
    auto eq = e.find('=');
    vars[e.substr(0, eq)] = e.substr(eq + 1);
    if (e.starts_with("PATH=")) path_var = e.substr(5);
  }
  std::vector<std::string> argv;
  for (const auto& a : c.spec.command) argv.push_back(expand(a, vars));
  for (const auto& a : c.spec.args) argv.push_back(expand(a, vars));
  ContainerLaunch l;
  if (!argv.empty()) {
    auto exe = resolve_executable(argv[0], path_var);
    if (exe) l.executable = *exe;
  }
  if (argv.empty() || l.executable.empty()) {
    c.state = Container::State::kWaiting;
    c.reason = "CreateContainerError";
    c.message = argv.empty() ? "no command: images are not pulled, so command (or args) is required"
                             : "executable " + argv[0] + " not found on the node";
    record(&c, k8s::kEventWarning, "Failed", "Error: " + c.message);
    schedule_restart(c);
    // Never started, so no restart backoff applies: without a pause of its own the worker would
    // try again at once, forever.
    c.start_at = std::max(c.start_at, Clock::now() + ctx_.opts.restart_backoff);
    return false;
  }
  l.shim_path = ctx_.opts.shim_bin;
  l.argv = std::move(argv);
  c.env = env;
  l.env = std::move(env);
  l.working_dir = c.spec.working_dir;
  l.netns_fd = pod_ns_ ? pod_ns_->fd() : (ctx_.node() ? ctx_.node()->fd() : -1);
  l.mntns_fd = pod_mnt_.get();
  if (!spec_->host_network) l.hostname = pod_uts_hostname(*spec_, ctx_.opts.cluster_domain);
  l.log_path = ctx_.store.log_path(uid_, c.spec.name);
  l.exit_path = ctx_.store.exit_path(uid_, c.spec.name);
  l.attach_path = ctx_.store.attach_path(uid_, c.spec.name);
  l.stdin = c.spec.stdin;
  l.stdin_once = c.spec.stdin_once;
  l.tty = c.spec.tty;
  bool restart = c.rec.shim.pid > 0 || c.exit.has_value();
  phase_done("container launching");
  auto launched = launch_container(l);
  if (restart) ++c.rec.restart_count;
  if (!launched) {
    c.exit = ExitRecord{128, unix_now_ns()};
    c.exit_started_ns = unix_now_ns();
    c.state = Container::State::kTerminated;
    c.reason = "StartError";
    c.message = launched.error().message();
    record(&c, k8s::kEventWarning, "Failed", "Error: " + c.message);
    schedule_restart(c);
    save();
    return false;
  }
  phase_done("container launched");
  c.rec.container = launched->container;
  c.rec.shim = launched->shim;
  c.rec.started_unix_ns = launched->started_unix_ns;
  c.pidfd = open_pidfd(c.rec.shim);
  c.state = Container::State::kRunning;
  c.reason.clear();
  c.message.clear();
  c.ready = false;
  c.started = !c.spec.startup;
  c.restart_pending = false;
  auto now = Clock::now();
  for (auto* p : {&c.readiness, &c.liveness, &c.startup}) *p = ProbeState{};
  if (c.spec.readiness)
    c.readiness.next = now + std::chrono::seconds(c.spec.readiness->initial_delay_seconds);
  if (c.spec.liveness) c.liveness.next = now + std::chrono::seconds(c.spec.liveness->initial_delay_seconds);
  if (c.spec.startup) c.startup.next = now + std::chrono::seconds(c.spec.startup->initial_delay_seconds);
  if (c.spec.readiness)
    c.readiness_report = c.readiness.next + std::chrono::seconds(c.spec.readiness->period_seconds);
  save();
  // kubelet records both steps; here one launch does both.
  record(&c, k8s::kEventNormal, "Created", "Created container: " + c.spec.name);
  record(&c, k8s::kEventNormal, "Started", "Started container " + c.spec.name);
  return true;
}

void PodWorker::schedule_restart(Container& c) {
  bool restart = false;
  int code = c.exit ? c.exit->exit_code : 1;
  if (c.state == Container::State::kWaiting)
    restart = true;  // never started: try again
  else if (spec_) {
    switch (spec_->restart_policy) {
      case RestartPolicy::kAlways:
        restart = !c.init || code != 0;
        break;
      case RestartPolicy::kOnFailure:
        restart = code != 0;
        break;
      case RestartPolicy::kNever:
        restart = false;
        break;
    }
  }
  c.restart_pending = restart;
  if (!restart) return;
  auto delay = std::chrono::milliseconds(0);
  if (c.rec.restart_count > 0) {
    delay = ctx_.opts.restart_backoff;
    for (int i = 1; i < c.rec.restart_count && delay < ctx_.opts.max_restart_backoff; ++i) delay *= 2;
    delay = std::min(delay, ctx_.opts.max_restart_backoff);
  }
  // A container that ran ten minutes has earned a fresh start.
  if (c.exit && c.exit->finished_unix_ns - c.exit_started_ns > int64_t{600} * 1000000000) delay = 0ms;
  c.start_at = Clock::now() + delay;
  if (delay > 0ms && c.state == Container::State::kTerminated && spec_)
    record(&c, k8s::kEventWarning, "BackOff",
           "Back-off restarting failed container " + c.spec.name + " in pod " + spec_->name + "_" +
               spec_->namespace_ + "(" + uid_ + ")");
}

void PodWorker::on_exit(Container& c) {
  c.pidfd.reset();
  reap(c.rec.shim.pid);
  c.exit = read_exit_record(ctx_.store.exit_path(uid_, c.spec.name));
  if (!c.exit) c.exit = ExitRecord{137, unix_now_ns()};
  c.exit_started_ns = c.rec.started_unix_ns;
  c.state = Container::State::kTerminated;
  if (c.reason.empty()) c.reason = c.exit->exit_code == 0 ? "Completed" : "Error";
  c.ready = false;
  if (c.init && c.exit->exit_code == 0) c.rec.succeeded_init = true;
  schedule_restart(c);
  save();
}

void PodWorker::kill_containers(std::vector<Container*> which, int64_t grace_seconds, bool pod_terminating) {
  for (auto* c : which) signal_container(c->rec.container, SIGTERM);
  auto deadline =
      Clock::now() + std::chrono::seconds(std::clamp<int64_t>(grace_seconds, 0, kMaxGraceSeconds));
  int64_t grace_seen = spec_ ? spec_->deletion_grace_seconds.value_or(-1) : -1;
  bool killed = false;
  for (;;) {
    if (stop_) return;  // the agent stops: containers stay, a restarted agent finishes the job
    bool any = false;
    for (auto* c : which)
      if (c->state == Container::State::kRunning) {
        if (!process_alive(c->rec.shim))
          on_exit(*c);
        else
          any = true;
      }
    if (!any) return;
    auto now = Clock::now();
    if (pod_terminating && !killed) {
      // A second delete may shorten the grace period (kube restarts the kill with the shorter
      // one); a pod removed from the API (force deletion) gets kubelet's minimum, 1 s.
      bool gone = absorb_updates();
      if (gone) deadline = std::min(deadline, now + 1s);
      if (spec_ && spec_->deletion_grace_seconds.value_or(-1) >= 0 &&
          *spec_->deletion_grace_seconds != grace_seen) {
        grace_seen = *spec_->deletion_grace_seconds;
        deadline = std::min(deadline, now + std::chrono::seconds(grace_seen));
      }
      run_probes(now);
      if (!gone) publish();
    }
    if (now >= deadline) {
      if (killed) return;  // SIGKILL and five more seconds: give up on a stuck shim
      for (auto* c : which)
        if (c->state == Container::State::kRunning) signal_container(c->rec.container, SIGKILL);
      killed = true;
      deadline = now + 5s;
    }
    auto next = std::min(deadline, Clock::now() + 50ms);
    wait_events(next);
  }
}

bool PodWorker::run_init_containers() {
  for (const auto& name : init_order_) {
    auto& c = containers_.at(name);
    if (c.rec.succeeded_init) continue;
    if (c.state == Container::State::kRunning) return false;  // still going
    if (c.state == Container::State::kTerminated && !c.restart_pending) {
      init_failed_ = true;
      return false;
    }
    if (Clock::now() >= c.start_at) start_container(c);
    return false;
  }
  return true;
}

}  // namespace podnet::runtime
