// Starting, finding and stopping a cluster's processes, with real processes (no root needed: the
// namespace used is the test's own).
#include "cluster/processes.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "common/files.h"
#include "support/temp_dir.h"

namespace podnet::cluster {
namespace {

using namespace std::chrono_literals;

TEST(Processes, DaemonRunsDetachedWithLogAndPidFile) {
  testing::TempDir dir("pn-proc");
  DaemonSpec d{{"/bin/sh", "-c", "echo started; echo oops >&2; exec sleep 30"},
               "",
               dir.path() + "/d.log",
               dir.path() + "/d.pid"};
  auto pid = spawn_daemon(d);
  ASSERT_TRUE(pid) << pid.error().message();
  auto recorded = read_pid_file(d.pid_path);
  ASSERT_TRUE(recorded);
  EXPECT_EQ(*recorded, *pid);
  EXPECT_EQ(::getsid(*pid), *pid) << "not in its own session";
  EXPECT_EQ(probe(*pid), ProcState::kRunning);
  for (int i = 0; i < 100 && tail_file(d.log_path, 2) != "started\noops\n"; ++i) ::usleep(10000);
  EXPECT_EQ(tail_file(d.log_path, 2), "started\noops\n");
  EXPECT_EQ(tail_file(d.log_path, 1), "oops\n");
  // The shell prints before it execs sleep: the command line changes a moment later.
  for (int i = 0; i < 100 && !cmdline_contains(*pid, "sleep 30"); ++i) ::usleep(10000);
  EXPECT_TRUE(cmdline_contains(*pid, "sleep 30"));

  auto own = netns_id("/proc/self/ns/net");
  ASSERT_TRUE(own);
  auto members = pids_in_netns({*own});
  EXPECT_NE(std::find(members.begin(), members.end(), *pid), members.end());
  EXPECT_EQ(std::find(members.begin(), members.end(), ::getpid()), members.end()) << "lists itself";

  stop_processes({*pid}, 2s);
  EXPECT_NE(probe(*pid), ProcState::kRunning);
}

TEST(Processes, StopEscalatesToSigkill) {
  testing::TempDir dir("pn-proc");
  DaemonSpec d{{"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"},
               "",
               dir.path() + "/d.log",
               dir.path() + "/d.pid"};
  auto pid = spawn_daemon(d);
  ASSERT_TRUE(pid);
  for (int i = 0; i < 100 && tail_file(d.log_path, 1) != "ready\n"; ++i) ::usleep(10000);
  auto start = std::chrono::steady_clock::now();
  stop_processes({*pid}, 200ms);
  EXPECT_NE(probe(*pid), ProcState::kRunning);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST(Processes, ExecFailureIsReported) {
  testing::TempDir dir("pn-proc");
  DaemonSpec d{{"/nonexistent/podnet"}, "", dir.path() + "/d.log", dir.path() + "/d.pid"};
  auto pid = spawn_daemon(d);
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().code, ENOENT);
  EXPECT_NE(pid.error().context.find("exec /nonexistent/podnet"), std::string::npos) << pid.error().message();
  EXPECT_FALSE(read_pid_file(d.pid_path));
}

TEST(Processes, RunAndCaptureCommands) {
  testing::TempDir dir("pn-proc");
  auto rc = run_command({"/bin/sh", "-c", "echo to-log; exit 3"}, dir.path() + "/c.log");
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 3);
  EXPECT_EQ(read_file(dir.path() + "/c.log").value_or(""), "to-log\n");
  auto out = capture_command({"/bin/sh", "-c", "echo out; echo err >&2"});
  ASSERT_TRUE(out);
  EXPECT_EQ(out->first, 0);
  EXPECT_EQ(out->second, "out\n");
}

TEST(Processes, ProbeSeesExitOfOwnChildAndAbsentPids) {
  testing::TempDir dir("pn-proc");
  DaemonSpec d{{"/bin/sh", "-c", "exit 5"}, "", dir.path() + "/d.log", dir.path() + "/d.pid"};
  auto pid = spawn_daemon(d);
  ASSERT_TRUE(pid);
  int status = 0;
  ProcState st = ProcState::kRunning;
  for (int i = 0; i < 200 && st == ProcState::kRunning; ++i) {
    st = probe(*pid, &status);
    if (st == ProcState::kRunning) ::usleep(10000);
  }
  EXPECT_EQ(st, ProcState::kExited);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 5);
  EXPECT_EQ(probe(*pid), ProcState::kAbsent);
}

}  // namespace
}  // namespace podnet::cluster
