// How the daemons of a `podnet up` cluster are kept running, as data: the restart policy (systemd's
// Restart=on-failure with kubelet-style exponential backoff), the report `podnet supervise` keeps
// of its daemon, and what `up`, `status` and `down` observe of each daemon from its pid files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/layout.h"
#include "common/error.h"

namespace podnet::cluster {

struct RestartPolicy {
  std::chrono::milliseconds initial_delay{1000};
  std::chrono::milliseconds max_delay{30000};
  // A run at least this long resets the backoff (kubelet: twice its cap).
  std::chrono::milliseconds healthy_after{60000};

  // The wait before the next start after `consecutive_failures` (>= 1) failed runs in a row:
  // initial_delay doubling up to max_delay.
  std::chrono::milliseconds delay(int consecutive_failures) const;
};

// How a run ended: an exit code, a signal, or unknown (a daemon adopted from an earlier supervisor
// is not our child, so its status cannot be collected), or it never started (`error` says why).
struct ExitStatus {
  int code = -1;   // >= 0 when it exited
  int signal = 0;  // > 0 when a signal ended it
  std::string error;

  static ExitStatus from_wait_status(int status);
  // Exit code 0 or the signals systemd counts as clean (SIGHUP, SIGINT, SIGTERM, SIGPIPE): the
  // daemon was asked to stop, so Restart=on-failure leaves it stopped.
  bool clean() const;
  std::string describe() const;  // "exit code 2", "signal 9 (SIGKILL)", "status unknown", the error
};

// What `podnet supervise` writes after every change to STATE/supervise/<daemon>.json.
struct SupervisorReport {
  enum class State { kRunning, kBackoff, kStopped };
  State state = State::kStopped;
  pid_t pid = 0;                   // the daemon's while running, else 0
  int restarts = 0;                // starts after the first, over the supervisor's lifetimes
  int consecutive_failures = 0;    // failed runs since the last healthy one
  int64_t started_unix_ms = 0;     // of the current (or last) run
  int64_t next_start_unix_ms = 0;  // in kBackoff
  struct LastExit {
    ExitStatus status;
    int64_t at_unix_ms = 0;
    int64_t ran_ms = 0;
  };
  std::optional<LastExit> last_exit;

  // kBackoff after more than one failure in a row is a crash loop.
  bool crash_looping() const { return state == State::kBackoff && consecutive_failures > 1; }
};

std::string to_json(const SupervisorReport& report);
// Tolerates absent fields (an older writer); refuses what is not a report.
Result<SupervisorReport> report_from_json(std::string_view text);
// The report in `path`; nullopt when there is none.
Result<std::optional<SupervisorReport>> load_report(const std::string& path);

// One daemon as seen from outside: its supervisor and itself, each only when alive and named after
// the cluster's state dir (pid files outlive their processes, and pids are reused).
struct DaemonObservation {
  std::string name;
  pid_t supervisor = 0;    // alive, else 0
  pid_t pid = 0;           // alive, else 0
  pid_t recorded_pid = 0;  // the pid file's, alive or not
  std::optional<SupervisorReport> report;

  bool supervised() const { return supervisor > 0; }
  bool running() const { return pid > 0; }
};
DaemonObservation observe_daemon(const Layout& layout, const std::string& daemon);
std::vector<DaemonObservation> observe_daemons(const Layout& layout);

// A live process whose command line names `state_dir` (see cmdline_contains), else 0.
pid_t live_pid_from_file(const std::string& pid_file, const std::string& state_dir);

int64_t unix_now_ms();

}  // namespace podnet::cluster
