#include "runtime/container_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/files.h"
#include "runtime/shim.h"
#include "runtime/spawn.h"

namespace podnet::runtime {
uint64_t proc_start_time(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return 0;
  // comm (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  auto close = text->rfind(')');
  if (close == std::string::npos) return 0;
  const char* p = text->c_str() + close + 2;  // field 3 (state)
  for (int field = 3; field < 22 && *p; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return 0;
    ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

bool process_alive(const ProcessId& id) {
  if (id.pid <= 0) return false;
  auto text = read_file("/proc/" + std::to_string(id.pid) + "/stat");
  if (!text) return false;
  auto close = text->rfind(')');
  if (close == std::string::npos || close + 2 >= text->size()) return false;
  char state = (*text)[close + 2];
  return state != 'Z' && state != 'X' && proc_start_time(id.pid) == id.start_time;
}

Result<LaunchedContainer> launch_container(const ContainerLaunch& launch) {
  ::unlink(launch.exit_path.c_str());
  UniqueFd log(::open(launch.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log.valid()) return fail("open log " + launch.log_path);
  int rp[2];
  if (::pipe2(rp, O_CLOEXEC) != 0) return fail("pipe for container");
  UniqueFd report_r(rp[0]), report_w(rp[1]);
  ShimCommand cmd{log.get(),       report_w.get(),     launch.netns_fd,   launch.mntns_fd, launch.exit_path,
                  launch.hostname, launch.working_dir, launch.executable, launch.argv,     launch.attach_path,
                  launch.stdin,    launch.stdin_once,  launch.tty};
  std::vector<std::string> argv_s = shim_command(launch.shim_path, cmd), env_s = launch.env;
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  // vfork + exec, not fork: a fork would copy the page tables of the large multi-threaded agent
  // and make each of its later writes take a copy-on-write fault, once per container start.
  struct Child {
    const char* path;
    char* const* argv;
    char* const* envp;
    int pass[4];  // inherited by the shim (the agent opens everything close-on-exec)
    int report_w;
  } child{launch.shim_path.c_str(),
          argv.data(),
          envp.data(),
          {log.get(), report_w.get(), launch.netns_fd, launch.mntns_fd},
          report_w.get()};
  int64_t started = unix_now_ns();
  pid_t shim = spawn_vfork(
      [](void* p) -> int {
        auto* c = static_cast<Child*>(p);
        int err = 0;
        for (int fd : c->pass)
          if (fd >= 0 && ::fcntl(fd, F_SETFD, 0) != 0) err = errno;
        if (!err) {
          ::execve(c->path, c->argv, c->envp);
          err = errno;
        }
        int32_t report[2] = {0, err};
        (void)!::write(c->report_w, report, sizeof report);
        return 127;
      },
      &child);
  if (shim < 0) return fail("spawn container shim " + launch.shim_path);
  report_w.reset();
  int32_t report[2] = {0, 0};
  size_t got = 0;
  while (got < sizeof report) {
    ssize_t n = ::read(report_r.get(), reinterpret_cast<char*>(report) + got, sizeof report - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != sizeof report || report[0] <= 0) {
    ::waitpid(shim, nullptr, 0);  // the shim (or the child that failed to exec it) is leaving
    return fail("start container shim " + launch.shim_path + " for " + launch.executable,
                got == sizeof report && report[1] != 0 ? report[1] : EIO);
  }
  if (report[1] != 0) {
    ::waitpid(shim, nullptr, 0);  // the shim leaves as soon as the failed child is collected
    return fail("exec " + launch.executable, report[1]);
  }
  LaunchedContainer out;
  out.shim = {shim, proc_start_time(shim)};
  out.container = {report[0], proc_start_time(report[0])};
  out.started_unix_ns = started;
  return out;
}

std::optional<ExitRecord> read_exit_record(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  ExitRecord r;
  long long ns = 0;
  if (std::sscanf(text->c_str(), "%d %lld", &r.exit_code, &ns) != 2) return std::nullopt;
  r.finished_unix_ns = ns;
  return r;
}

Result<std::string> resolve_executable(const std::string& name, const std::string& path_var) {
  if (name.empty()) return fail("no command to run", ENOENT);
  if (name.find('/') != std::string::npos) return name;
  size_t pos = 0;
  while (pos <= path_var.size()) {
    size_t end = path_var.find(':', pos);
    if (end == std::string::npos) end = path_var.size();
    std::string dir = path_var.substr(pos, end - pos);
    pos = end + 1;
    if (dir.empty()) continue;
    std::string full = dir + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
  }
  return fail("executable \"" + name + "\" not found in $PATH", ENOENT);
}

UniqueFd open_pidfd(const ProcessId& id) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, id.pid, 0)));
  // The pid may have been reused between the record and the open: check after opening.
  if (fd.valid() && proc_start_time(id.pid) != id.start_time) fd.reset();
  return fd;
}

void reap(pid_t pid) {
  if (pid > 0) ::waitpid(pid, nullptr, WNOHANG);
}

void signal_container(const ProcessId& id, int sig) {
  if (!process_alive(id)) return;
  if (::kill(-id.pid, sig) != 0) ::kill(id.pid, sig);
}

int64_t unix_now_ns() {
  return realtime_ns();
}

}  // namespace podnet::runtime
