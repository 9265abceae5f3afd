// podnet-cni's environment: CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH and
// CNI_ARGS as a runtime sets them. Input: NAME=value lines (the first '=' splits); CNI_ARGS is then
// also applied to a valid config, as ADD does.
#include "cni/config.h"
#include "cni/env.h"
#include "fuzz_target.h"

using namespace podnet::cni;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  std::string_view text = podnet::fuzz::as_text(data, size);
  EnvMap env;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  (void)parse_env(env);
  auto args = env.find("CNI_ARGS");
  if (args == env.end()) return 0;
  (void)parse_cni_args(args->second);
  static const auto base = parse_netconf(R"({"cniVersion": "1.1.0", "name": "pn", "type": "podnet",
      "ipam": {"type": "podnet", "ranges": [[{"subnet": "10.244.1.0/24"}], [{"subnet": "fd00::/64"}]]}})");
  if (!base) __builtin_trap();  // the harness's own config must parse
  NetConf conf = *base;
  (void)apply_cni_args(conf, args->second);
  return 0;
}
