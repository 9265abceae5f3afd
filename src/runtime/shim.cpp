#include "runtime/shim.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "common/time.h"
#include "runtime/spawn.h"

namespace podnet::runtime {

namespace {

// ---- helpers, async-signal-safe: the container child runs them between vfork and exec ---------

// Writes all of buf; gives up on errors other than EINTR.
void write_all(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    buf += w;
    n -= static_cast<size_t>(w);
  }
}

// Closes every descriptor from 3 up except those in keep (sorted ascending, all >= 3).
void close_all_except(const int* keep, size_t n) {
  unsigned from = 3;
  for (size_t i = 0; i < n; ++i) {
    if (static_cast<unsigned>(keep[i]) > from) ::syscall(SYS_close_range, from, keep[i] - 1, 0);
    from = static_cast<unsigned>(keep[i]) + 1;
  }
  ::syscall(SYS_close_range, from, ~0U, 0);
}

// One output stream of the container, cut into CRI log lines.
struct LineBuffer {
  const char* stream;  // "stdout" / "stderr"
  char buf[16384];
  size_t len = 0;
};

void emit(int log_fd, LineBuffer& lb, const char* data, size_t n, bool partial) {
  char head[64];
  size_t h = format_rfc3339(head, realtime_ns(), Fraction::kNano);
  head[h++] = ' ';
  for (const char* s = lb.stream; *s; ++s) head[h++] = *s;
  head[h++] = ' ';
  head[h++] = partial ? 'P' : 'F';
  head[h++] = ' ';
  // One write per line keeps lines whole even when both streams append at once.
  char line[sizeof(head) + sizeof(lb.buf) + 1];
  std::memcpy(line, head, h);
  std::memcpy(line + h, data, n);
  line[h + n] = '\n';
  write_all(log_fd, line, h + n + 1);
}

void feed(int log_fd, LineBuffer& lb, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (data[i] == '\n') {
      emit(log_fd, lb, lb.buf, lb.len, false);
      lb.len = 0;
      continue;
    }
    lb.buf[lb.len++] = data[i];
    if (lb.len == sizeof(lb.buf)) {
      emit(log_fd, lb, lb.buf, lb.len, true);
      lb.len = 0;
    }
  }
}

// Reads what is available on fd into lb; false at EOF or error.
bool pump(int fd, int log_fd, LineBuffer& lb) {
  char chunk[4096];
  ssize_t n = ::read(fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  feed(log_fd, lb, chunk, static_cast<size_t>(n));
  return true;
}

[[noreturn]] void run_container_child(const ShimCommand& l, char* const* argv, char* const* envp, int out_w,
                                      int err_w, int status_w) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
  ::setpgid(0, 0);
  int err = 0;
  if (l.netns_fd >= 0 && ::setns(l.netns_fd, CLONE_NEWNET) != 0) err = errno;
  // The pod's mount namespace (its /etc/resolv.conf and /etc/hosts); before chdir, which it resets.
  if (!err && l.mntns_fd >= 0 && ::setns(l.mntns_fd, CLONE_NEWNS) != 0) err = errno;
  if (!err && !l.hostname.empty() &&
      (::unshare(CLONE_NEWUTS) != 0 || ::sethostname(l.hostname.data(), l.hostname.size()) != 0))
    err = errno;
  if (!err && ::chdir(l.working_dir.empty() ? "/" : l.working_dir.c_str()) != 0) err = errno;
  int devnull = ::open("/dev/null", O_RDONLY);
  if (!err && (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(out_w, 1) < 0 || ::dup2(err_w, 2) < 0))
    err = errno;
  if (!err) {
    ::execve(l.executable.c_str(), argv, envp);
    err = errno;
  }
  write_all(status_w, reinterpret_cast<const char*>(&err), sizeof err);
  ::_exit(127);
}

[[noreturn]] void run_shim(const ShimCommand& l, char* const* argv, char* const* envp) {
  const int log_fd = l.log_fd, report_w = l.report_fd;
  const std::string exit_tmp = l.exit_path + ".tmp";
  ::setsid();
  // Let go of the agent's stdio (a terminal, a log, a test runner's pipe that waits for EOF).
  if (int null = ::open("/dev/null", O_RDWR); null >= 0) {
    for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
    if (null > 2) ::close(null);
  }
  int keep[] = {log_fd, report_w, l.netns_fd, l.mntns_fd};
  constexpr size_t kKeep = sizeof keep / sizeof keep[0];
  std::sort(keep, keep + kKeep);
  int* first = std::find_if(keep, keep + kKeep, [](int fd) { return fd >= 3; });
  close_all_except(first, static_cast<size_t>(keep + kKeep - first));
  int out[2], err[2], st[2];
  int32_t report[2] = {0, 0};  // container pid, exec errno
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(st, O_CLOEXEC) != 0) {
    report[1] = errno;
    write_all(report_w, reinterpret_cast<const char*>(report), sizeof report);
    ::_exit(1);
  }
  struct Child {
    const ShimCommand* l;
    char* const* argv;
    char* const* envp;
    int out_w, err_w, status_w;
  } args{&l, argv, envp, out[1], err[1], st[1]};
  pid_t child = spawn_vfork(
      [](void* p) -> int {
        auto* c = static_cast<Child*>(p);
        run_container_child(*c->l, c->argv, c->envp, c->out_w, c->err_w, c->status_w);
      },
      &args);
  ::close(out[1]);
  ::close(err[1]);
  ::close(st[1]);
  report[0] = child;
  if (child < 0) report[1] = errno;
  int exec_err = 0;
  if (child > 0) {
    ssize_t n;
    do n = ::read(st[0], &exec_err, sizeof exec_err);
    while (n < 0 && errno == EINTR);
    if (n != sizeof exec_err) exec_err = 0;  // EOF: exec succeeded
    report[1] = exec_err;
  }
  ::close(st[0]);
  write_all(report_w, reinterpret_cast<const char*>(report), sizeof report);
  ::close(report_w);
  if (child < 0) ::_exit(1);

  LineBuffer lo{"stdout"}, le{"stderr"};
  bool out_open = true, err_open = true;
  int status = 0;
  bool exited = false;
  // The container's exit wakes the shim through a pidfd; without one (kernels before 5.3), a
  // waitpid every 200 ms.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  while (!exited) {
    pollfd fds[3] = {
        {out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}, {pidfd, POLLIN, 0}};
    ::poll(fds, 3, pidfd >= 0 ? -1 : 200);
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) out_open = pump(out[0], log_fd, lo);
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) err_open = pump(err[0], log_fd, le);
    // A background process of the container may keep the pipes open: the container's own exit
    // is what ends the shim.
    if (::waitpid(child, &status, WNOHANG) == child) exited = true;
  }
  if (pidfd >= 0) ::close(pidfd);
  for (int fd : {out[0], err[0]}) {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    LineBuffer& lb = fd == out[0] ? lo : le;
    while (pump(fd, log_fd, lb)) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) break;
    }
    if (lb.len > 0) emit(log_fd, lb, lb.buf, lb.len, false);
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (exec_err != 0) code = 127;
  char rec[64];
  size_t n = format_decimal(rec, static_cast<uint64_t>(code));
  rec[n++] = ' ';
  n += format_decimal(rec + n, static_cast<uint64_t>(realtime_ns()));
  rec[n++] = '\n';
  int fd = ::open(exit_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    write_all(fd, rec, n);
    ::close(fd);
    ::rename(exit_tmp.c_str(), l.exit_path.c_str());
  }
  ::_exit(0);
}

}  // namespace

int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::vector<std::string> shim_command(const std::string& shim_path, const ShimCommand& c) {
  std::vector<std::string> argv{shim_path,
                                std::to_string(c.log_fd),
                                std::to_string(c.report_fd),
                                std::to_string(c.netns_fd),
                                std::to_string(c.mntns_fd),
                                c.exit_path,
                                c.hostname,
                                c.working_dir,
                                c.executable};
  argv.insert(argv.end(), c.argv.begin(), c.argv.end());
  return argv;
}

bool parse_shim_command(int argc, char** argv, ShimCommand& out) {
  if (argc < 10) return false;
  auto fd = [](const char* s, int& v, bool may_be_none) {
    auto [end, ec] = std::from_chars(s, s + std::strlen(s), v);
    return ec == std::errc() && *end == '\0' && (v >= 0 || (may_be_none && v == -1));
  };
  if (!fd(argv[1], out.log_fd, false) || !fd(argv[2], out.report_fd, false) ||
      !fd(argv[3], out.netns_fd, true) || !fd(argv[4], out.mntns_fd, true))
    return false;
  out.exit_path = argv[5];
  out.hostname = argv[6];
  out.working_dir = argv[7];
  out.executable = argv[8];
  if (out.exit_path.empty() || out.executable.empty()) return false;
  out.argv.assign(argv + 9, argv + argc);
  return true;
}

void shim_main(int argc, char** argv, char** envp) {
  ShimCommand c;
  if (!parse_shim_command(argc, argv, c)) {
    std::fprintf(stderr,
                 "usage: podnet-shim LOG_FD REPORT_FD NETNS_FD|-1 MNTNS_FD|-1 EXIT_PATH HOSTNAME WORKDIR "
                 "EXECUTABLE ARGV0 "
                 "[ARG...]\n(started by the podnet agent for each container; not meant to be run by hand)\n");
    ::_exit(2);
  }
  std::vector<char*> cargv;
  for (auto& a : c.argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  run_shim(c, cargv.data(), envp);
}

}  // namespace podnet::runtime
