#include "runtime/cni_runner.h"

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>

#include "common/files.h"
#include "runtime/cni_exec.h"

namespace podnet::runtime {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::string get_str(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// Versions compare numerically: "0.4.0" < "1.0.0" < "1.1.0".
bool version_at_least(const std::string& v, int major, int minor) {
  int a = 0, b = 0;
  std::sscanf(v.c_str(), "%d.%d", &a, &b);
  return a > major || (a == major && b >= minor);
}

}  // namespace

Result<CniNetwork> load_cni_network(const std::string& path) {
  std::string file = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(path, ec)) {
      auto ext = e.path().extension().string();
      if (ext == ".conflist" || ext == ".conf" || ext == ".json") found.push_back(e.path().string());
    }
    if (found.empty()) return fail("no CNI config in " + path, ENOENT);
    file = *std::min_element(found.begin(), found.end());
  }
  PODNET_TRY(text, read_file(file));
  json::error_code jec;
  json::value v = json::parse(text, jec);
  if (jec || !v.is_object()) return fail_msg("CNI config " + file + ": not a JSON object");
  const auto& o = v.get_object();
  CniNetwork net;
  net.name = get_str(o, "name");
  net.cni_version = get_str(o, "cniVersion");
  if (const auto* plugins = o.if_contains("plugins")) {
    if (!plugins->is_array()) return fail_msg("CNI config " + file + ": plugins is not an array");
    for (const auto& p : plugins->get_array())
      if (p.is_object()) net.plugins.push_back(p.get_object());
  } else {
    net.plugins.push_back(o);
  }
  if (net.plugins.empty() || net.name.empty())
    return fail_msg("CNI config " + file + ": needs a name and at least one plugin");
  return net;
}

CniRunner::CniRunner(std::string podnet_cni, int node_netns_fd)
    : podnet_cni_(std::move(podnet_cni)),
      bin_dir_(fs::path(podnet_cni_).parent_path().string()),
      node_netns_fd_(node_netns_fd) {}

std::string CniRunner::binary_for(const std::string& type) const {
  return type == "podnet" ? podnet_cni_ : bin_dir_ + "/" + type;
}

Result<std::string> CniRunner::call(const std::string& command, const CniNetwork& net, const json::object& plugin,
                                    const CniAttachment& att, const json::value* prev, const json::value* extra,
                                    const std::string& extra_name) const {
  json::object conf = plugin;
  conf["name"] = net.name;
  conf["cniVersion"] = net.cni_version.empty() ? get_str(plugin, "cniVersion") : net.cni_version;
  if (prev && !prev->is_null()) conf["prevResult"] = *prev;
  if (extra) conf[extra_name] = *extra;
  // runtimeConfig carries only what the plugin declared among its capabilities.
  if (const auto* caps = plugin.if_contains("capabilities"); caps && caps->is_object()) {
    json::object rc;
    for (const auto& [k, v] : att.runtime_config)
      if (const auto* on = caps->get_object().if_contains(k); on && on->is_bool() && on->get_bool()) rc[k] = v;
    if (!rc.empty()) conf["runtimeConfig"] = std::move(rc);
  }
  std::string type = get_str(plugin, "type");
  CniRequest req{binary_for(type), command, att.container_id, att.netns, att.ifname, att.args, bin_dir_,
                 json::serialize(conf), node_netns_fd_};
  PODNET_TRY(out, exec_cni(req));
  if (out.exit_code != 0)
    return fail_msg("CNI " + command + " " + type + " for " + att.container_id + " (exit " +
                    std::to_string(out.exit_code) + "): " + out.out.substr(0, 500));
  return out.out;
}

Result<json::value> CniRunner::add(const CniNetwork& net, const CniAttachment& att) const {
  json::value prev;
  for (const auto& plugin : net.plugins) {
    PODNET_TRY(out, call("ADD", net, plugin, att, &prev, nullptr, ""));
    json::error_code ec;
    prev = json::parse(out, ec);
    if (ec || !prev.is_object()) return fail_msg("CNI ADD " + get_str(plugin, "type") + ": result is not JSON");
  }
  return prev;
}

Status CniRunner::del(const CniNetwork& net, const CniAttachment& att, const json::value& prev_result) const {
  Status first;
  for (auto it = net.plugins.rbegin(); it != net.plugins.rend(); ++it) {
    auto r = call("DEL", net, *it, att, &prev_result, nullptr, "");
    if (!r && first) first = std::unexpected(r.error());  // go on: later plugins still hold state
  }
  return first;
}

Status CniRunner::gc(const CniNetwork& net, const std::vector<CniAttachment>& valid) const {
  if (!version_at_least(net.cni_version, 1, 1)) return {};
  json::array list;
  for (const auto& a : valid) list.push_back(json::object{{"containerID", a.container_id}, {"ifname", a.ifname}});
  json::value attachments = std::move(list);
  Status first;
  for (const auto& plugin : net.plugins) {
    CniAttachment none;
    none.ifname.clear();
    auto r = call("GC", net, plugin, none, nullptr, &attachments, "cni.dev/valid-attachments");
    if (!r && first) first = std::unexpected(r.error());
  }
  return first;
}

std::vector<std::string> result_ips(const json::value& result) {
  std::vector<std::string> out;
  const auto* o = result.if_object();
  const auto* ips = o ? o->if_contains("ips") : nullptr;
  if (!ips || !ips->is_array()) return out;
  for (const auto& ip : ips->get_array()) {
    const auto* io = ip.if_object();
    if (!io) continue;
    std::string addr = get_str(*io, "address");
    if (auto slash = addr.find('/'); slash != std::string::npos) addr.resize(slash);
    if (!addr.empty()) out.push_back(addr);
  }
  return out;
}

}  // namespace podnet::runtime
