#include "cni/env.h"

#include <unistd.h>

namespace podnet::cni {

EnvMap current_environment() {
  EnvMap out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

CniResult<Env> parse_env(const EnvMap& env) {
  auto get = [&](const char* k) -> std::string {
    auto it = env.find(k);
    return it == env.end() ? std::string{} : it->second;
  };
  Env out;
  out.all = env;
  std::string cmd = get("CNI_COMMAND");
  std::vector<std::string> required;
  if (cmd == "ADD" || cmd == "CHECK") {
    out.command = cmd == "ADD" ? Command::kAdd : Command::kCheck;
    required = {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"};
  } else if (cmd == "DEL") {
    out.command = Command::kDel;
    required = {"CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"};
  } else if (cmd == "VERSION") {
    out.command = Command::kVersion;
  } else if (cmd == "STATUS" || cmd == "GC") {
    out.command = cmd == "GC" ? Command::kGc : Command::kStatus;
    required = {"CNI_PATH"};
  } else if (cmd.empty()) {
    return cni_fail(kInvalidEnvironment, "required env variables [CNI_COMMAND] missing");
  } else {
    return cni_fail(kInvalidEnvironment, "unknown CNI_COMMAND: " + cmd);
  }
  std::string missing;
  for (const auto& k : required) {
    if (get(k.c_str()).empty()) missing += (missing.empty() ? "" : ",") + k;
  }
  if (!missing.empty())
    return cni_fail(kInvalidEnvironment, "required env variables [" + missing + "] missing");
  out.container_id = get("CNI_CONTAINERID");
  out.netns = get("CNI_NETNS");
  out.ifname = get("CNI_IFNAME");
  out.path = get("CNI_PATH");
  out.args = get("CNI_ARGS");
  if (out.ifname.size() > 15)
    return cni_fail(kInvalidEnvironment, "CNI_IFNAME \"" + out.ifname + "\" is longer than 15 characters");
  if (out.ifname.find_first_of("/ :") != std::string::npos || out.ifname == "." || out.ifname == "..")
    return cni_fail(kInvalidEnvironment, "CNI_IFNAME \"" + out.ifname + "\" is not a valid interface name");
  return out;
}

CniResult<std::vector<std::pair<std::string, std::string>>> parse_cni_args(const std::string& args) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < args.size()) {
    auto end = args.find(';', pos);
    if (end == std::string::npos) end = args.size();
    std::string pair = args.substr(pos, end - pos);
    pos = end + 1;
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
      return cni_fail(kInvalidEnvironment, "CNI_ARGS: invalid pair \"" + pair + "\"");
    out.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
  }
  return out;
}

}  // namespace podnet::cni
