// `podnet supervise --state-dir DIR --daemon NAME [--netns PATH] [--adopt] -- COMMAND...`: one daemon
// of the cluster in DIR kept running (cluster/supervisor.h). `podnet up` starts it; a person only
// needs it to read what it logs into the daemon's log.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "cli/cluster_cmds.h"
#include "cluster/supervisor.h"

namespace podnet::cli {

int run_supervise(const SuperviseFlags& flags) {
  namespace fs = std::filesystem;
  std::string dir = fs::absolute(flags.state_dir).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  auto record = cluster::load_record(dir);
  if (!record || !*record) {
    spdlog::error("supervise: no cluster in {}{}", dir, record ? "" : ": " + record.error().message());
    return 2;
  }
  (*record)->state_dir = dir;
  cluster::Layout layout(**record);
  auto daemons = layout.daemons();
  if (std::find(daemons.begin(), daemons.end(), flags.daemon) == daemons.end()) {
    spdlog::error("supervise: the cluster in {} has no daemon \"{}\"", dir, flags.daemon);
    return 2;
  }
  for (int ms :
       {flags.restart_delay_ms, flags.max_restart_delay_ms, flags.healthy_after_ms, flags.stop_grace_ms})
    if (ms <= 0) {
      spdlog::error("supervise: durations must be positive");
      return 2;
    }
  cluster::SuperviseOptions opts;
  opts.daemon = flags.daemon;
  opts.argv = flags.command;
  opts.netns_path = flags.netns;
  opts.adopt = flags.adopt;
  opts.policy.initial_delay = std::chrono::milliseconds(flags.restart_delay_ms);
  opts.policy.max_delay =
      std::chrono::milliseconds(std::max(flags.max_restart_delay_ms, flags.restart_delay_ms));
  opts.policy.healthy_after = std::chrono::milliseconds(flags.healthy_after_ms);
  opts.stop_grace = std::chrono::milliseconds(flags.stop_grace_ms);
  return cluster::supervise(layout, opts);
}

}  // namespace podnet::cli
