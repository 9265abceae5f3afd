// PodWorker, sandbox: adopting what an earlier agent left, the network namespace and CNI ADD,
// the pod's mount namespace with its resolver files, and releasing them (pod_worker.h).
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/files.h"
#include "netlink/link.h"
#include "runtime/pod_dns.h"
#include "runtime/pod_mounts.h"
#include "runtime/pod_worker.h"

namespace podnet::runtime {
namespace json = boost::json;
using namespace std::chrono_literals;

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

}  // namespace podnet::runtime
