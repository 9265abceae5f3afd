// Pieces of the kubelet role that need no root: pod decoding, CRI log rendering, timestamps.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "runtime/container_process.h"
#include "runtime/log_server.h"
#include "runtime/pod_spec.h"
#include "runtime/spawn.h"

namespace podnet::runtime {
namespace {

int wait_code(pid_t pid) {
  int st = 0;
  if (::waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void on_usr1(int) {}

TEST(SpawnTest, ChildExecsOrExitsWithItsCodeAndLeavesParentHandlersAlone) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = on_usr1;
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  char sh[] = "/bin/sh", c[] = "-c", cmd[] = "exit 3";
  char* argv[] = {sh, c, cmd, nullptr};
  pid_t pid = spawn_vfork(
      [](void* a) -> int {
        ::execve("/bin/sh", static_cast<char**>(a), nullptr);
        return 127;
      },
      argv);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_code(pid), 3);
  // No exec: the child's return value is its exit code; the parent was suspended until then, so
  // the child's write to shared memory is visible.
  int seen = 0;
  pid = spawn_vfork(
      [](void* a) -> int {
        struct sigaction cur {};
        ::sigaction(SIGUSR1, nullptr, &cur);
        *static_cast<int*>(a) = cur.sa_handler == SIG_DFL ? 1 : 2;  // handlers reset in the child
        return 5;
      },
      &seen);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_code(pid), 5);
  EXPECT_EQ(seen, 1);
  struct sigaction now {};
  ::sigaction(SIGUSR1, nullptr, &now);
  EXPECT_EQ(now.sa_handler, &on_usr1);  // the parent's own table is untouched
  ::sigaction(SIGUSR1, &old, nullptr);
}

TEST(PodSpecTest, DecodesContainersProbesAndDefaults) {
  auto pod = boost::json::parse(R"({
    "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "deletionTimestamp": "2030-01-01T00:00:00Z",
                 "deletionGracePeriodSeconds": 7},
    "spec": {"nodeName": "node1", "restartPolicy": "OnFailure", "hostNetwork": true,
      "containers": [{"name": "c", "command": ["a"], "args": ["b"], "workingDir": "/w",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "X", "value": "1"}, {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "readinessProbe": {"httpGet": {"port": "http", "path": "/healthz"}},
        "livenessProbe": {"tcpSocket": {"port": 81}, "periodSeconds": 3, "failureThreshold": 5}}]}})");
  auto s = decode_pod(pod);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->key(), "ns/p");
  EXPECT_TRUE(s->host_network);
  EXPECT_TRUE(s->deleting);
  EXPECT_EQ(s->deletion_grace_seconds, 7);
  EXPECT_EQ(s->grace_period_seconds, 30);
  EXPECT_EQ(s->restart_policy, RestartPolicy::kOnFailure);
  const auto& c = s->containers.at(0);
  EXPECT_EQ(c.env.at(1).field_path, "metadata.name");
  ASSERT_TRUE(c.readiness && c.liveness);
  EXPECT_EQ(c.readiness->kind, Probe::Kind::kHttp);
  EXPECT_EQ(probe_port(*c.readiness, c), 8080);
  EXPECT_EQ(c.readiness->path, "/healthz");
  EXPECT_EQ(c.readiness->period_seconds, 10);  // kube's defaults
  EXPECT_EQ(c.readiness->timeout_seconds, 1);
  EXPECT_EQ(c.readiness->failure_threshold, 3);
  EXPECT_EQ(c.liveness->period_seconds, 3);
  EXPECT_EQ(c.liveness->failure_threshold, 5);
  EXPECT_FALSE(decode_pod(boost::json::parse(R"({"metadata": {"name": "p", "uid": "u"}, "spec": {}})")));
}

TEST(CriLogTest, RendersTailTimestampsAndPartialLines) {
  std::string log =
      "2024-01-01T00:00:01.000000000Z stdout F one\n"
      "2024-01-01T00:00:02.000000000Z stderr P tw\n"
      "2024-01-01T00:00:02.100000000Z stderr F o\n"
      "2024-01-01T00:00:03.000000000Z stdout F three\n"
      "2024-01-01T00:00:04.000000000Z stdout F incomplete";  // no newline yet: not shown
  EXPECT_EQ(render_cri_log(log, {}), "one\ntwo\nthree\n");
  LogQuery tail;
  tail.tail_lines = 2;
  tail.timestamps = true;
  EXPECT_EQ(render_cri_log(log, tail),
            "2024-01-01T00:00:02.000000000Z two\n2024-01-01T00:00:03.000000000Z three\n");
  LogQuery limit;
  limit.limit_bytes = 5;
  EXPECT_EQ(render_cri_log(log, limit), "one\nt");
}

TEST(TimeTest, Rfc3339) {
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339(int64_t{1709251199} * 1000000000 + 5, true), "2024-02-29T23:59:59.000000005Z");
}

}  // namespace
}  // namespace podnet::runtime
