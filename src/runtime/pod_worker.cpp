#include "runtime/pod_worker.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "common/files.h"
#include "common/time.h"
#include "netlink/link.h"
#include "runtime/pod_dns.h"
#include "runtime/pod_mounts.h"
#include "runtime/probe.h"
#include "runtime/service_env.h"

namespace podnet::runtime {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string meta_str(const json::value& pod, const char* key) {
  const auto* o = pod.if_object();
  const auto* m = o ? o->if_contains("metadata") : nullptr;
  const auto* v = m && m->is_object() ? m->get_object().if_contains(key) : nullptr;
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

uint64_t rv_number(const json::value& pod) {
  std::string rv = meta_str(pod, "resourceVersion");
  uint64_t n = 0;
  std::from_chars(rv.data(), rv.data() + rv.size(), n);
  return n;
}

// The pod's Ready condition status as stored ("True"/"False"), "" when it has none.
std::string ready_status(const json::value& pod) {
  const auto* o = pod.if_object();
  const auto* st = o ? o->if_contains("status") : nullptr;
  const auto* cs = st && st->is_object() ? st->get_object().if_contains("conditions") : nullptr;
  if (!cs || !cs->is_array()) return "";
  for (const auto& c : cs->get_array()) {
    const auto* co = c.if_object();
    const auto* type = co ? co->if_contains("type") : nullptr;
    const auto* status = co ? co->if_contains("status") : nullptr;
    if (type && type->is_string() && type->get_string() == "Ready" && status && status->is_string())
      return std::string(status->get_string());
  }
  return "";
}

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

std::string NodeContext::netns_name(const std::string& uid) const {
  std::string hex;
  for (char c : uid)
    if (std::isxdigit(static_cast<unsigned char>(c)) && hex.size() < 8)
      hex += static_cast<char>(std::tolower(c));
  return opts.netns_prefix + hex;
}

std::string NodeContext::cni_args(const std::string& ns, const std::string& name,
                                  const std::string& uid) const {
  return "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + ns + ";K8S_POD_NAME=" + name +
         ";K8S_POD_INFRA_CONTAINER_ID=" + uid + ";K8S_POD_UID=" + uid;
}

PodWorker::PodWorker(const NodeContext& ctx, std::string uid, std::optional<json::value> pod)
    : ctx_(ctx),
      uid_(std::move(uid)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      latest_(std::move(pod)) {
  gone_ = !latest_;
  updated_ = true;
}

PodWorker::~PodWorker() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void PodWorker::start() {
  thread_ = std::thread([this] {
    // Nothing a pod holds may take the agent down: whatever escapes is logged, and the worker
    // stays (doing nothing) until the pod goes, so the manager does not start it again and again.
    try {
      run();
    } catch (const std::exception& e) {
      spdlog::error("pod {}: worker stopped: {}", uid_, e.what());
      park();
    }
    finished_ = true;
  });
}

void PodWorker::park() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (gone_) return;
    }
    if (stop_) return;
    pollfd p{wake_fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 1000) > 0) {
      uint64_t v;
      (void)!::read(wake_fd_.get(), &v, sizeof v);
    }
  }
}

void PodWorker::wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
}

void PodWorker::update(const json::value& pod) {
  {
    std::lock_guard lock(mu_);
    // Our own status writes come back through the watch after we already hold a newer copy.
    if (latest_ && rv_number(pod) != 0 && rv_number(pod) < rv_number(*latest_)) return;
    latest_ = pod;
    updated_ = true;
  }
  wake();
}

void PodWorker::gone() {
  {
    std::lock_guard lock(mu_);
    gone_ = true;
  }
  wake();
}

void PodWorker::stop() {
  stop_ = true;
  wake();
}

std::string PodWorker::key() {
  std::lock_guard lock(mu_);
  return latest_ ? meta_str(*latest_, "namespace") + "/" + meta_str(*latest_, "name") : std::string();
}

bool PodWorker::container_running(const std::string& container) {
  std::lock_guard lock(status_mu_);
  auto it = running_.find(container);
  return it != running_.end() && it->second;
}

void PodWorker::save() {
  for (auto& [name, c] : containers_) rec_.containers[name] = c.rec;
  if (auto s = ctx_.store.save(rec_); !s) spdlog::warn("pod {}: save state: {}", uid_, s.error().message());
  std::lock_guard lock(status_mu_);
  for (auto& [name, c] : containers_) running_[name] = c.state == Container::State::kRunning;
}

void PodWorker::phase_done(const char* what) {
  auto ms = std::chrono::duration<double, std::milli>(Clock::now() - created_).count();
  // Bounded: each phase once, and only until the start is reported.
  if (!start_reported_ && std::none_of(start_phases_.begin(), start_phases_.end(),
                                       [&](const auto& p) { return std::string_view(p.first) == what; }))
    start_phases_.emplace_back(what, ms);
  spdlog::debug("pod {}: {} at +{:.1f} ms", spec_ ? spec_->key() : uid_, what, ms);
}

// One line per pod start, kept machine-readable: "pod NS/NAME: start phases, seen at <unix ms>:
// <phase> +<ms>; <phase> +<ms>; ...". Only for a start this worker made (a re-adopted pod's first
// Ready after an agent restart is not a start).
void PodWorker::report_start() {
  if (start_reported_) return;
  start_reported_ = true;
  bool made = std::any_of(start_phases_.begin(), start_phases_.end(),
                          [](const auto& p) { return std::string_view(p.first) == "container launched"; });
  if (!made || !spec_) return;
  std::string phases;
  for (const auto& [what, ms] : start_phases_)
    phases += fmt::format("{}{} +{:.1f}", phases.empty() ? "" : "; ", what, ms);
  double seen_ms = std::chrono::duration<double, std::milli>(created_wall_.time_since_epoch()).count();
  spdlog::info("pod {}: start phases, seen at {:.1f}: {}", spec_->key(), seen_ms, phases);
  start_phases_.clear();
  start_phases_.shrink_to_fit();
}

k8s::ObjectReference PodWorker::reference(const Container* c) {
  k8s::ObjectReference r;
  r.kind = "Pod";
  r.api_version = "v1";
  r.ns = spec_->namespace_;
  r.name = spec_->name;
  r.uid = uid_;
  {
    std::lock_guard lock(mu_);
    if (latest_) r.resource_version = meta_str(*latest_, "resourceVersion");
  }
  // kubelet's GenerateContainerRef.
  if (c)
    r.field_path = std::string(c->init ? "spec.initContainers{" : "spec.containers{") + c->spec.name + "}";
  return r;
}

void PodWorker::record(const Container* c, const char* type, std::string reason, std::string message) {
  if (!spec_) return;  // an orphan found on disk: no API object to tell about it
  if (uint64_t ticket = ctx_.events.event(reference(c), type, std::move(reason), std::move(message)))
    last_event_ = ticket;
}

// ---- startup ------------------------------------------------------------------------------------

void PodWorker::adopt() {
  auto loaded = ctx_.store.load(uid_);
  if (loaded) rec_ = std::move(*loaded);
  rec_.uid = uid_;
  if (spec_) {
    rec_.namespace_ = spec_->namespace_;
    rec_.name = spec_->name;
    rec_.host_network = spec_->host_network;
  }
  if (rec_.start_unix_ns == 0) rec_.start_unix_ns = unix_now_ns();
  auto add = [&](const ContainerSpec& cs, bool init) {
    Container c;
    c.spec = cs;
    c.init = init;
    if (auto it = rec_.containers.find(cs.name); it != rec_.containers.end()) c.rec = it->second;
    if (c.rec.shim.pid > 0) {
      if (process_alive(c.rec.shim)) {
        c.pidfd = open_pidfd(c.rec.shim);
        c.state = Container::State::kRunning;
        c.started = !cs.startup;  // probes re-learn readiness
        spdlog::info("pod {}: re-adopted container {} (pid {})", uid_, cs.name, c.rec.container.pid);
      } else {
        c.exit = read_exit_record(ctx_.store.exit_path(uid_, cs.name));
        if (!c.exit) c.exit = ExitRecord{137, unix_now_ns()};  // the shim died without a word
        c.exit_started_ns = c.rec.started_unix_ns;
        c.state = Container::State::kTerminated;
        c.reason = c.exit->exit_code == 0 ? "Completed" : "Error";
        if (!init || !c.rec.succeeded_init) schedule_restart(c);
      }
    }
    if (!config_error_.empty() && c.state == Container::State::kWaiting) {
      c.reason = "CreateContainerConfigError";
      c.message = config_error_;
    }
    (init ? init_order_ : order_).push_back(cs.name);
    containers_.emplace(cs.name, std::move(c));
  };
  if (spec_) {
    for (const auto& cs : spec_->init_containers) add(cs, true);
    for (const auto& cs : spec_->containers) add(cs, false);
  } else {
    // An orphan: only what the record knows, to be stopped.
    for (auto& [name, r] : rec_.containers) {
      ContainerSpec cs;
      cs.name = name;
      add(cs, false);
    }
  }
  if (!rec_.host_network && !rec_.netns.empty() && !rec_.cni_result.is_null() && !rec_.network_released) {
    auto ns = netlink::NetNs::open("/var/run/netns/" + rec_.netns);
    if (ns) {
      pod_ns_.emplace(std::move(*ns));
      sandbox_ready_ = true;
    }
  }
  if (rec_.host_network) {
    rec_.ips = {ctx_.opts.node_ip};
    sandbox_ready_ = true;
  }
}

bool PodWorker::setup_sandbox() {
  if (spec_->host_network) {
    rec_.ips = {ctx_.opts.node_ip};
    sandbox_ready_ = true;
    save();
    return true;
  }
  auto network = load_cni_network(ctx_.opts.cni_conf);
  if (!network) {
    sandbox_error_ = "network is not ready: " + network.error().message();
    return false;
  }
  CniAttachment att{uid_, "", "eth0", ctx_.cni_args(spec_->namespace_, spec_->name, uid_), {}};
  json::array mappings;
  for (const auto& c : spec_->containers)
    for (const auto& p : c.ports)
      if (p.host_port > 0) {
        std::string proto = p.protocol;
        std::transform(proto.begin(), proto.end(), proto.begin(), ::tolower);
        mappings.push_back(json::object{
            {"hostPort", p.host_port}, {"containerPort", p.container_port}, {"protocol", proto}});
      }
  if (!mappings.empty()) att.runtime_config["portMappings"] = std::move(mappings);

  if (!rec_.netns.empty()) {
    // A setup that died half-way, or a sandbox that is gone (its netns removed, the node rebooted):
    // the plugin forgets what it holds for the pod (addresses, host-side objects) before the new
    // ADD, as kubelet stops a dead sandbox before it makes a new one. Without this the old address
    // would stay reserved (IPAM refuses a second ADD of one attachment).
    att.netns = "/var/run/netns/" + rec_.netns;
    if (::access(att.netns.c_str(), F_OK) != 0) att.netns.clear();
    (void)ctx_.cni.del(*network, att, rec_.cni_result);
    rec_.cni_result = json::value();
  }
  rec_.netns = ctx_.netns_name(uid_);
  save();  // before the netns exists, so a crash leaves a record that GC finds
  std::string path = "/var/run/netns/" + rec_.netns;
  phase_done("sandbox start");
  auto ns = netlink::NetNs::open(path);
  // EINVAL: a file but no namespace there (a removal that stopped half-way): start afresh.
  if (!ns && ns.error().code == EINVAL) (void)netlink::delete_named_netns(rec_.netns);
  if (!ns) ns = netlink::create_named_netns(rec_.netns);
  if (!ns) {
    sandbox_error_ = ns.error().message();
    return false;
  }
  phase_done("netns ready");
  auto lo = ns->run([]() -> Status {
    PODNET_TRY(nl, netlink::Netlink::open());
    PODNET_TRY(link, nl.get_link("lo"));
    return nl.set_up(link.index);
  });
  if (!lo) {
    sandbox_error_ = "set lo up: " + lo.error().message();
    return false;
  }
  att.netns = path;
  phase_done("lo up");
  auto result = ctx_.cni.add(*network, att);
  if (!result) {
    sandbox_error_ = result.error().message();
    (void)ctx_.cni.del(*network, att, json::value());
    return false;
  }
  phase_done("CNI ADD done");
  wait_links_up(*ns, att.ifname, *result);
  rec_.cni_result = *result;
  rec_.ips = result_ips(*result);
  if (ctx_.opts.network_admit && !rec_.ips.empty()) {
    std::optional<json::value> pod;
    {
      std::lock_guard lock(mu_);
      pod = latest_;
    }
    if (pod) {
      if (auto s = ctx_.opts.network_admit(*pod, rec_.ips); !s)
        spdlog::warn("pod {}: starting without network policy confirmation: {}", spec_->key(),
                     s.error().message());
      phase_done("network policy programmed");
    }
  }
  rec_.network_released = false;
  pod_ns_.emplace(std::move(*ns));
  sandbox_ready_ = true;
  sandbox_error_.clear();
  save();
  return true;
}

// Waits (at most 1 s) until the pod's interface and the node-side links of the CNI result report
// operstate UP. Measured on the 3-node cluster bench (a loaded machine): without this step about
// half of the pods' first probes lost their first packets to the new pod and waited out a 1 s
// retransmit (the neighbour entry's ARP retry: quicker fresh SYNs did not help); with it none did,
// in every run. The links were already UP when first looked at, though: it is the step as a whole
// (netlink round trips in both namespaces after the ADD), not the wait, that made the difference,
// and the kernel-side cause is not pinned down yet.
void PodWorker::wait_links_up(const netlink::NetNs& pod_ns, const std::string& ifname,
                              const json::value& cni_result) {
  std::vector<std::pair<const netlink::NetNs*, std::string>> links{{&pod_ns, ifname}};
  std::optional<netlink::NetNs> here;
  const netlink::NetNs* node = ctx_.node();
  if (!node) {
    if (auto cur = netlink::NetNs::current(); cur) here.emplace(std::move(*cur));
    node = here ? &*here : nullptr;
  }
  const auto* ifs = cni_result.is_object() ? cni_result.get_object().if_contains("interfaces") : nullptr;
  if (node && ifs && ifs->is_array())
    for (const auto& i : ifs->get_array()) {
      const auto* io = i.if_object();
      const auto* name = io ? io->if_contains("name") : nullptr;
      if (name && name->is_string() && !io->contains("sandbox")) links.emplace_back(node, name->get_string());
    }
  auto deadline = Clock::now() + 1s;
  for (const auto& [ns, name] : links) {
    for (int polls = 0;; ++polls) {
      auto up = ns->run([&]() -> Result<bool> {
        PODNET_TRY(nl, netlink::Netlink::open());
        PODNET_TRY(link, nl.get_link(name));
        return link.oper_up;
      });
      if (!up || *up || Clock::now() >= deadline) {
        if (polls > 0 || !up)
          spdlog::debug("pod {}: {} after {} polls: {}", uid_, name, polls,
                        up ? (*up ? "up" : "not up") : up.error().message());
        break;
      }
      std::this_thread::sleep_for(2ms);
    }
  }
}

bool PodWorker::setup_mounts() {
  const std::string name = ctx_.netns_name(uid_), path = ctx_.opts.mntns_dir + "/" + name;
  if (rec_.mntns == path)
    if (auto fd = open_pod_mount_ns(path); fd) {
      pod_mnt_ = std::move(*fd);  // made before an agent restart
      return true;
    }
  NodeDns dns{ctx_.opts.cluster_dns, ctx_.opts.cluster_domain, {}};
  auto host_resolv = read_file(ctx_.opts.resolv_conf);
  if (!host_resolv) {
    sandbox_error_ = "the node's resolver configuration: " + host_resolv.error().message();
    return false;
  }
  dns.host = parse_resolv_conf(*host_resolv);
  PodResolv resolv = pod_resolv_conf(*spec_, dns);
  std::string node_hosts;
  if (spec_->host_network) {
    auto hosts = read_file(ctx_.opts.hosts_file);
    if (!hosts) {
      sandbox_error_ = "the node's hosts file: " + hosts.error().message();
      return false;
    }
    node_hosts = std::move(*hosts);
  }
  const std::string dir = ctx_.store.run_pod_dir(uid_);
  const std::string resolv_path = dir + "/resolv.conf", hosts_path = dir + "/hosts";
  Status written = make_dirs(dir, 0700);
  if (written) written = write_file_atomic(resolv_path, format_resolv_conf(resolv.conf), 0644);
  if (written)
    written = write_file_atomic(hosts_path,
                                pod_hosts_file(*spec_, rec_.ips, ctx_.opts.cluster_domain, node_hosts), 0644);
  if (!written) {
    sandbox_error_ = written.error().message();
    return false;
  }
  rec_.mntns = path;
  save();  // before the namespace exists, so a crash leaves a record that teardown finds
  auto ns = create_pod_mount_ns(ctx_.opts.mntns_dir, name,
                                {{resolv_path, "/etc/resolv.conf"}, {hosts_path, "/etc/hosts"}});
  if (!ns) {
    sandbox_error_ = ns.error().message();
    return false;
  }
  pod_mnt_ = std::move(*ns);
  for (auto& [reason, message] : resolv.warnings) {
    spdlog::warn("pod {}: {}", spec_->key(), message);
    record(nullptr, k8s::kEventWarning, reason, message);
  }
  phase_done("mount namespace ready");
  return true;
}

void PodWorker::remove_mounts() {
  pod_mnt_.reset();
  if (rec_.mntns.empty()) return;
  if (auto s = remove_pod_mount_ns(rec_.mntns); !s)
    spdlog::warn("pod {}: remove mount namespace: {}", uid_, s.error().message());
}

void PodWorker::release_network() {
  if (rec_.host_network || rec_.network_released || rec_.netns.empty()) return;
  auto network = load_cni_network(ctx_.opts.cni_conf);
  if (network) {
    CniAttachment att{
        uid_, "/var/run/netns/" + rec_.netns, "eth0", ctx_.cni_args(rec_.namespace_, rec_.name, uid_), {}};
    if (::access(att.netns.c_str(), F_OK) != 0) att.netns.clear();
    if (auto s = ctx_.cni.del(*network, att, rec_.cni_result); !s)
      spdlog::warn("pod {}: CNI DEL: {}", uid_, s.error().message());
  } else {
    // GC at the next start releases what the plugin still holds for this pod.
    spdlog::warn("pod {}: no CNI config for DEL: {}", uid_, network.error().message());
  }
  pod_ns_.reset();
  if (auto s = netlink::delete_named_netns(rec_.netns); !s)
    spdlog::warn("pod {}: delete netns: {}", uid_, s.error().message());
  rec_.network_released = true;
  sandbox_ready_ = false;
  save();
}

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

// ---- probes -------------------------------------------------------------------------------------

void PodWorker::run_probes(Clock::time_point now) {
  std::string pod_ip = rec_.ips.empty() ? ctx_.opts.node_ip : rec_.ips[0];
  for (const auto& name : order_) {
    auto& c = containers_.at(name);
    if (c.state != Container::State::kRunning) continue;
    if (c.env.empty()) c.env = container_env(c.spec);  // re-adopted: as it would start now
    ProbeTarget target{ctx_.node(), pod_ns_ ? &*pod_ns_ : ctx_.node(), pod_mnt_.get(), pod_ip, c.env};
    auto period = [](const Probe& p) { return std::chrono::seconds(p.period_seconds); };
    if (c.spec.startup && !c.started && !terminating_ && now >= c.startup.next) {
      auto r = run_probe(*c.spec.startup, c.spec, target);
      c.startup.next = Clock::now() + period(*c.spec.startup);
      if (r.success) {
        c.started = true;
      } else {
        record(&c, k8s::kEventWarning, "Unhealthy", "Startup probe failed: " + r.message);
        if (++c.startup.failures >= c.spec.startup->failure_threshold) {
          spdlog::info("pod {}: container {} failed its startup probe: {}", key(), name, r.message);
          record(&c, k8s::kEventNormal, "Killing",
                 "Container " + name + " failed startup probe, will be restarted");
          c.reason = "Error";
          kill_containers({&c}, spec_->grace_period_seconds);
          continue;
        }
      }
    }
    if (!c.started) continue;
    if (c.spec.liveness && !terminating_ && now >= c.liveness.next) {
      auto r = run_probe(*c.spec.liveness, c.spec, target);
      c.liveness.next = Clock::now() + period(*c.spec.liveness);
      if (r.success) {
        c.liveness.failures = 0;
      } else {
        record(&c, k8s::kEventWarning, "Unhealthy", "Liveness probe failed: " + r.message);
        if (++c.liveness.failures >= c.spec.liveness->failure_threshold) {
          spdlog::info("pod {}: container {} failed liveness probe, will be restarted: {}", key(), name,
                       r.message);
          record(&c, k8s::kEventNormal, "Killing",
                 "Container " + name + " failed liveness probe, will be restarted");
          c.reason = "Error";
          kill_containers({&c}, spec_->grace_period_seconds);
          continue;
        }
      }
    }
    if (!c.spec.readiness) {
      c.ready = true;
    } else if (now >= c.readiness.next) {
      const Probe& p = *c.spec.readiness;
      auto r = run_probe(p, c.spec, target);
      if (r.success) {
        c.readiness.failures = 0;
        if (!c.ready)
          phase_done(c.readiness.tries == 0 ? "ready at the first probe" : "ready after probe retries");
        if (++c.readiness.successes >= p.success_threshold) c.ready = true;
      } else {
        c.readiness.successes = 0;
        if (++c.readiness.failures >= p.failure_threshold) c.ready = false;
        if (auto at = Clock::now(); at >= c.readiness_report) {
          record(&c, k8s::kEventWarning, "Unhealthy", "Readiness probe failed: " + r.message);
          c.readiness_report = at + period(p);
        }
      }
      // Until the first success, and for at most 10 s, probe every 50 ms instead of every period:
      // a pod that is up in 10 ms should not wait a whole period to become Ready. Kube's semantics
      // are unchanged: the container is not ready before a success either way.
      std::chrono::milliseconds next = period(p);
      if (!c.ready && c.readiness.successes == 0 && ++c.readiness.tries <= 200) next = std::min(next, 50ms);
      c.readiness.next = Clock::now() + next;
    }
  }
}

// ---- status -------------------------------------------------------------------------------------

bool PodWorker::terminal() const {
  if (init_failed_) return true;
  for (const auto& name : order_) {
    const auto& c = containers_.at(name);
    if (c.state != Container::State::kTerminated || c.restart_pending) return false;
  }
  return true;
}

std::string PodWorker::phase() const {
  if (!config_error_.empty()) return "Pending";  // as kubelet's pods with CreateContainerConfigError
  if (init_failed_) return "Failed";
  bool all_done = true, all_ok = true, any_running = false;
  for (const auto& name : order_) {
    const auto& c = containers_.at(name);
    if (c.state == Container::State::kRunning) any_running = true;
    if (c.state != Container::State::kTerminated || c.restart_pending) all_done = false;
    if (c.exit && c.exit->exit_code != 0) all_ok = false;
    if (c.state == Container::State::kWaiting && c.rec.shim.pid == 0) return "Pending";
  }
  if (all_done) return all_ok ? "Succeeded" : "Failed";
  return any_running || !sandbox_ready_ ? (sandbox_ready_ ? "Running" : "Pending") : "Running";
}

json::object PodWorker::build_status() {
  bool initialized = true;
  for (const auto& name : init_order_) initialized = initialized && containers_.at(name).rec.succeeded_init;
  bool all_ready = !order_.empty();
  json::array statuses, init_statuses;
  for (const auto* list : {&init_order_, &order_}) {
    for (const auto& name : *list) {
      const auto& c = containers_.at(name);
      bool ready = c.state == Container::State::kRunning && c.ready && c.started;
      if (!c.init) all_ready = all_ready && ready;
      if (c.init && c.rec.succeeded_init) ready = true;
      auto terminated = [&](const ExitRecord& e) {
        return json::object{
            {"exitCode", e.exit_code},
            {"reason", c.reason.empty() ? (e.exit_code == 0 ? "Completed" : "Error") : c.reason},
            {"startedAt", rfc3339(c.exit_started_ns)},
            {"finishedAt", rfc3339(e.finished_unix_ns)},
            {"containerID", "podnet://" + uid_ + "/" + name}};
      };
      json::object state, last;
      if (c.state == Container::State::kRunning) {
        state["running"] = json::object{{"startedAt", rfc3339(c.rec.started_unix_ns)}};
        if (c.exit) last["terminated"] = terminated(*c.exit);
      } else if (c.state == Container::State::kTerminated && !c.restart_pending) {
        state["terminated"] = terminated(*c.exit);
      } else {
        json::object w{{"reason", c.state == Container::State::kTerminated ? "CrashLoopBackOff"
                                  : c.reason.empty()                       ? "ContainerCreating"
                                                                           : c.reason}};
        if (!c.message.empty()) w["message"] = c.message;
        if (c.state == Container::State::kTerminated && c.exit) {
          w["message"] = "back-off restarting failed container " + name;
          last["terminated"] = terminated(*c.exit);
        }
        state["waiting"] = std::move(w);
      }
      json::object s{{"name", name},
                     {"image", c.spec.image},
                     {"imageID", ""},
                     {"ready", ready},
                     {"started", c.state == Container::State::kRunning && c.started},
                     {"restartCount", c.rec.restart_count},
                     {"state", std::move(state)},
                     {"lastState", std::move(last)}};
      if (c.rec.shim.pid > 0) s["containerID"] = "podnet://" + uid_ + "/" + name;
      (c.init ? init_statuses : statuses).push_back(std::move(s));
    }
  }
  std::string ph = phase();
  // A terminating pod stays Ready while its readiness says so (kubelet keeps probing): its
  // endpoints then read serving and terminating, and kube-proxy may still use them.
  std::vector<std::pair<std::string, bool>> want = {{"PodReadyToStartContainers", sandbox_ready_},
                                                    {"Initialized", initialized},
                                                    {"Ready", all_ready && ph == "Running"},
                                                    {"ContainersReady", all_ready},
                                                    {"PodScheduled", true}};
  json::array conds;
  std::string now = rfc3339(unix_now_ns());
  for (auto& [type, ok] : want) {
    auto it = conditions_.find(type);
    if (it == conditions_.end() || it->second.first != ok) conditions_[type] = {ok, now};
    json::object cond{{"type", type},
                      {"status", ok ? "True" : "False"},
                      {"lastProbeTime", nullptr},
                      {"lastTransitionTime", conditions_[type].second}};
    if (!ok && (type == "Ready" || type == "ContainersReady")) {
      std::string names;
      for (const auto& n : order_) {
        const auto& c = containers_.at(n);
        if (!(c.state == Container::State::kRunning && c.ready && c.started))
          names += (names.empty() ? "" : " ") + n;
      }
      cond["reason"] = "ContainersNotReady";
      cond["message"] = "containers with unready status: [" + names + "]";
    }
    conds.push_back(std::move(cond));
  }
  json::object st{{"phase", ph},
                  {"conditions", std::move(conds)},
                  {"hostIP", ctx_.opts.node_ip},
                  {"hostIPs", json::array{json::object{{"ip", ctx_.opts.node_ip}}}},
                  {"startTime", rfc3339(rec_.start_unix_ns)},
                  {"containerStatuses", std::move(statuses)},
                  {"qosClass", "BestEffort"}};
  if (!init_statuses.empty()) st["initContainerStatuses"] = std::move(init_statuses);
  if (!rec_.ips.empty() && (sandbox_ready_ || rec_.network_released)) {
    st["podIP"] = rec_.ips[0];
    json::array ips;
    for (const auto& ip : rec_.ips) ips.push_back(json::object{{"ip", ip}});
    st["podIPs"] = std::move(ips);
  }
  if (!sandbox_error_.empty()) st["message"] = sandbox_error_;
  // No container could carry it (none has a valid name): the pod does.
  if (!config_error_.empty() && containers_.empty()) st["message"] = config_error_;
  return st;
}

void PodWorker::publish(bool force) {
  if (!spec_) return;
  json::object status = build_status();
  std::string text = json::serialize(status);
  if (text == published_ && !force) return;
  if (!force && Clock::now() < next_publish_retry_ && published_.empty()) return;
  json::value obj;
  {
    std::lock_guard lock(mu_);
    if (!latest_ || gone_) return;
    obj = *latest_;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    obj.as_object()["status"] = status;
    auto r = ctx_.api->update_status(obj);
    if (r) {
      bool ready = ready_status(obj) == "True";
      phase_done(ready ? "status Ready published" : "status published");
      if (status.contains("podIP")) phase_done("podIP published");
      if (ready) report_start();
      published_ = text;
      std::lock_guard lock(mu_);
      if (latest_ && rv_number(*r) >= rv_number(*latest_)) latest_ = *r;
      return;
    }
    if (r.error().code == kConflict) {
      auto fresh = ctx_.api->get_pod(spec_->namespace_, spec_->name);
      if (fresh && meta_str(*fresh, "uid") == uid_) {
        obj = *fresh;
        continue;
      }
    }
    spdlog::warn("pod {}: status update: {}", spec_->key(), r.error().message());
    break;
  }
  published_.clear();
  next_publish_retry_ = Clock::now() + 1s;
}

// ---- main loop ----------------------------------------------------------------------------------

void PodWorker::wait_events(Clock::time_point deadline) {
  std::vector<pollfd> fds{{wake_fd_.get(), POLLIN, 0}};
  std::vector<Container*> owners{nullptr};
  for (auto& [name, c] : containers_)
    if (c.state == Container::State::kRunning && c.pidfd.valid()) {
      fds.push_back({c.pidfd.get(), POLLIN, 0});
      owners.push_back(&c);
    }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  ms = std::clamp<int64_t>(ms, 0, 1000);
  ::poll(fds.data(), fds.size(), static_cast<int>(ms));
  if (fds[0].revents & POLLIN) {
    uint64_t v;
    (void)!::read(wake_fd_.get(), &v, sizeof v);
  }
  for (size_t i = 1; i < fds.size(); ++i)
    if (fds[i].revents) on_exit(*owners[i]);
  // Adopted processes whose pidfd could not be opened are checked by polling.
  for (auto& [name, c] : containers_)
    if (c.state == Container::State::kRunning && !c.pidfd.valid() && !process_alive(c.rec.shim)) on_exit(c);
}

void PodWorker::terminate(bool api_present) {
  // Kubelet on deletion: liveness and startup probes end as passed, readiness goes on.
  terminating_ = true;
  for (auto& [name, c] : containers_)
    if (c.state == Container::State::kRunning) c.started = true;
  int64_t grace = 10;  // orphans: their spec is gone
  if (spec_) grace = spec_->deletion_grace_seconds.value_or(spec_->grace_period_seconds);
  std::vector<Container*> running;
  for (auto& [name, c] : containers_) {
    c.restart_pending = false;
    if (c.state != Container::State::kRunning) continue;
    running.push_back(&c);
    if (api_present) record(&c, k8s::kEventNormal, "Killing", "Stopping container " + name);
  }
  kill_containers(running, grace, api_present);
  for (auto& [name, c] : containers_) c.restart_pending = false;  // on_exit may have scheduled one
  if (stop_) return;
  release_network();
  remove_mounts();
  if (api_present) {
    publish();
    // Events about a pod are refused once it is gone (NodeRestriction): Killing goes out first.
    ctx_.events.wait(last_event_, 1s);
    if (auto s = ctx_.api->delete_pod(spec_->namespace_, spec_->name, uid_); !s) {
      spdlog::warn("pod {}: delete: {}", spec_->key(), s.error().message());
      return;  // kept on disk: the next event or restart tries again
    }
  }
  (void)ctx_.store.remove(uid_);
}

void PodWorker::load_spec() {
  std::lock_guard lock(mu_);
  updated_ = false;
  if (!latest_) return;
  auto decoded = decode_pod(*latest_);
  if (decoded) {
    spec_ = std::move(*decoded);
    return;
  }
  // A pod the node cannot run is reported, not retried: its containers cannot change.
  config_error_ = decoded.error().message();
  spdlog::error("pod {}: cannot run it: {}", uid_, config_error_);
  if (auto identity = decode_pod_identity(*latest_)) spec_ = std::move(*identity);
}

bool PodWorker::absorb_updates() {
  std::lock_guard lock(mu_);
  if (updated_ && latest_) {
    // Containers cannot change in a running pod (only images can, which we do not pull): only
    // the deletion fields matter here.
    PodDeletion d = decode_deletion(*latest_);
    if (spec_ && d.deleting) {
      spec_->deleting = true;
      if (d.grace_seconds) spec_->deletion_grace_seconds = d.grace_seconds;
    }
    // Someone else changed the readiness we posted (the node lifecycle controller marks the
    // pods of a node that stopped posting not ready): post ours again, as kubelet's status
    // manager does when the API's status differs from its own.
    if (auto ours = conditions_.find("Ready");
        !published_.empty() && ours != conditions_.end() &&
        ready_status(*latest_) != (ours->second.first ? "True" : "False"))
      published_.clear();
    updated_ = false;
  }
  return gone_;
}

void PodWorker::run() {
  load_spec();
  if (!config_error_.empty()) record(nullptr, k8s::kEventWarning, "Failed", "Error: " + config_error_);
  phase_done("worker running");
  adopt();
  save();
  while (!stop_) {
    bool gone = absorb_updates();
    if (gone || !spec_) return terminate(false);
    if (spec_->deleting) return terminate(true);

    auto now = Clock::now();
    if (!config_error_.empty()) {
      publish();
      wait_events(now + 1s);
      continue;
    }
    if (!sandbox_ready_ && !rec_.network_released && now >= next_sandbox_retry_) {
      if (!setup_sandbox()) {
        spdlog::warn("pod {}: sandbox: {}", spec_->key(), sandbox_error_);
        if (sandbox_error_.starts_with("network is not ready"))
          record(nullptr, k8s::kEventWarning, "NetworkNotReady", sandbox_error_);
        else
          record(nullptr, k8s::kEventWarning, "FailedCreatePodSandBox",
                 "Failed to create pod sandbox: " + sandbox_error_);
        next_sandbox_retry_ = now + 2s;
      }
    }
    const bool mounts = !ctx_.opts.mntns_dir.empty();
    if (sandbox_ready_ && mounts && !pod_mnt_.valid() && now >= next_sandbox_retry_ && !setup_mounts()) {
      spdlog::warn("pod {}: sandbox: {}", spec_->key(), sandbox_error_);
      record(nullptr, k8s::kEventWarning, "FailedCreatePodSandBox",
             "Failed to create pod sandbox: " + sandbox_error_);
      next_sandbox_retry_ = now + 2s;
    }
    if (sandbox_ready_ && (pod_mnt_.valid() || !mounts) && run_init_containers()) {
      for (const auto& name : order_) {
        auto& c = containers_.at(name);
        bool due = (c.state == Container::State::kWaiting ||
                    (c.state == Container::State::kTerminated && c.restart_pending)) &&
                   now >= c.start_at;
        if (due) start_container(c);
      }
      run_probes(Clock::now());
    }
    if (terminal() && sandbox_ready_) release_network();
    publish();

    auto next = Clock::now() + 1s;
    for (auto& [name, c] : containers_) {
      if (c.restart_pending || c.state == Container::State::kWaiting) next = std::min(next, c.start_at);
      if (c.state != Container::State::kRunning) continue;
      if (c.spec.readiness) next = std::min(next, c.readiness.next);
      if (c.spec.liveness && c.started) next = std::min(next, c.liveness.next);
      if (c.spec.startup && !c.started) next = std::min(next, c.startup.next);
    }
    if (!sandbox_ready_ && !rec_.network_released) next = std::min(next, next_sandbox_retry_);
    wait_events(next);
  }
}

}  // namespace podnet::runtime
