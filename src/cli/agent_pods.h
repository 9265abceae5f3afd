// The kubelet role plugged into `podnet agent --run-pods`: a PodRunner that runs the runtime
// module's PodManager over the agent's API client. The agent itself does not depend on src/runtime.
#pragma once

#include "agent/pod_runner.h"
#include "cli/agent_cmd.h"
#include "common/error.h"

namespace podnet::cli {

// Reads the log server's certificate, key and client CA now (agent_cmd.h's defaults), so a missing
// file stops the agent at start rather than leaving its pods unserved.
Result<agent::PodRunnerFactory> pod_manager_runner(const AgentFlags& flags);

}  // namespace podnet::cli
