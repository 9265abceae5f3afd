// The `podnet` plugin: a drop-in for the reference bridge plugin. ADD connects a container's
// namespace to a node bridge with a veth pair, gives it addresses from IPAM (built in or
// delegated), routes, optional gateway on the bridge, masquerade and hostPort mappings; DEL, CHECK,
// GC and STATUS complete the spec's lifecycle. A failed ADD undoes everything it did.
#pragma once

#include <string>

#include "cni/config.h"
#include "cni/env.h"
#include "cni/errors.h"

namespace podnet::cni {

// Each returns what goes to stdout on success (possibly empty).
CniResult<std::string> cmd_add(const Env& env, const NetConf& conf);
CniResult<std::string> cmd_del(const Env& env, const NetConf& conf);
CniResult<std::string> cmd_check(const Env& env, const NetConf& conf);
CniResult<std::string> cmd_gc(const Env& env, const NetConf& conf);
CniResult<std::string> cmd_status(const Env& env, const NetConf& conf);

// Entry point of the podnet-cni binary: parses env and stdin, dispatches, and fills `out` with the
// result or the spec's error JSON. Returns the process exit code.
int run_plugin(const EnvMap& env, std::string_view stdin_json, std::string& out);

}  // namespace podnet::cni
