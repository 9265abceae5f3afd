// `podnet supervise` through the real binary, with small shell scripts as daemons (no root needed:
// no namespace is entered): restart with growing delays, a clean exit left alone, SIGTERM
// forwarded, the pid file and report kept current, escalation to SIGKILL, taking over a running
// daemon, and never signalling a process it did not start.
#include "cluster/supervisor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <sstream>
#include <thread>

#include "cluster/processes.h"
#include "common/files.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace podnet::cluster {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class Supervise : public ::testing::Test {
 protected:
  Supervise() {
    ClusterSpec spec;
    spec.state_dir = dir_.path();
    spec.cid = "3f2a";
    spec.underlay = parse_prefix("192.168.213.0/24").value();
    spec.nodes = 1;
    layout_.emplace(spec);
    EXPECT_TRUE(write_record_exclusive(*layout_));
    for (const auto& d : {layout_->logs_dir(), layout_->pids_dir(), layout_->supervise_dir()})
      EXPECT_TRUE(make_dirs(d));
  }
  ~Supervise() override {
    // Whatever a failed test left: the supervisor, then its daemon (both name the temp dir).
    for (const auto& f : {layout_->supervisor_pid_path("server"), layout_->pid_path("server")})
      if (pid_t pid = live_pid_from_file(f, dir_.path()); pid > 0) stop_processes({pid}, 0ms);
    if (supervisor_ > 0) stop_processes({supervisor_}, 0ms);
  }

  // `podnet supervise` for the daemon "server" running `script` (sh -c), with short delays.
  pid_t start(const std::string& script, std::vector<std::string> flags = {}) {
    std::vector<std::string> argv{testing::podnet_bin(),
                                  "supervise",
                                  "--state-dir",
                                  dir_.path(),
                                  "--daemon",
                                  "server",
                                  "--restart-delay-ms",
                                  "100",
                                  "--max-restart-delay-ms",
                                  "400"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    // The state dir as $0 puts it in the daemon's command line, as a real daemon's flags do.
    argv.insert(argv.end(), {"--", "/bin/sh", "-c", script, dir_.path()});
    DaemonSpec d{argv, "", layout_->log_path("server"), layout_->supervisor_pid_path("server")};
    auto pid = spawn_daemon(d);
    EXPECT_TRUE(pid) << pid.error().message();
    supervisor_ = pid.value_or(0);
    return supervisor_;
  }
  // A script line that appends its start time (ns) to the runs file.
  std::string record_run() const { return "date +%s%N >> " + dir_.path() + "/runs; "; }
  std::vector<int64_t> runs() const {
    std::vector<int64_t> out;
    std::istringstream in(read_file(dir_.path() + "/runs").value_or(""));
    for (int64_t t; in >> t;) out.push_back(t);
    return out;
  }
  std::optional<SupervisorReport> report() const {
    auto r = load_report(layout_->supervisor_report_path("server"));
    return r ? *r : std::nullopt;
  }
  pid_t daemon_pid() const { return read_pid_file(layout_->pid_path("server")).value_or(0); }
  std::string log() const { return read_file(layout_->log_path("server")).value_or(""); }

  template <class F>
  bool eventually(F done, std::chrono::milliseconds limit = 10s) {
    for (auto deadline = Clock::now() + limit; !done(); std::this_thread::sleep_for(10ms))
      if (Clock::now() > deadline) return false;
    return true;
  }
  // The supervisor's exit code once it ended by itself; -1 if it did not within `limit`.
  int exit_code(pid_t pid, std::chrono::milliseconds limit = 10s) {
    int status = 0;
    if (!eventually([&] { return probe(pid, &status) == ProcState::kExited; }, limit)) return -1;
    supervisor_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  testing::TempDir dir_{"pn-supervise"};
  std::optional<Layout> layout_;
  pid_t supervisor_ = 0;
};

TEST_F(Supervise, RestartsAFailingDaemonWithGrowingDelaysUpToTheCap) {
  pid_t sup = start(record_run() + "exit 3");
  ASSERT_TRUE(eventually([&] { return runs().size() >= 6; })) << log();
  auto t = runs();
  // Delays 100, 200, 400, 400, 400 ms: never earlier, and capped (a generous upper bound: the VM
  // is noisy, but without the cap the fifth would wait 1.6 s).
  const int64_t want_ms[] = {100, 200, 400, 400, 400};
  for (size_t i = 0; i < 5; ++i) {
    int64_t gap_ms = (t[i + 1] - t[i]) / 1000000;
    EXPECT_GE(gap_ms, want_ms[i]) << "restart " << i + 1;
    EXPECT_LT(gap_ms, want_ms[i] + 1000) << "restart " << i + 1;
  }
  auto r = report();
  ASSERT_TRUE(r);
  EXPECT_GE(r->restarts, 5);
  EXPECT_GE(r->consecutive_failures, 5);
  ASSERT_TRUE(r->last_exit);
  EXPECT_EQ(r->last_exit->status.code, 3);
  EXPECT_NE(log().find("ended (exit code 3)"), std::string::npos) << log();
  EXPECT_NE(log().find("restart 3 in 0.4s (failure 3 in a row)"), std::string::npos) << log();

  // Stopping during the backoff: it ends at once and starts nothing more.
  ASSERT_EQ(::kill(sup, SIGTERM), 0);
  EXPECT_EQ(exit_code(sup), 0);
  size_t n = runs().size();
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(runs().size(), n);
  ASSERT_TRUE(report());
  EXPECT_EQ(report()->state, SupervisorReport::State::kStopped);
}

TEST_F(Supervise, ACrashLoopBacksOffAndAHealthyRunResetsTheBackoff) {
  // Fails fast three times, then runs 600 ms (healthy after 500) and fails again: that failure is
  // the first of a new series, restarted after the initial delay. The last run loops in the shell,
  // not `exec sleep`, so its command line keeps naming the temp dir and the cleanup finds it.
  std::string script =
      record_run() + "n=$(wc -l < " + dir_.path() +
      "/runs); if [ $n -eq 4 ]; then sleep 0.6; exit 1; fi; if [ $n -ge 5 ]; then while :; do sleep 0.05; "
      "done; fi; exit 1";
  start(script, {"--healthy-after-ms", "500"});
  ASSERT_TRUE(eventually([&] {
    return report() && report()->state == SupervisorReport::State::kBackoff && report()->crash_looping();
  })) << log();
  ASSERT_TRUE(eventually([&] { return runs().size() >= 5; })) << log();
  EXPECT_NE(log().find("restart 4 in 0.1s (failure 1 in a row)"), std::string::npos) << log();
  ASSERT_TRUE(eventually([&] { return report() && report()->state == SupervisorReport::State::kRunning; }));
  EXPECT_EQ(report()->consecutive_failures, 1);
  EXPECT_EQ(report()->restarts, 4);
}

TEST_F(Supervise, ACleanExitIsNotRestarted) {
  pid_t sup = start(record_run() + "exit 0");
  EXPECT_EQ(exit_code(sup), 0);
  EXPECT_EQ(runs().size(), 1u);
  auto r = report();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->state, SupervisorReport::State::kStopped);
  ASSERT_TRUE(r->last_exit);
  EXPECT_EQ(r->last_exit->status.code, 0);
  EXPECT_FALSE(read_pid_file(layout_->pid_path("server"))) << "the pid file outlived the daemon";
  EXPECT_NE(log().find("a clean exit is not restarted"), std::string::npos) << log();
}

TEST_F(Supervise, KeepsThePidFileAndForwardsSigterm) {
  const std::string marker = dir_.path() + "/got-term";
  // Each run records itself once its trap is set, and the test acts only then.
  pid_t sup =
      start("trap 'touch " + marker + "; exit 0' TERM; " + record_run() + "while :; do sleep 0.05; done");
  ASSERT_TRUE(eventually([&] { return daemon_pid() > 0 && runs().size() == 1; }));
  pid_t first = daemon_pid();
  EXPECT_NE(first, sup);
  EXPECT_TRUE(cmdline_contains(first, dir_.path()));
  ASSERT_TRUE(eventually([&] { return report() && report()->pid == first; }));

  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return daemon_pid() > 0 && daemon_pid() != first; })) << log();
  pid_t second = daemon_pid();
  EXPECT_EQ(probe(second), ProcState::kRunning);
  ASSERT_TRUE(eventually([&] { return report() && report()->pid == second && runs().size() == 2; }));
  auto r = report();
  EXPECT_EQ(r->restarts, 1);
  ASSERT_TRUE(r->last_exit);
  EXPECT_EQ(r->last_exit->status.describe(), "signal 9 (SIGKILL)");

  ASSERT_EQ(::kill(sup, SIGTERM), 0);
  EXPECT_EQ(exit_code(sup), 0);
  EXPECT_TRUE(std::filesystem::exists(marker)) << "the daemon did not get SIGTERM";
  EXPECT_NE(probe(second), ProcState::kRunning);
  EXPECT_FALSE(read_pid_file(layout_->pid_path("server")));
  EXPECT_EQ(runs().size(), 2u);
}

TEST_F(Supervise, ADaemonIgnoringSigtermIsKilledAfterTheGrace) {
  pid_t sup = start("trap '' TERM; echo ready; while :; do sleep 0.05; done", {"--stop-grace-ms", "300"});
  ASSERT_TRUE(eventually([&] { return log().find("ready") != std::string::npos; }));
  pid_t daemon = daemon_pid();
  auto begin = Clock::now();
  ASSERT_EQ(::kill(sup, SIGTERM), 0);
  EXPECT_EQ(exit_code(sup), 0);
  EXPECT_GE(Clock::now() - begin, 300ms);
  EXPECT_NE(probe(daemon), ProcState::kRunning);
  EXPECT_NE(log().find("SIGKILL"), std::string::npos) << log();
}

TEST_F(Supervise, TakesOverARunningDaemonAndRestartsItWhenItEnds) {
  // A daemon left by a supervisor that was killed: running, under the pid file.
  DaemonSpec orphan{{"/bin/sh", "-c", "while :; do sleep 0.05; done", dir_.path()},
                    "",
                    layout_->log_path("server"),
                    layout_->pid_path("server")};
  auto adopted = spawn_daemon(orphan);
  ASSERT_TRUE(adopted);
  pid_t sup = start(record_run() + "while :; do sleep 0.05; done", {"--adopt"});
  ASSERT_TRUE(eventually([&] { return report() && report()->pid == *adopted; })) << log();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(runs().empty()) << "started a second daemon";
  EXPECT_EQ(probe(*adopted), ProcState::kRunning);

  ASSERT_EQ(::kill(*adopted, SIGKILL), 0);
  // The supervisor writes the new daemon's pid file before its report: wait for both.
  ASSERT_TRUE(eventually([&] {
    auto rep = report();
    return runs().size() == 1 && daemon_pid() != *adopted && daemon_pid() > 0 && rep && rep->restarts == 1;
  })) << log();
  (void)probe(*adopted);  // reap: the test, not the supervisor, is its parent
  auto r = report();
  ASSERT_TRUE(r && r->last_exit);
  EXPECT_EQ(r->last_exit->status.describe(), "status unknown");
  EXPECT_EQ(r->restarts, 1);
  ASSERT_EQ(::kill(sup, SIGTERM), 0);
  EXPECT_EQ(exit_code(sup), 0);
}

TEST_F(Supervise, NeverSignalsAProcessItDidNotStart) {
  // The pid file names a live process that is not the cluster's (a reused pid): no takeover, no
  // signal to it, a daemon of its own instead.
  auto stranger = spawn_daemon({{"/bin/sh", "-c", "while :; do sleep 0.05; done"},
                                "",
                                dir_.path() + "/stranger.log",
                                layout_->pid_path("server")});
  ASSERT_TRUE(stranger);
  pid_t sup = start(record_run() + "while :; do sleep 0.05; done", {"--adopt"});
  ASSERT_TRUE(eventually([&] { return runs().size() == 1 && daemon_pid() != *stranger; })) << log();
  ASSERT_EQ(::kill(sup, SIGTERM), 0);
  EXPECT_EQ(exit_code(sup), 0);
  EXPECT_EQ(probe(*stranger), ProcState::kRunning);
  stop_processes({*stranger}, 0ms);
}

TEST_F(Supervise, ADaemonThatCannotStartIsRetried) {
  pid_t sup = start("exit 0", {"--netns", dir_.path() + "/no-such-netns"});
  ASSERT_TRUE(eventually([&] { return report() && report()->restarts >= 2; })) << log();
  auto r = report();
  ASSERT_TRUE(r->last_exit);
  EXPECT_NE(r->last_exit->status.describe().find("could not start: open netns"), std::string::npos)
      << r->last_exit->status.describe();
  ASSERT_EQ(::kill(sup, SIGTERM), 0);
  EXPECT_EQ(exit_code(sup), 0);
}

TEST_F(Supervise, RefusesAnUnknownDaemonOrStateDir) {
  auto r = testing::shell(testing::podnet_bin() + " supervise --state-dir " + dir_.path() +
                          " --daemon ../../etc -- /bin/true");
  EXPECT_EQ(r.rc, 2) << r.out;
  r = testing::shell(testing::podnet_bin() + " supervise --state-dir " + dir_.path() +
                     "/nothing --daemon server -- /bin/true");
  EXPECT_EQ(r.rc, 2) << r.out;
}

}  // namespace
}  // namespace podnet::cluster
