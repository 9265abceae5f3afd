// Child processes for tests and benchmarks (no GoogleTest here: the benchmarks include it too, also
// in a build without the tests):
//
//   auto r = shell("ip -br link");                     // r.rc, r.out (stdout and stderr)
//   pid_t pid = spawn_logged({podnet_bin(), "server", ...}, dir + "/server.log");
//   int code = wait_exit_code(pid);                    // -1 when it did not exit normally
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace podnet::testing {

struct CommandResult {
  int rc = -1;
  std::string out;  // stdout and stderr
};

// Runs a shell command line; stdout and stderr together, rc 128 + signal when it was killed.
inline CommandResult shell(const std::string& cmd) {
  CommandResult r;
  if (FILE* p = ::popen((cmd + " 2>&1").c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    int st = ::pclose(p);
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  return r;
}

// The `podnet` binary of this build (the including target defines PODNET_BINARY_DIR).
inline std::string podnet_bin() {
  return std::string(PODNET_BINARY_DIR) + "/podnet";
}

// fork+exec of args[0] (a path) with stdout and stderr appended to `log`; returns the child's PID.
inline pid_t spawn_logged(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for a child; its exit code, or -1 when it did not exit normally.
inline int wait_exit_code(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace podnet::testing
