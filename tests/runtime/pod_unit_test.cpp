// Pieces of the kubelet role that need no root: pod decoding, CRI log rendering, timestamps, and
// containers started under the real podnet-shim.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "common/fd.h"
#include "common/files.h"
#include "common/stream_frames.h"
#include "common/time.h"
#include "runtime/container_process.h"
#include "runtime/log_server.h"
#include "runtime/pod_spec.h"
#include "runtime/shim.h"
#include "runtime/spawn.h"
#include "support/temp_dir.h"

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
  EXPECT_EQ(rfc3339(int64_t{1709251199} * 1000000000 + 5, Fraction::kNano), "2024-02-29T23:59:59.000000005Z");
}

}  // namespace
}  // namespace podnet::runtime

namespace podnet::runtime {
namespace {

TEST(ShimTest, CommandLineRoundTripsAndMalformedOnesAreRefused) {
  ShimCommand c{7,
                8,
                -1,
                9,
                "/x/c.exit",
                "web-0",
                "/tmp",
                "/bin/sh",
                {"sh", "-c", "echo \"$A\""},
                "/x/c.attach",
                true,
                false,
                true};
  auto argv_s = shim_command("/bin/podnet-shim", c);
  ASSERT_EQ(argv_s.size(), 13u);
  EXPECT_EQ(argv_s[8], "it:/x/c.attach");
  EXPECT_EQ(argv_s[0], "/bin/podnet-shim");
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  ShimCommand back;
  ASSERT_TRUE(parse_shim_command(static_cast<int>(argv.size()), argv.data(), back));
  EXPECT_EQ(back.log_fd, 7);
  EXPECT_EQ(back.report_fd, 8);
  EXPECT_EQ(back.netns_fd, -1);
  EXPECT_EQ(back.mntns_fd, 9);
  EXPECT_EQ(back.exit_path, c.exit_path);
  EXPECT_EQ(back.hostname, c.hostname);
  EXPECT_EQ(back.working_dir, c.working_dir);
  EXPECT_EQ(back.executable, c.executable);
  EXPECT_EQ(back.argv, c.argv);
  EXPECT_EQ(back.attach_path, c.attach_path);
  EXPECT_TRUE(back.stdin);
  EXPECT_FALSE(back.stdin_once);
  EXPECT_TRUE(back.tty);
  c.attach_path.clear();
  EXPECT_EQ(shim_command("/bin/podnet-shim", c)[8], "");

  struct Case {
    const char* why;
    std::vector<std::string> args;
  } bad[] = {
      {"no container argv", {"shim", "3", "4", "-1", "-1", "/e", "", "", "", "/bin/true"}},
      {"log fd not a number", {"shim", "x", "4", "-1", "-1", "/e", "", "", "", "/bin/true", "true"}},
      {"report fd negative", {"shim", "3", "-1", "-1", "-1", "/e", "", "", "", "/bin/true", "true"}},
      {"netns fd below -1", {"shim", "3", "4", "-2", "-1", "/e", "", "", "", "/bin/true", "true"}},
      {"mntns fd below -1", {"shim", "3", "4", "-1", "-2", "/e", "", "", "", "/bin/true", "true"}},
      {"trailing junk in a fd", {"shim", "3", "4x", "-1", "-1", "/e", "", "", "", "/bin/true", "true"}},
      {"no exit path", {"shim", "3", "4", "-1", "-1", "", "", "", "", "/bin/true", "true"}},
      {"no executable", {"shim", "3", "4", "-1", "-1", "/e", "", "", "", "", "true"}},
      {"attach without a path", {"shim", "3", "4", "-1", "-1", "/e", "", "", "it:", "/bin/true", "true"}},
      {"attach without a colon", {"shim", "3", "4", "-1", "-1", "/e", "", "", "/a", "/bin/true", "true"}},
      {"unknown attach flag", {"shim", "3", "4", "-1", "-1", "/e", "", "", "ix:/a", "/bin/true", "true"}},
  };
  for (auto& b : bad) {
    std::vector<char*> v;
    for (auto& a : b.args) v.push_back(a.data());
    ShimCommand out;
    EXPECT_FALSE(parse_shim_command(static_cast<int>(v.size()), v.data(), out)) << b.why;
  }
}

class ContainerProcessTest : public ::testing::Test {
 protected:
  ContainerLaunch launch(std::vector<std::string> argv) {
    ContainerLaunch l;
    l.shim_path = std::string(PODNET_BINARY_DIR) + "/podnet-shim";
    l.executable = "/bin/sh";
    l.argv = std::move(argv);
    l.env = {"PATH=/usr/bin:/bin", "GREETING=hello from env"};
    l.working_dir = dir_;
    l.log_path = dir_ + "/c.log";
    l.exit_path = dir_ + "/c.exit";
    return l;
  }

  std::optional<ExitRecord> wait_exit(const LaunchedContainer& c) {
    for (int i = 0; i < 500; ++i) {
      if (auto r = read_exit_record(dir_ + "/c.exit")) {
        ::waitpid(c.shim.pid, nullptr, 0);
        return r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
  }

  podnet::testing::TempDir tmp_{"pn-proc"};
  std::string dir_ = tmp_.path();
};

TEST_F(ContainerProcessTest, ShimRunsTheContainerLogsItsOutputAndRecordsItsExit) {
  // It waits for ./go (in its working dir), reads stdin (/dev/null: EOF at once) and exits with 3.
  auto l = launch({"sh", "-c",
                   "echo \"$GREETING in $PWD\"; echo oops >&2; while [ ! -e go ]; do sleep 0.01; done; "
                   "read line; exit 3"});
  int64_t before = unix_now_ns();
  auto c = launch_container(l);
  ASSERT_TRUE(c) << c.error().message();
  // The shim is our child and a process of its own session; the container leads its own group.
  EXPECT_TRUE(process_alive(c->shim));
  EXPECT_TRUE(process_alive(c->container));
  EXPECT_EQ(::getsid(c->shim.pid), c->shim.pid);
  EXPECT_EQ(::getpgid(c->container.pid), c->container.pid);
  auto comm = read_file("/proc/" + std::to_string(c->shim.pid) + "/comm");
  ASSERT_TRUE(comm);
  EXPECT_EQ(*comm, "podnet-shim\n");
  ASSERT_TRUE(write_file_atomic(dir_ + "/go", ""));
  auto exit = wait_exit(*c);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_GE(exit->finished_unix_ns, before);
  EXPECT_FALSE(process_alive(c->container));
  auto log = read_file(dir_ + "/c.log");
  ASSERT_TRUE(log);
  EXPECT_NE(log->find(" stdout F hello from env in " + dir_ + "\n"), std::string::npos) << *log;
  EXPECT_NE(log->find(" stderr F oops\n"), std::string::npos) << *log;
}

TEST_F(ContainerProcessTest, KilledContainerIsRecordedWithItsSignal) {
  auto c = launch_container(launch({"sh", "-c", "sleep 30"}));
  ASSERT_TRUE(c) << c.error().message();
  signal_container(c->container, SIGTERM);
  auto exit = wait_exit(*c);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 128 + SIGTERM);
}

TEST_F(ContainerProcessTest, MissingShimAndUnexecutableProgramAreErrors) {
  auto l = launch({"sh"});
  l.shim_path = dir_ + "/no-such-shim";
  auto r = launch_container(l);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message().find(l.shim_path), std::string::npos) << r.error().message();

  ASSERT_TRUE(write_file_atomic(dir_ + "/not-a-program", "just text", 0644));
  l = launch({"not-a-program"});
  l.executable = dir_ + "/not-a-program";
  r = launch_container(l);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EACCES);
  EXPECT_NE(r.error().message().find("exec " + l.executable), std::string::npos) << r.error().message();
}

// An attach client of a shim, as the agent's attach session is one (shim.h's protocol).
class AttachClient {
 public:
  explicit AttachClient(const std::string& path, bool writes_stdin) : fd_(connect_attach_socket(path)) {
    if (fd_.valid()) send(kAttachHello, writes_stdin ? "i" : "");
  }
  bool connected() const { return fd_.valid(); }
  void send(uint8_t channel, std::string_view payload) {
    std::string f = streams::encode_frame(channel, payload);
    ASSERT_EQ(::write(fd_.get(), f.data(), f.size()), static_cast<ssize_t>(f.size()));
  }
  void resize(unsigned w, unsigned h) {
    send(streams::kResize, std::string{static_cast<char>(w >> 8), static_cast<char>(w & 0xff),
                                       static_cast<char>(h >> 8), static_cast<char>(h & 0xff)});
  }
  // Reads until channel `ch` holds `want` (true), EOF or 10 s (false).
  bool wait_for(uint8_t ch, const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got_[ch].find(want) == std::string::npos) {
      if (eof_ || std::chrono::steady_clock::now() > deadline) return false;
      read_some();
    }
    return true;
  }
  // True once the shim closed the connection (within 10 s).
  bool wait_eof() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!eof_ && std::chrono::steady_clock::now() < deadline) read_some();
    return eof_;
  }
  const std::string& got(uint8_t ch) { return got_[ch]; }
  void close() { fd_.reset(); }

 private:
  void read_some() {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) return;
    char buf[4096];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) {
      eof_ = true;
      return;
    }
    decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
    while (auto f = decoder_.next()) got_[f->channel] += f->payload;
  }
  UniqueFd fd_;
  streams::FrameDecoder decoder_;
  std::map<uint8_t, std::string> got_;
  bool eof_ = false;
};

// stdin: true, stdinOnce: true, no terminal: what one client writes reaches the container's stdin,
// its stdout and stderr come back on their channels (and into the log); the end of that client's
// input closes the container's stdin, and the container's exit closes the client.
TEST_F(ContainerProcessTest, AttachJoinsAPipeStdinAndStdinOnceClosesIt) {
  auto l = launch({"sh", "-c", "while read l; do echo \"got:$l\"; echo \"err:$l\" >&2; done; echo bye"});
  l.attach_path = dir_ + "/c.attach";
  l.stdin = l.stdin_once = true;
  auto c = launch_container(l);
  ASSERT_TRUE(c) << c.error().message();
  AttachClient a(l.attach_path, true);
  ASSERT_TRUE(a.connected()) << std::strerror(errno);
  // An observer without stdin sees the same output.
  AttachClient watcher(l.attach_path, false);
  ASSERT_TRUE(watcher.connected());
  a.send(streams::kStdin, "one\n");
  EXPECT_TRUE(a.wait_for(streams::kStdout, "got:one\n")) << a.got(streams::kStdout);
  EXPECT_TRUE(a.wait_for(streams::kStderr, "err:one\n")) << a.got(streams::kStderr);
  EXPECT_TRUE(watcher.wait_for(streams::kStdout, "got:one\n"));
  watcher.send(streams::kStdin, "ignored\n");  // not a stdin writer: dropped
  a.send(streams::kStdin, "two\n");
  EXPECT_TRUE(a.wait_for(streams::kStdout, "got:two\n"));
  EXPECT_TRUE(process_alive(c->container));
  a.send(streams::kClose, std::string(1, '\0'));
  EXPECT_TRUE(a.wait_for(streams::kStdout, "bye\n")) << a.got(streams::kStdout);
  EXPECT_TRUE(a.wait_eof());
  EXPECT_TRUE(watcher.wait_eof());
  auto exit = wait_exit(*c);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(a.got(streams::kStdout), "got:one\ngot:two\nbye\n");
  auto log = read_file(dir_ + "/c.log");
  ASSERT_TRUE(log);
  EXPECT_NE(log->find(" stdout F got:two\n"), std::string::npos) << *log;
  EXPECT_EQ(log->find("ignored"), std::string::npos) << *log;
  EXPECT_FALSE(std::filesystem::exists(l.attach_path)) << "the shim removes its socket";
}

// stdin: true, tty: true: the container has a terminal (as stdin, stdout and stderr) the shim keeps;
// a client's resize reaches it, and detaching leaves the container running for the next client.
TEST_F(ContainerProcessTest, AttachToATerminalResizesAndDetachingKeepsTheContainer) {
  auto l = launch({"sh", "-c", "read a; stty size; [ -t 0 ] && echo tty-in; read b; echo \"second:$b\" >&2"});
  l.attach_path = dir_ + "/c.attach";
  l.stdin = l.stdin_once = l.tty = true;
  auto c = launch_container(l);
  ASSERT_TRUE(c) << c.error().message();
  {
    AttachClient a(l.attach_path, true);
    ASSERT_TRUE(a.connected());
    a.resize(101, 33);
    a.send(streams::kStdin, "first\n");
    EXPECT_TRUE(a.wait_for(streams::kStdout, "33 101")) << a.got(streams::kStdout);
    EXPECT_TRUE(a.wait_for(streams::kStdout, "tty-in")) << a.got(streams::kStdout);
    EXPECT_TRUE(a.got(streams::kStderr).empty()) << "a terminal has one output stream";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(process_alive(c->container)) << "detaching (with stdinOnce and a terminal) keeps it running";
  AttachClient b(l.attach_path, true);
  ASSERT_TRUE(b.connected());
  b.send(streams::kStdin, "again\n");
  EXPECT_TRUE(b.wait_for(streams::kStdout, "second:again")) << b.got(streams::kStdout);
  EXPECT_TRUE(b.wait_eof());
  auto exit = wait_exit(*c);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0);
}

// No stdin: an attach streams the output from then on; nothing before it is replayed.
TEST_F(ContainerProcessTest, AttachWithoutStdinStreamsTheOutputFromThenOn) {
  auto l =
      launch({"sh", "-c", "echo before; while [ ! -e go ]; do sleep 0.01; done; echo after; echo late >&2"});
  l.attach_path = dir_ + "/c.attach";
  auto c = launch_container(l);
  ASSERT_TRUE(c) << c.error().message();
  for (int i = 0; i < 200 && read_file(dir_ + "/c.log").value_or("").find("before") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  AttachClient a(l.attach_path, true);
  ASSERT_TRUE(a.connected());
  a.send(streams::kStdin, "nowhere\n");  // the container has no stdin
  ASSERT_TRUE(write_file_atomic(dir_ + "/go", ""));
  EXPECT_TRUE(a.wait_for(streams::kStderr, "late\n"));
  EXPECT_TRUE(a.wait_eof());
  EXPECT_EQ(a.got(streams::kStdout), "after\n");
  ASSERT_TRUE(wait_exit(*c));
}

}  // namespace
}  // namespace podnet::runtime
