// The HTTPS accept loop of the real `podnet server` under file-descriptor exhaustion and against
// its connection cap: a server started with a low RLIMIT_NOFILE whose descriptors are all taken by
// idle connections must not spin (its CPU time is measured from /proc), and serves again once
// they close; with --max-connections N the N+1th connection is closed at once.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "api_fixture.h"
#include "support/process.h"
#include "support/server_process.h"
#include "support/temp_dir.h"

namespace podnet::apiserver::testing {
namespace {

using namespace std::chrono_literals;

// utime + stime of `pid`, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i)
    if (i == 14 || i == 15) ticks += std::stod(f);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the server closed `fd` within `wait` (a read sees EOF or a reset).
bool closed_by_server(int fd, std::chrono::milliseconds wait) {
  timeval tv{static_cast<time_t>(wait.count() / 1000),
             static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  ssize_t n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// `podnet server` under `ulimit -n fds` (soft and hard: the server cannot raise it).
class LimitedServer {
 public:
  LimitedServer(const std::string& dir, int fds, std::vector<std::string> extra = {}) : dir_(dir) {
    std::string cmd = "ulimit -n " + std::to_string(fds) + " && exec " + podnet::testing::podnet_bin() +
                      " server --data-dir " + dir + "/data --port 0";
    for (const auto& a : extra) cmd += " " + a;
    pid_ = podnet::testing::spawn_logged({"/bin/sh", "-c", cmd}, dir + "/server.log");
  }
  ~LimitedServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  // The port, once the kubeconfig names it (0 on timeout).
  uint16_t port() {
    for (int i = 0; i < 400; ++i) {
      if (auto text = read_file(dir_ + "/data/admin.kubeconfig")) {
        auto at = text->find("server: https://127.0.0.1:");
        if (at != std::string::npos) return static_cast<uint16_t>(std::stoi(text->substr(at + 26)));
      }
      std::this_thread::sleep_for(25ms);
    }
    return 0;
  }
  TlsClient admin(uint16_t port) const {
    return TlsClient(
        port, *read_file(dir_ + "/data/pki/ca.crt"),
        KeyPair{*read_file(dir_ + "/data/pki/admin.crt"), *read_file(dir_ + "/data/pki/admin.key")});
  }
  pid_t pid() const { return pid_; }
  std::string log() const { return read_file(dir_ + "/server.log").value_or(""); }

 private:
  std::string dir_;
  pid_t pid_;
};

TEST(AcceptLimits, ExhaustedFileDescriptorsDoNotSpinTheAcceptLoop) {
  podnet::testing::TempDir dir("pn-accept-fds");
  LimitedServer server(dir.path(), 96);
  uint16_t port = server.port();
  ASSERT_NE(port, 0) << server.log();
  ASSERT_EQ(server.admin(port).get("/version").status, 200) << server.log();

  // More connections than the server has descriptors: the kernel completes them all (backlog),
  // the server's accept() fails with EMFILE for the rest.
  std::vector<int> held;
  for (int i = 0; i < 200; ++i)
    if (int fd = connect_to(port); fd >= 0) held.push_back(fd);
  ASSERT_GT(held.size(), 120u);
  std::this_thread::sleep_for(300ms);
  double before = cpu_seconds(server.pid());
  std::this_thread::sleep_for(2s);
  double used = cpu_seconds(server.pid()) - before;
  EXPECT_LT(used, 0.3) << "CPU seconds in 2 s with descriptors exhausted (a spinning loop uses ~2)";
  RecordProperty("cpu_seconds_in_2s_exhausted", std::to_string(used));

  for (int fd : held) ::close(fd);
  bool served = false;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       !served && std::chrono::steady_clock::now() < deadline;)
    if (!(served = server.admin(port).get("/version").status == 200)) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(served) << "serves again once descriptors are free\n" << server.log();
}

TEST(AcceptLimits, ConnectionsBeyondTheCapAreClosed) {
  podnet::testing::TempDir dir("pn-accept-cap");
  LimitedServer server(dir.path(), 4096, {"--max-connections", "3"});
  uint16_t port = server.port();
  ASSERT_NE(port, 0) << server.log();
  ASSERT_EQ(server.admin(port).get("/version").status, 200) << server.log();
  std::this_thread::sleep_for(200ms);  // that connection's session is gone

  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(connect_to(port));
  for (int fd : held) ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(200ms);
  for (int fd : held) EXPECT_FALSE(closed_by_server(fd, 100ms)) << "within the cap: kept open";
  int extra = connect_to(port);
  ASSERT_GE(extra, 0);
  EXPECT_TRUE(closed_by_server(extra, 2000ms)) << "the fourth connection is closed at once";
  ::close(extra);
  EXPECT_EQ(server.admin(port).get("/version").status, 0) << "no room for a request either";

  for (int fd : held) ::close(fd);
  bool served = false;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       !served && std::chrono::steady_clock::now() < deadline;)
    if (!(served = server.admin(port).get("/version").status == 200)) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(served) << server.log();
}

}  // namespace
}  // namespace podnet::apiserver::testing
