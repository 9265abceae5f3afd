#include "cluster/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "cluster/processes.h"
#include "common/fd.h"
#include "common/files.h"

namespace podnet::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string seconds(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

// Raw syscalls: glibc 2.36's <sys/pidfd.h> declares its wrappers without C linkage.
int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
int pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int poll_timeout(Clock::time_point until) {
  auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left + 1, 0, INT32_MAX));
}

class Supervisor {
 public:
  Supervisor(const Layout& layout, const SuperviseOptions& opts) : layout_(layout), opts_(opts) {}

  int run() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&set, s);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    // No terminal to hang up (up starts this in a session of its own), and a log reader's pipe
    // closing must not end supervision. The daemon gets default dispositions back (spawn_daemon).
    ::signal(SIGHUP, SIG_IGN);
    ::signal(SIGPIPE, SIG_IGN);
    UniqueFd signals(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals.valid()) {
      spdlog::error("supervise {}: signalfd: {}", opts_.daemon, std::strerror(errno));
      return 1;
    }
    // Counts and the last exit survive a supervisor's restart (`up` resumes a stopped cluster).
    if (auto old = load_report(layout_.supervisor_report_path(opts_.daemon)); old && *old) {
      report_.restarts = (*old)->restarts;
      report_.last_exit = (*old)->last_exit;
    }
    if (opts_.adopt) adopt();
    next_start_ = Clock::now();

    while (!done_) {
      if (!running() && !stopping_ && Clock::now() >= next_start_) start();
      if (!running() && (stopping_ || done_)) break;
      if (stopping_ && !killed_ && Clock::now() >= kill_at_) {
        spdlog::warn("supervise {}: still running {} after SIGTERM, SIGKILL", opts_.daemon,
                     seconds(opts_.stop_grace));
        send(SIGKILL);
        killed_ = true;
      }
      int timeout = -1;
      if (!running() && !stopping_) timeout = poll_timeout(next_start_);
      if (stopping_ && !killed_) timeout = poll_timeout(kill_at_);
      pollfd fds[2] = {{signals.get(), POLLIN, 0}, {adopted_.valid() ? adopted_.get() : -1, POLLIN, 0}};
      if (::poll(fds, 2, timeout) < 0 && errno != EINTR) {
        spdlog::error("supervise {}: poll: {}", opts_.daemon, std::strerror(errno));
        return 1;
      }
      // Signals first: a daemon that ends because `down` stopped it must not be restarted.
      for (signalfd_siginfo si; ::read(signals.get(), &si, sizeof si) == sizeof si;)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) request_stop(static_cast<int>(si.ssi_signo));
      reap();
      if (adopted_.valid() && (fds[1].revents & POLLIN)) {
        adopted_.reset();
        on_exit(ExitStatus{}, adopted_pid_);
        adopted_pid_ = 0;
      }
    }
    report_.state = SupervisorReport::State::kStopped;
    report_.pid = 0;
    save();
    spdlog::info("supervise {}: stopped", opts_.daemon);
    return 0;
  }

 private:
  bool running() const { return child_ > 0 || adopted_.valid(); }

  void start() {
    DaemonSpec spec{opts_.argv, opts_.netns_path, layout_.log_path(opts_.daemon),
                    layout_.pid_path(opts_.daemon)};
    if (!first_start_) ++report_.restarts;
    first_start_ = false;
    started_ = Clock::now();
    report_.started_unix_ms = unix_now_ms();
    auto pid = spawn_daemon(spec);
    if (!pid) {
      ExitStatus failed;
      failed.error = "could not start: " + pid.error().message();
      on_exit(failed, 0);
      return;
    }
    child_ = *pid;
    report_.state = SupervisorReport::State::kRunning;
    report_.pid = child_;
    report_.next_start_unix_ms = 0;
    save();
    spdlog::info("supervise {}: started pid {}{}", opts_.daemon, child_,
                 report_.restarts > 0 ? " (restart " + std::to_string(report_.restarts) + ")" : "");
  }

  // The daemon under the pid file, if it is alive and ours. The pidfd pins the process: the command
  // line read after opening it is that process's as long as it has not exited by the check after.
  void adopt() {
    auto pid = read_pid_file(layout_.pid_path(opts_.daemon));
    if (!pid) return;
    UniqueFd fd(pidfd_open(*pid));
    if (!fd.valid()) return;
    if (!cmdline_contains(*pid, layout_.spec().state_dir)) return;
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) != 0) return;
    adopted_ = std::move(fd);
    adopted_pid_ = *pid;
    first_start_ = false;
    started_ = Clock::now();
    report_.state = SupervisorReport::State::kRunning;
    report_.pid = adopted_pid_;
    save();
    spdlog::info("supervise {}: took over running pid {}", opts_.daemon, adopted_pid_);
  }

  void reap() {
    if (child_ <= 0) return;
    int status = 0;
    pid_t r = ::waitpid(child_, &status, WNOHANG);
    if (r != child_) return;
    pid_t pid = child_;
    child_ = 0;
    on_exit(ExitStatus::from_wait_status(status), pid);
  }

  void on_exit(const ExitStatus& status, pid_t pid) {
    const auto ran = std::chrono::duration_cast<milliseconds>(Clock::now() - started_);
    if (pid > 0) {
      // The pid file names a live process or none.
      if (auto recorded = read_pid_file(layout_.pid_path(opts_.daemon)); recorded && *recorded == pid)
        ::unlink(layout_.pid_path(opts_.daemon).c_str());
    }
    report_.pid = 0;
    report_.last_exit = SupervisorReport::LastExit{status, unix_now_ms(), ran.count()};
    if (stopping_ || status.clean()) {
      report_.state = SupervisorReport::State::kStopped;
      save();
      spdlog::info("supervise {}: pid {} ended ({}) after {}{}", opts_.daemon, pid, status.describe(),
                   seconds(ran), stopping_ ? "" : "; a clean exit is not restarted");
      done_ = !stopping_;
      return;
    }
    if (ran >= opts_.policy.healthy_after) report_.consecutive_failures = 0;
    ++report_.consecutive_failures;
    const auto delay = opts_.policy.delay(report_.consecutive_failures);
    next_start_ = Clock::now() + delay;
    report_.state = SupervisorReport::State::kBackoff;
    report_.next_start_unix_ms = unix_now_ms() + delay.count();
    save();
    spdlog::warn("supervise {}: pid {} ended ({}) after {}; restart {} in {} (failure {} in a row)",
                 opts_.daemon, pid, status.describe(), seconds(ran), report_.restarts + 1, seconds(delay),
                 report_.consecutive_failures);
  }

  void request_stop(int sig) {
    if (stopping_) return;
    stopping_ = true;
    kill_at_ = Clock::now() + opts_.stop_grace;
    spdlog::info("supervise {}: signal {}: stopping{}", opts_.daemon, sig,
                 running() ? " pid " + std::to_string(child_ > 0 ? child_ : adopted_pid_) : "");
    send(SIGTERM);
  }

  // Only to the process this supervisor runs: its unreaped child (the pid cannot be reused before
  // waitpid) or the adopted daemon through its pidfd.
  void send(int sig) {
    if (child_ > 0) ::kill(child_, sig);
    if (adopted_.valid()) pidfd_send_signal(adopted_.get(), sig);
  }

  void save() {
    if (auto s = write_file_exchange(layout_.supervisor_report_path(opts_.daemon), to_json(report_)); !s)
      spdlog::warn("supervise {}: {}", opts_.daemon, s.error().message());
  }

  const Layout& layout_;
  const SuperviseOptions& opts_;
  SupervisorReport report_;
  pid_t child_ = 0;
  UniqueFd adopted_;
  pid_t adopted_pid_ = 0;
  bool first_start_ = true;
  bool stopping_ = false;
  bool killed_ = false;
  bool done_ = false;
  Clock::time_point started_, next_start_, kill_at_;
};

}  // namespace

int supervise(const Layout& layout, const SuperviseOptions& opts) {
  if (opts.argv.empty()) {
    spdlog::error("supervise {}: no command", opts.daemon);
    return 2;
  }
  if (auto s = make_dirs(layout.supervise_dir(), 0700); !s) {
    spdlog::error("supervise {}: {}", opts.daemon, s.error().message());
    return 1;
  }
  return Supervisor(layout, opts).run();
}

}  // namespace podnet::cluster
