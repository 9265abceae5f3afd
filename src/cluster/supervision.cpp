#include "cluster/supervision.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <boost/json.hpp>

#include "cluster/processes.h"
#include "common/files.h"

namespace podnet::cluster {
namespace {

namespace json = boost::json;

const char* state_name(SupervisorReport::State s) {
  switch (s) {
    case SupervisorReport::State::kRunning:
      return "running";
    case SupervisorReport::State::kBackoff:
      return "backoff";
    default:
      return "stopped";
  }
}

std::optional<SupervisorReport::State> state_from_name(std::string_view name) {
  if (name == "running") return SupervisorReport::State::kRunning;
  if (name == "backoff") return SupervisorReport::State::kBackoff;
  if (name == "stopped") return SupervisorReport::State::kStopped;
  return std::nullopt;
}

// Integer fields of a report: absent is 0; anything but an integer in range is refused.
Result<int64_t> integer(const json::object& o, const char* key, int64_t max = INT64_MAX) {
  const auto* f = o.if_contains(key);
  if (!f) return 0;
  if (!f->is_int64() || f->as_int64() < 0 || f->as_int64() > max)
    return fail_msg(std::string("supervisor report: \"") + key + "\" is not a count");
  return f->as_int64();
}

}  // namespace

std::chrono::milliseconds RestartPolicy::delay(int consecutive_failures) const {
  auto d = initial_delay;
  for (int i = 1; i < consecutive_failures && d < max_delay; ++i) d *= 2;
  return std::min(d, max_delay);
}

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus e;
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

bool ExitStatus::clean() const {
  if (!error.empty()) return false;
  if (code == 0) return true;
  return signal == SIGHUP || signal == SIGINT || signal == SIGTERM || signal == SIGPIPE;
}

std::string ExitStatus::describe() const {
  if (!error.empty()) return error;
  if (code >= 0) return "exit code " + std::to_string(code);
  if (signal > 0) {
    const char* abbrev = ::sigabbrev_np(signal);
    return "signal " + std::to_string(signal) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
  }
  return "status unknown";
}

std::string to_json(const SupervisorReport& r) {
  json::object o{{"state", state_name(r.state)},
                 {"pid", r.pid},
                 {"restarts", r.restarts},
                 {"consecutiveFailures", r.consecutive_failures},
                 {"startedUnixMs", r.started_unix_ms},
                 {"nextStartUnixMs", r.next_start_unix_ms}};
  if (r.last_exit) {
    json::object e{{"atUnixMs", r.last_exit->at_unix_ms}, {"ranMs", r.last_exit->ran_ms}};
    if (r.last_exit->status.code >= 0) e["code"] = r.last_exit->status.code;
    if (r.last_exit->status.signal > 0) e["signal"] = r.last_exit->status.signal;
    if (!r.last_exit->status.error.empty()) e["error"] = r.last_exit->status.error;
    o["lastExit"] = std::move(e);
  }
  return json::serialize(o) + "\n";
}

Result<SupervisorReport> report_from_json(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options limits;
  limits.max_depth = 4;
  auto v = json::parse(text, ec, {}, limits);
  if (ec || !v.is_object()) return fail_msg("supervisor report: not a JSON object");
  const auto& o = v.as_object();
  SupervisorReport r;
  const auto* state = o.if_contains("state");
  auto parsed = state && state->is_string() ? state_from_name(state->as_string()) : std::nullopt;
  if (!parsed) return fail_msg("supervisor report: no valid \"state\"");
  r.state = *parsed;
  PODNET_TRY(pid, integer(o, "pid", INT32_MAX));
  PODNET_TRY(restarts, integer(o, "restarts", INT32_MAX));
  PODNET_TRY(failures, integer(o, "consecutiveFailures", INT32_MAX));
  PODNET_TRY(started, integer(o, "startedUnixMs"));
  PODNET_TRY(next, integer(o, "nextStartUnixMs"));
  r.pid = static_cast<pid_t>(pid);
  r.restarts = static_cast<int>(restarts);
  r.consecutive_failures = static_cast<int>(failures);
  r.started_unix_ms = started;
  r.next_start_unix_ms = next;
  if (const auto* e = o.if_contains("lastExit")) {
    if (!e->is_object()) return fail_msg("supervisor report: \"lastExit\" is not an object");
    const auto& eo = e->as_object();
    SupervisorReport::LastExit last;
    PODNET_TRY(at, integer(eo, "atUnixMs"));
    PODNET_TRY(ran, integer(eo, "ranMs"));
    last.at_unix_ms = at;
    last.ran_ms = ran;
    if (eo.contains("code")) {
      PODNET_TRY(code, integer(eo, "code", 255));
      last.status.code = static_cast<int>(code);
    }
    PODNET_TRY(signal, integer(eo, "signal", 127));
    last.status.signal = static_cast<int>(signal);
    if (const auto* err = eo.if_contains("error")) {
      if (!err->is_string()) return fail_msg("supervisor report: \"error\" is not a string");
      last.status.error = std::string(err->as_string());
    }
    r.last_exit = std::move(last);
  }
  return r;
}

Result<std::optional<SupervisorReport>> load_report(const std::string& path) {
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ENOENT) return std::optional<SupervisorReport>{};
    return std::unexpected(text.error());
  }
  auto report = report_from_json(*text);
  if (!report) return std::unexpected(wrap(report.error(), path));
  return std::optional<SupervisorReport>(std::move(*report));
}

pid_t live_pid_from_file(const std::string& pid_file, const std::string& state_dir) {
  auto pid = read_pid_file(pid_file);
  if (pid && probe(*pid) == ProcState::kRunning && cmdline_contains(*pid, state_dir)) return *pid;
  return 0;
}

DaemonObservation observe_daemon(const Layout& layout, const std::string& daemon) {
  const std::string& dir = layout.spec().state_dir;
  DaemonObservation o;
  o.name = daemon;
  o.supervisor = live_pid_from_file(layout.supervisor_pid_path(daemon), dir);
  o.recorded_pid = read_pid_file(layout.pid_path(daemon)).value_or(0);
  o.pid = live_pid_from_file(layout.pid_path(daemon), dir);
  if (auto report = load_report(layout.supervisor_report_path(daemon)); report) o.report = *report;
  return o;
}

std::vector<DaemonObservation> observe_daemons(const Layout& layout) {
  std::vector<DaemonObservation> out;
  for (const auto& d : layout.daemons()) out.push_back(observe_daemon(layout, d));
  return out;
}

int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace podnet::cluster
