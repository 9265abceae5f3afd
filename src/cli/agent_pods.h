// The kubelet role plugged into `podnet agent --run-pods`: a PodRunner that runs the runtime
// module's PodManager over the agent's API client. The agent itself does not depend on src/runtime.
#pragma once

#include "agent/pod_runner.h"

namespace podnet::cli {

agent::PodRunnerFactory pod_manager_runner();

}  // namespace podnet::cli
