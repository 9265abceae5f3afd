// The restart policy and the supervisor's report: pure logic, no root needed. The report is read
// back by `status` and `up`, so bad contents must give an error, never a crash or a wrong state.
#include "cluster/supervision.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

namespace podnet::cluster {
namespace {

using std::chrono::milliseconds;

TEST(RestartPolicy, DelayDoublesUpToTheCap) {
  RestartPolicy p;  // 1 s doubling, 30 s cap
  EXPECT_EQ(p.delay(1), milliseconds(1000));
  EXPECT_EQ(p.delay(2), milliseconds(2000));
  EXPECT_EQ(p.delay(3), milliseconds(4000));
  EXPECT_EQ(p.delay(5), milliseconds(16000));
  EXPECT_EQ(p.delay(6), milliseconds(30000));
  EXPECT_EQ(p.delay(1000), milliseconds(30000));  // no overflow however long the loop
  EXPECT_EQ(p.delay(0), milliseconds(1000));
  RestartPolicy odd{milliseconds(300), milliseconds(1000), milliseconds(5000)};
  EXPECT_EQ(odd.delay(3), milliseconds(1000));
}

TEST(ExitStatus, CleanIsSystemdsOnFailureComplement) {
  auto exited = [](int code) { return ExitStatus::from_wait_status(code << 8); };
  auto killed = [](int sig) { return ExitStatus::from_wait_status(sig); };
  EXPECT_TRUE(exited(0).clean());
  EXPECT_FALSE(exited(1).clean());
  EXPECT_FALSE(exited(2).clean());
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) EXPECT_TRUE(killed(sig).clean()) << sig;
  for (int sig : {SIGKILL, SIGSEGV, SIGABRT}) EXPECT_FALSE(killed(sig).clean()) << sig;
  EXPECT_FALSE(ExitStatus{}.clean());  // unknown: an adopted daemon's end is treated as a failure
  ExitStatus not_started;
  not_started.error = "could not start: exec /nonexistent: No such file or directory";
  EXPECT_FALSE(not_started.clean());

  EXPECT_EQ(exited(2).describe(), "exit code 2");
  EXPECT_EQ(killed(SIGKILL).describe(), "signal 9 (SIGKILL)");
  EXPECT_EQ(ExitStatus{}.describe(), "status unknown");
  EXPECT_EQ(not_started.describe(), not_started.error);
}

TEST(SupervisorReport, RoundTrips) {
  SupervisorReport r;
  r.state = SupervisorReport::State::kBackoff;
  r.restarts = 4;
  r.consecutive_failures = 3;
  r.started_unix_ms = 1700000000123;
  r.next_start_unix_ms = 1700000004123;
  r.last_exit = SupervisorReport::LastExit{ExitStatus::from_wait_status(2 << 8), 1700000000200, 77};
  auto back = report_from_json(to_json(r));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->state, SupervisorReport::State::kBackoff);
  EXPECT_TRUE(back->crash_looping());
  EXPECT_EQ(back->restarts, 4);
  EXPECT_EQ(back->consecutive_failures, 3);
  EXPECT_EQ(back->next_start_unix_ms, 1700000004123);
  ASSERT_TRUE(back->last_exit);
  EXPECT_EQ(back->last_exit->status.describe(), "exit code 2");
  EXPECT_EQ(back->last_exit->ran_ms, 77);

  r.state = SupervisorReport::State::kRunning;
  r.pid = 4242;
  r.last_exit = SupervisorReport::LastExit{ExitStatus::from_wait_status(SIGKILL), 5, 6};
  back = report_from_json(to_json(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid, 4242);
  EXPECT_FALSE(back->crash_looping());
  EXPECT_EQ(back->last_exit->status.signal, SIGKILL);
  EXPECT_EQ(back->last_exit->status.code, -1);

  SupervisorReport failed_start;
  failed_start.state = SupervisorReport::State::kBackoff;
  failed_start.consecutive_failures = 1;  // one failure: restarting, not yet a crash loop
  ExitStatus e;
  e.error = "could not start: open netns /run/netns/x: No such file or directory";
  failed_start.last_exit = SupervisorReport::LastExit{e, 1, 0};
  back = report_from_json(to_json(failed_start));
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->crash_looping());
  EXPECT_EQ(back->last_exit->status.describe(), e.error);
}

TEST(SupervisorReport, RefusesWhatIsNotAReport) {
  const char* bad[] = {
      "",
      "null",
      "[]",
      "{",
      R"({"state":"running","pid":1)",
      R"({"pid":1})",
      R"({"state":"dancing"})",
      R"({"state":7})",
      R"({"state":"running","pid":-1})",
      R"({"state":"running","pid":99999999999})",
      R"({"state":"running","pid":"12"})",
      R"({"state":"running","restarts":1.5})",
      R"({"state":"backoff","lastExit":[]})",
      R"({"state":"backoff","lastExit":{"code":256}})",
      R"({"state":"backoff","lastExit":{"signal":-9}})",
      R"({"state":"backoff","lastExit":{"error":{}}})",
      R"({"state":"backoff","lastExit":{"atUnixMs":{"a":{"b":{"c":{"d":1}}}}}})",
      "\xff\xfe",
  };
  for (const char* text : bad) EXPECT_FALSE(report_from_json(text)) << text;
  std::string deep(10000, '[');
  EXPECT_FALSE(report_from_json(deep));
  // Fields a newer writer may add are ignored.
  EXPECT_TRUE(report_from_json(R"({"state":"stopped","future":{"x":1}})"));
}

}  // namespace
}  // namespace podnet::cluster
