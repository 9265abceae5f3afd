#include "runtime/pod_state.h"

#include <boost/json.hpp>
#include <filesystem>

#include "common/files.h"

namespace podnet::runtime {
namespace json = boost::json;

namespace {

json::object pid_json(const ProcessId& p) {
  return {{"pid", p.pid}, {"startTime", p.start_time}};
}

ProcessId pid_from(const json::value* v) {
  ProcessId p;
  if (!v || !v->is_object()) return p;
  const auto& o = v->get_object();
  if (const auto* x = o.if_contains("pid"); x && x->is_int64()) p.pid = static_cast<pid_t>(x->get_int64());
  if (const auto* x = o.if_contains("startTime")) {
    if (x->is_uint64()) p.start_time = x->get_uint64();
    if (x->is_int64()) p.start_time = static_cast<uint64_t>(x->get_int64());
  }
  return p;
}

int64_t i64(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->get_int64() : 0;
}
std::string s(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}
bool b(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v && v->is_bool() && v->get_bool();
}

}  // namespace

Status PodStateStore::save(const PodRecord& rec) const {
  json::object containers;
  for (const auto& [name, c] : rec.containers)
    containers[name] = json::object{{"container", pid_json(c.container)},
                                    {"shim", pid_json(c.shim)},
                                    {"startedAt", c.started_unix_ns},
                                    {"restartCount", c.restart_count},
                                    {"initDone", c.succeeded_init}};
  json::array ips;
  for (const auto& ip : rec.ips) ips.emplace_back(ip);
  json::object o{{"uid", rec.uid},
                 {"namespace", rec.namespace_},
                 {"name", rec.name},
                 {"hostNetwork", rec.host_network},
                 {"netns", rec.netns},
                 {"mntns", rec.mntns},
                 {"cniResult", rec.cni_result},
                 {"networkReleased", rec.network_released},
                 {"ips", std::move(ips)},
                 {"startTime", rec.start_unix_ns},
                 {"containers", std::move(containers)}};
  // Rewritten at every step of a pod's start: exchanged in place rather than renamed over
  // (write_file_exchange says why); the directory is made by the first save.
  std::string path = pod_dir(rec.uid) + "/state.json", text = json::serialize(o);
  auto written = write_file_exchange(path, text, 0600);
  if (written || written.error().code != ENOENT) return written;
  if (auto made = make_dirs(pod_dir(rec.uid), 0700); !made) return made;
  return write_file_exchange(path, text, 0600);
}

Result<PodRecord> PodStateStore::load(const std::string& uid) const {
  std::string path = pod_dir(uid) + "/state.json";
  PODNET_TRY(text, read_file(path));
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return fail_msg(path + ": not a JSON object");
  const auto& o = v.get_object();
  PodRecord r;
  r.uid = s(o, "uid");
  r.namespace_ = s(o, "namespace");
  r.name = s(o, "name");
  r.host_network = b(o, "hostNetwork");
  r.netns = s(o, "netns");
  r.mntns = s(o, "mntns");
  if (const auto* c = o.if_contains("cniResult")) r.cni_result = *c;
  r.network_released = b(o, "networkReleased");
  if (const auto* ips = o.if_contains("ips"); ips && ips->is_array())
    for (const auto& ip : ips->get_array())
      if (ip.is_string()) r.ips.emplace_back(ip.get_string());
  r.start_unix_ns = i64(o, "startTime");
  if (const auto* cs = o.if_contains("containers"); cs && cs->is_object()) {
    for (const auto& [name, cv] : cs->get_object()) {
      if (!cv.is_object()) continue;
      const auto& co = cv.get_object();
      ContainerRecord c;
      c.container = pid_from(co.if_contains("container"));
      c.shim = pid_from(co.if_contains("shim"));
      c.started_unix_ns = i64(co, "startedAt");
      c.restart_count = static_cast<int>(i64(co, "restartCount"));
      c.succeeded_init = b(co, "initDone");
      r.containers[std::string(name)] = c;
    }
  }
  if (r.uid != uid) return fail_msg(path + ": uid mismatch");
  return r;
}

std::vector<std::string> PodStateStore::list_uids() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
    if (e.is_directory(ec)) out.push_back(e.path().filename().string());
  return out;
}

Status PodStateStore::remove(const std::string& uid) const {
  std::error_code ec;
  if (run_dir_ != dir_) std::filesystem::remove_all(run_pod_dir(uid), ec);
  if (ec) return fail("remove " + run_pod_dir(uid), ec.value());
  std::filesystem::remove_all(pod_dir(uid), ec);
  if (ec) return fail("remove " + pod_dir(uid), ec.value());
  return {};
}

}  // namespace podnet::runtime
