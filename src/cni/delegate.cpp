#include "cni/delegate.h"

#include <unistd.h>

#include <boost/json.hpp>

#include "runtime/cni_exec.h"

namespace podnet::cni {
namespace {

std::string find_on_path(const std::string& type, const std::string& path) {
  size_t pos = 0;
  while (pos <= path.size()) {
    auto end = path.find(':', pos);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(pos, end - pos);
    pos = end + 1;
    if (dir.empty()) continue;
    std::string full = dir + "/" + type;
    if (::access(full.c_str(), X_OK) == 0) return full;
  }
  return {};
}

}  // namespace

CniResult<std::string> exec_plugin(const std::string& type, const std::string& command, const Env& env,
                                   const std::string& stdin_json) {
  std::string bin = find_on_path(type, env.path);
  if (bin.empty())
    return cni_fail(kInvalidConfig, "failed to find plugin \"" + type + "\" in path [" + env.path + "]");
  runtime::CniRequest req{bin,      command,  env.container_id, env.netns, env.ifname,
                          env.args, env.path, stdin_json,       -1};
  auto r = runtime::exec_cni(req);
  if (!r) return cni_fail(kDelegateFailed, wrap(r.error(), "delegate " + type));
  if (r->exit_code == 0) return std::move(r->out);

  boost::system::error_code ec;
  auto v = boost::json::parse(r->out, ec);
  if (!ec && v.is_object() && v.as_object().if_contains("code")) {
    const auto& o = v.as_object();
    CniError e;
    if (auto c = o.at("code").if_int64()) e.code = static_cast<uint32_t>(*c);
    if (auto* m = o.if_contains("msg"); m && m->is_string())
      e.msg = type + ": " + std::string(m->as_string());
    if (auto* d = o.if_contains("details"); d && d->is_string()) e.details = std::string(d->as_string());
    return std::unexpected(e);
  }
  return cni_fail(kDelegateFailed,
                  "delegate " + type + " " + command + " failed (exit " + std::to_string(r->exit_code) + ")",
                  r->out);
}

}  // namespace podnet::cni
