#include "netns_env.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

extern char** environ;

namespace pntest {

int sh(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string sh_out(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

Netns::Netns(std::string name) : name_(std::move(name)) {
  ok_ = sh("ip netns add " + name_) == 0;
}

Netns::~Netns() {
  if (ok_) sh("ip netns del " + name_);
}

EnterNetns::EnterNetns(const std::string& name) {
  orig_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  ok_ = orig_ >= 0 && fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
  if (fd >= 0) ::close(fd);
}

EnterNetns::~EnterNetns() {
  if (orig_ < 0) return;
  if (ok_ && ::setns(orig_, CLONE_NEWNET) != 0) std::abort();  // never keep running tests in the wrong netns
  ::close(orig_);
}

Background::Background(const Netns& ns, std::vector<std::string> argv) {
  std::vector<std::string> full = {"ip", "netns", "exec", ns.name()};
  full.insert(full.end(), argv.begin(), argv.end());
  std::vector<char*> args;
  for (auto& a : full) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_USEVFORK);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (posix_spawnp(&pid_, "ip", &fa, &attr, args.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
}

Background::~Background() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);  // our own process group only
  ::waitpid(pid_, nullptr, 0);
}

std::string unique_name(const std::string& tag) {
  static std::atomic<int> n{0};
  return "pn" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

bool wait_listening(const Netns& ns, int port, const std::string& ss_flags) {
  std::string cmd = "ss -Hn " + ss_flags + " 'sport = :" + std::to_string(port) + "'";
  for (int i = 0; i < 100; ++i) {
    if (!ns.out(cmd).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace pntest
