// Runs another CNI plugin (a delegated IPAM plugin such as host-local) the way the spec says: found
// on CNI_PATH, same environment with CNI_COMMAND set, the network config on stdin, the result or
// error on stdout.
#pragma once

#include <string>

#include "cni/env.h"
#include "cni/errors.h"

namespace podnet::cni {

// Returns the plugin's stdout on success; its own CNI error (code kept) on failure, or
// kDelegateFailed when it failed without one.
CniResult<std::string> exec_plugin(const std::string& type, const std::string& command, const Env& env,
                                   const std::string& stdin_json);

}  // namespace podnet::cni
