#include "cluster/teardown.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "cluster/processes.h"
#include "cluster/supervision.h"
#include "cluster/underlay.h"
#include "common/files.h"

namespace podnet::cluster {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kNetnsDir = "/run/netns";
// Where agents bind their pods' mount namespaces (runtime::PodManagerOptions::mntns_dir's default),
// named like the pods' network namespaces.
constexpr const char* kPodMntnsDir = "/run/podnet/mntns";

std::string uid_prefix(const std::string& uid) {
  std::string hex;
  for (char c : uid) {
    if (c == '-') continue;
    hex += c;
    if (hex.size() == 8) break;
  }
  return hex;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Recorded processes whose pid still names one of ours: a pid file outlives its process, and the
// pid may have been reused since.
std::vector<pid_t> live_pids(const Layout& layout, const std::vector<std::string>& pid_files) {
  std::vector<pid_t> out;
  for (const auto& f : pid_files)
    if (pid_t pid = live_pid_from_file(f, layout.spec().state_dir); pid > 0) out.push_back(pid);
  return out;
}

std::vector<std::string> pid_files(const Layout& layout, bool supervisors) {
  std::vector<std::string> out;
  for (const auto& d : layout.daemons())
    out.push_back(supervisors ? layout.supervisor_pid_path(d) : layout.pid_path(d));
  return out;
}

}  // namespace

std::vector<std::string> cluster_netns(const Layout& layout, const std::vector<std::string>& existing,
                                       const std::vector<PodRecord>& pods) {
  const std::string own_prefix = "pn-" + layout.spec().cid + "-";
  std::set<std::string> nodes, pod_names;
  for (int i = 1; i <= layout.spec().nodes; ++i) nodes.insert(layout.node_netns(i));
  for (const auto& p : pods) {
    std::string h = uid_prefix(p.uid);
    if (h.size() == 8) {
      pod_names.insert("pn-" + p.node + "-" + h);
      pod_names.insert(own_prefix + h);
    }
    for (const char* dir : {"/run/netns/", "/var/run/netns/"})
      if (p.netns_path.starts_with(dir)) pod_names.insert(p.netns_path.substr(std::string(dir).size()));
  }
  // Pod namespaces first: removing a node's namespace first would strand its pods' veths. The
  // underlay last: the nodes' eth0 go with it.
  std::vector<std::string> pod_ns, node_ns, underlay;
  for (const auto& name : existing) {
    if (name == layout.underlay_netns())
      underlay.push_back(name);
    else if (nodes.contains(name))
      node_ns.push_back(name);
    else if (name.starts_with(own_prefix) || pod_names.contains(name))
      pod_ns.push_back(name);
  }
  pod_ns.insert(pod_ns.end(), node_ns.begin(), node_ns.end());
  pod_ns.insert(pod_ns.end(), underlay.begin(), underlay.end());
  return pod_ns;
}

std::vector<PodRecord> recorded_pods(const Layout& layout) {
  std::vector<PodRecord> out;
  for (int i = 1; i <= layout.spec().nodes; ++i) {
    const std::string pods_dir = layout.node_dir(i) + "/pods";
    for (const auto& uid : list_dir(pods_dir)) {
      PodRecord r{layout.node_name(i), uid, ""};
      if (auto text = read_file(pods_dir + "/" + uid + "/netns")) {
        r.netns_path = *text;
        while (!r.netns_path.empty() && std::isspace(static_cast<unsigned char>(r.netns_path.back())))
          r.netns_path.pop_back();
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

// Deepest first, so removing the directory removes files, not mounted file systems' contents.
Status unmount_below(const std::string& dir) {
  auto text = read_file("/proc/self/mountinfo");
  if (!text) return std::unexpected(text.error());
  std::vector<std::string> points;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    if (!(f >> id >> parent >> dev >> root >> point)) continue;
    if (point.starts_with(dir + "/")) points.push_back(point);
  }
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& p : points)
    if (::umount2(p.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      return fail("unmount " + p);
  return {};
}

Status tear_down(const Layout& layout, const Progress& progress) {
  Status first;
  auto note = [&](Status s) {
    if (s) return;
    progress("  " + s.error().message());
    if (first) first = s;
  };

  // Supervisors first: each forwards SIGTERM to its daemon and waits for it (SIGKILL after its 5 s),
  // so nothing is restarted behind our back; then whatever runs without one.
  auto supervisors = live_pids(layout, pid_files(layout, true));
  if (!supervisors.empty()) {
    progress("stopping " + std::to_string(supervisors.size()) + " supervised daemon(s)");
    stop_processes(supervisors, 8s);
  }
  auto daemons = live_pids(layout, pid_files(layout, false));
  if (!daemons.empty()) {
    progress("stopping " + std::to_string(daemons.size()) + " daemon(s)");
    stop_processes(daemons, 5s);
  }

  auto namespaces = cluster_netns(layout, list_dir(kNetnsDir), recorded_pods(layout));
  std::set<NsId> ids;
  for (const auto& name : namespaces)
    if (auto id = netns_id(std::string(kNetnsDir) + "/" + name)) ids.insert(*id);
  // Rounds, because a process may fork between the scan and the kill.
  for (int round = 0; round < 20; ++round) {
    auto pids = pids_in_netns(ids);
    if (pids.empty()) break;
    progress("killing " + std::to_string(pids.size()) + " process(es) in the cluster's namespaces");
    stop_processes(pids, 0ms);
  }

  if (!namespaces.empty())
    progress("removing " + std::to_string(namespaces.size()) + " network namespace(s)");
  for (const auto& name : namespaces) note(delete_netns_if_present(name));
  for (const auto& name : cluster_netns(layout, list_dir(kPodMntnsDir), recorded_pods(layout))) {
    std::string path = std::string(kPodMntnsDir) + "/" + name;
    if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      note(fail("unmount " + path));
    ::unlink(path.c_str());
  }
  note(delete_root_links(layout));

  progress("removing " + layout.spec().state_dir);
  note(unmount_below(fs::weakly_canonical(layout.spec().state_dir).string()));
  std::error_code ec;
  fs::remove_all(layout.spec().state_dir, ec);
  if (ec) note(fail("remove " + layout.spec().state_dir, ec.value()));
  return first;
}

}  // namespace podnet::cluster
