// Supervision of a `podnet up` cluster through the real binaries (root: namespaces, daemons): a
// daemon killed with kill -9 is back (an agent Ready again) within a bounded time and `status`
// counts the restart; an agent that cannot start shows a crash loop with growing delays and comes
// back once its cause is gone; `down` stops everything and nothing is restarted after; a killed
// supervisor is replaced by `up` without restarting its daemon. Each test brings up its own cluster.
#include <time.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/time.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

template <class F>
bool eventually(F done, std::chrono::seconds limit) {
  for (auto deadline = Clock::now() + limit; !done(); std::this_thread::sleep_for(100ms))
    if (Clock::now() > deadline) return false;
  return true;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The line of `podnet status`'s DAEMONS table for a daemon ("" when absent).
std::string daemon_row(const std::string& status, const std::string& daemon) {
  size_t table = status.find("\nDAEMONS");
  size_t at = table == std::string::npos ? table : status.find("\n  " + daemon + " ", table);
  if (at == std::string::npos) return "";
  return status.substr(at + 1, status.find('\n', at + 1) - at - 1);
}

// The Ready condition's last heartbeat of a node, in seconds since the epoch (0 if unknown).
time_t ready_heartbeat(const UpCluster& c, const std::string& node) {
  auto r = c.kubectl("get node " + node +
                     " -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].lastHeartbeatTime}'");
  std::string text = r.out;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  auto t = r.rc == 0 ? parse_rfc3339(text) : std::nullopt;
  return t ? std::chrono::system_clock::to_time_t(*t) : 0;
}

// True once the daemon runs under a pid other than `old`.
bool restarted(const UpCluster& c, const std::string& daemon, pid_t old) {
  pid_t now = c.daemon_pid(daemon);
  return now > 0 && now != old && cluster::probe(now) == cluster::ProcState::kRunning;
}

class Supervised : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
    auto up = c_.up(1);
    ASSERT_EQ(up.rc, 0) << up.out;
  }
  UpCluster c_;
};

TEST_F(Supervised, KilledAgentAndServerAreBackWithinBoundedTime) {
  const std::string agent = "agent-node1";
  pid_t old = c_.daemon_pid(agent);
  ASSERT_GT(old, 0);
  time_t killed_at = ::time(nullptr);
  auto t0 = Clock::now();
  ASSERT_EQ(::kill(old, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return restarted(c_, agent, old); }, 15s)) << c_.status().out;
  double back = seconds_since(t0);
  // Ready again: the new agent posted the node's status (it does once its network is up).
  ASSERT_TRUE(eventually([&] { return ready_heartbeat(c_, "node1") > killed_at; }, 30s)) << c_.status().out;
  double ready = seconds_since(t0);
  std::printf("agent kill -9: running again after %.2f s, node Ready (new heartbeat) after %.2f s\n", back,
              ready);
  auto st = c_.status();
  ASSERT_EQ(st.rc, 0) << st.out;
  std::string row = daemon_row(st.out, agent);
  EXPECT_NE(row.find("Running"), std::string::npos) << st.out;
  EXPECT_NE(row.find("  1  "), std::string::npos) << "restart count: " << row;
  EXPECT_NE(row.find("signal 9 (SIGKILL)"), std::string::npos) << row;
  EXPECT_NE(st.out.find("running (pid " + std::to_string(c_.daemon_pid(agent)) + "), 1 restart(s)"),
            std::string::npos)
      << st.out;

  // The API server too, with its data.
  ASSERT_EQ(c_.kubectl("create namespace keep-me").rc, 0);
  pid_t server = c_.daemon_pid("server");
  t0 = Clock::now();
  ASSERT_EQ(::kill(server, SIGKILL), 0);
  ASSERT_TRUE(eventually(
      [&] { return c_.kubectl("get namespace keep-me -o name").rc == 0 && restarted(c_, "server", server); },
      30s))
      << c_.status().out;
  std::printf("server kill -9: answering again after %.2f s\n", seconds_since(t0));
  EXPECT_NE(daemon_row(c_.status().out, "server").find("signal 9 (SIGKILL)"), std::string::npos);
}

TEST_F(Supervised, AnAgentThatCannotStartShowsACrashLoopAndComesBack) {
  const std::string agent = "agent-node1";
  const std::string kubeconfig = c_.layout().node_kubeconfig(1);
  // Its credential gone (root reads any file, so unreadable means absent), then kill -9.
  ASSERT_EQ(std::rename(kubeconfig.c_str(), (kubeconfig + ".away").c_str()), 0);
  pid_t old = c_.daemon_pid(agent);
  ASSERT_EQ(::kill(old, SIGKILL), 0);
  const std::string log = c_.layout().log_path(agent);
  // Delays 1, 2, 4 s: the third failed start is logged after about 3 s.
  ASSERT_TRUE(eventually(
      [&] {
        return read_file(log).value_or("").find("restart 3 in 4.0s (failure 3 in a row)") !=
               std::string::npos;
      },
      30s))
      << cluster::tail_file(log, 20);
  auto text = read_file(log).value_or("");
  EXPECT_NE(text.find("restart 1 in 1.0s (failure 1 in a row)"), std::string::npos) << text;
  EXPECT_NE(text.find("restart 2 in 2.0s (failure 2 in a row)"), std::string::npos) << text;
  EXPECT_NE(text.find("ended (exit code 2)"), std::string::npos) << text;

  auto st = c_.status();
  std::string row = daemon_row(st.out, agent);
  EXPECT_NE(row.find("CrashLoopBackOff (restart in "), std::string::npos) << st.out;
  EXPECT_NE(row.find("exit code 2"), std::string::npos) << row;
  EXPECT_NE(row.find(log), std::string::npos) << row;
  EXPECT_NE(row.find("  -  "), std::string::npos) << "no pid while backing off: " << row;
  // The node's AGENT column says it as well, with the next attempt and the log.
  EXPECT_NE(st.out.find("CrashLoopBackOff (exit code 2"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("; restart 3 in "), std::string::npos) << st.out;

  // Cause gone: the next attempt (at most 8 s away) starts it for good.
  ASSERT_EQ(std::rename((kubeconfig + ".away").c_str(), kubeconfig.c_str()), 0);
  time_t fixed_at = ::time(nullptr);
  ASSERT_TRUE(eventually([&] { return restarted(c_, agent, old); }, 20s)) << cluster::tail_file(log, 20);
  ASSERT_TRUE(eventually([&] { return ready_heartbeat(c_, "node1") > fixed_at; }, 30s)) << c_.status().out;
  EXPECT_NE(daemon_row(c_.status().out, agent).find("Running"), std::string::npos);
}

TEST_F(Supervised, DownStopsEverythingAndNothingIsRestartedAfter) {
  // An agent in its restart delay at the time of `down` must stay stopped as well.
  ASSERT_EQ(::kill(c_.daemon_pid("agent-node1"), SIGKILL), 0);
  auto down = c_.down();
  ASSERT_EQ(down.rc, 0) << down.out;
  EXPECT_NE(down.out.find("supervised daemon(s)"), std::string::npos) << down.out;
  EXPECT_EQ(c_.leftovers(), std::vector<std::string>{});
  std::this_thread::sleep_for(3s);  // past the first two restart delays
  EXPECT_EQ(c_.leftovers(), std::vector<std::string>{});
}

TEST_F(Supervised, UpReplacesKilledSupervisorsAndChangesNothingOnARunningCluster) {
  const std::string agent = "agent-node1";
  pid_t agent_pid = c_.daemon_pid(agent);
  ASSERT_EQ(c_.kubectl("create namespace keep-me").rc, 0);
  // The agent's supervisor dies (its agent runs on), the server and its supervisor die.
  pid_t sup = c_.supervisor_pid(agent);
  ASSERT_GT(sup, 0);
  cluster::stop_processes({sup}, 0ms);
  c_.kill_unsupervised("server");
  auto st = c_.status();
  EXPECT_NE(daemon_row(st.out, agent).find("Running (unsupervised)"), std::string::npos) << st.out;
  EXPECT_NE(daemon_row(st.out, "server").find("DEAD"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("` starts what is not running and supervises what runs unsupervised"),
            std::string::npos)
      << st.out;

  auto up = c_.up_again();
  ASSERT_EQ(up.rc, 0) << up.out;
  EXPECT_NE(up.out.find("restoring cluster " + c_.cid()), std::string::npos) << up.out;
  EXPECT_EQ(c_.daemon_pid(agent), agent_pid) << "the agent was restarted instead of taken over";
  EXPECT_NE(c_.supervisor_pid(agent), sup);
  EXPECT_EQ(c_.kubectl("get namespace keep-me -o name").rc, 0);
  st = c_.status();
  EXPECT_EQ(st.out.find("unsupervised"), std::string::npos) << st.out;

  // Running in full now: `up` says so and touches nothing.
  std::vector<pid_t> before;
  for (const auto& d : {"server", "agent-node1"})
    before.insert(before.end(), {c_.daemon_pid(d), c_.supervisor_pid(d)});
  auto again = c_.up_again();
  EXPECT_EQ(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("already runs in " + c_.state_dir() + "; nothing to do"), std::string::npos)
      << again.out;
  std::vector<pid_t> after;
  for (const auto& d : {"server", "agent-node1"})
    after.insert(after.end(), {c_.daemon_pid(d), c_.supervisor_pid(d)});
  EXPECT_EQ(after, before);

  // The taken-over agent is supervised: kill -9 and it is back.
  ASSERT_EQ(::kill(agent_pid, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return restarted(c_, agent, agent_pid); }, 15s)) << c_.status().out;
}

}  // namespace
}  // namespace podnet::testing
