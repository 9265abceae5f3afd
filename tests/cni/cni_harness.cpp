#include "cni/cni_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace podnet::testing {

boost::json::value PluginRun::json() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(out, ec);
  return ec ? boost::json::value{} : v;
}

uint32_t PluginRun::error_code() const {
  auto v = json();
  if (!v.is_object() || !v.as_object().contains("code")) return 0;
  return static_cast<uint32_t>(v.as_object().at("code").to_number<int64_t>());
}

runtime::CniProcess start_plugin(const std::string& binary, int node_netns_fd, const CniCall& call,
                                 const std::string& stdin_json) {
  runtime::CniRequest req{binary,    call.command, call.container_id, call.netns,   call.ifname,
                          call.args, call.path,    stdin_json,        node_netns_fd};
  auto p = runtime::start_cni(req);
  return p ? std::move(*p) : runtime::CniProcess{};
}

PluginRun wait_plugin(runtime::CniProcess& proc) {
  if (proc.pid < 0) return {};
  auto r = runtime::wait_cni(proc);
  return r ? PluginRun{r->exit_code, r->out} : PluginRun{};
}

PluginRun run_plugin(const std::string& binary, int node_netns_fd, const CniCall& call,
                     const std::string& stdin_json) {
  auto proc = start_plugin(binary, node_netns_fd, call, stdin_json);
  return wait_plugin(proc);
}

Shell sh(const std::string& cmd) {
  Shell r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

Shell in_ns(const std::string& ns_name, const std::string& cmd) {
  std::string quoted = "'";
  for (char c : cmd) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  return sh("ip netns exec " + ns_name + " sh -c " + quoted);
}

std::string podnet_cni_binary() {
  return std::string(PODNET_BINARY_DIR) + "/podnet-cni";
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file()) out.push_back(e.path().filename().string());
  return out;
}

bool socat_available() {
  return sh("command -v socat >/dev/null 2>&1").status == 0;
}

}  // namespace podnet::testing
