// The CNI_* environment a runtime passes to a plugin, parsed and checked per command.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cni/errors.h"

namespace podnet::cni {

enum class Command { kAdd, kDel, kCheck, kVersion, kStatus, kGc };

struct Env {
  Command command = Command::kVersion;
  std::string container_id;
  std::string netns;  // empty on DEL when the runtime no longer has one
  std::string ifname;
  std::string path;                        // CNI_PATH, colon separated
  std::string args;                        // CNI_ARGS, raw
  std::map<std::string, std::string> all;  // the whole environment, for delegating to another plugin
};

using EnvMap = std::map<std::string, std::string>;
EnvMap current_environment();

// Checks the variables the command needs; code 4 naming every missing one, like the spec's skel:
// "required env variables [CNI_NETNS,CNI_IFNAME] missing".
CniResult<Env> parse_env(const EnvMap& env);

// CNI_ARGS "K1=V1;K2=V2" into pairs; code 4 on a malformed pair.
CniResult<std::vector<std::pair<std::string, std::string>>> parse_cni_args(const std::string& args);

}  // namespace podnet::cni
