// SIGINT, SIGTERM and SIGHUP for the benchmarks: a bench stops and removes what it made (namespaces,
// links, tables, files, child processes) by itself, with or without a wrapper script.
//
// The handler only sets a flag and writes the signal number to a pipe (self-pipe; both
// async-signal-safe). A watcher thread reads the pipe and kills the child processes the bench
// registered, so that waits on them return; the run loops check StopSignal::requested() and return,
// and the destructors remove what was made (the normal path). If the main thread has not finished
// within `grace` of the signal, or a second signal comes, the watcher runs the registered cleanups
// itself and _exit()s: resources created through StopSignal::create_netns(), track_path() or
// fork_child() are registered under one lock, so none can appear after that cleanup has run.
// Handlers, unlike a blocked signal mask, do not pass on to the processes the bench execs.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "netlink/netns.h"

namespace podnet::bench {

class StopSignal {
 public:
  // Construct once, first thing in main(). `name` prefixes its messages.
  StopSignal(std::string name, std::chrono::milliseconds grace) {
    State& st = state();
    st.name = std::move(name);
    st.grace = grace;
    if (::pipe2(st.pipe, O_CLOEXEC) != 0) {
      std::perror("pipe2");
      ::_exit(1);
    }
    pipe_write_ = st.pipe[1];
    struct sigaction sa {};
    sa.sa_handler = &StopSignal::on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &sa, nullptr);
    // A write to a child that has exited (a CNI plugin that did not read its stdin) is an error
    // the bench reports, not a death that skips the cleanup. A handler, not SIG_IGN: exec resets it.
    sa.sa_handler = [](int) {};
    ::sigaction(SIGPIPE, &sa, nullptr);
    // An uncaught exception (a failed .value(), a filesystem error) cleans up too.
    // (After a signal, the watcher may be cleaning up already; it exits the process when done.)
    std::set_terminate([] {
      if (!requested()) std::fprintf(stderr, "%s: terminate, cleaning up\n", state().name.c_str());
      const int code = requested() ? exit_code() : 134;
      if (state().mu.try_lock_for(std::chrono::seconds(10))) remove_all_locked(code);
      ::_exit(code);
    });
    std::thread(&StopSignal::watch).detach();
  }
  // main() is returning: its destructors have cleaned up, the watcher must not.
  ~StopSignal() {
    std::lock_guard lock(state().mu);
    state().closed = true;
  }
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  static bool requested() { return signal_ != 0; }
  // 128 + the signal number, the shell's convention for "killed by a signal".
  static int exit_code() { return 128 + static_cast<int>(signal_); }

  // A named network namespace, registered for the emergency cleanup; refused once a stop began.
  static Result<netlink::NetNs> create_netns(const std::string& name) {
    State& st = state();
    std::lock_guard lock(st.mu);
    if (st.closed || requested()) return fail_msg("interrupted");
    auto ns = netlink::create_named_netns(name);
    if (ns) st.netns.insert(name);
    return ns;
  }
  // Deletes a namespace made by create_netns.
  static Status delete_netns(const std::string& name) {
    State& st = state();
    std::lock_guard lock(st.mu);
    st.netns.erase(name);
    return netlink::delete_named_netns(name);
  }
  // A file or directory (removed recursively) for the emergency cleanup.
  static void track_path(const std::string& path) {
    std::lock_guard lock(state().mu);
    state().paths.insert(path);
  }
  static void untrack_path(const std::string& path) {
    std::lock_guard lock(state().mu);
    state().paths.erase(path);
  }
  // fork() whose child is killed (SIGKILL, by pid) on a stop; -1 with errno EINTR once a stop began.
  // The parent calls reaped(pid) after waiting for it.
  static pid_t fork_child() {
    State& st = state();
    std::lock_guard lock(st.mu);
    if (st.closed || requested()) {
      errno = EINTR;
      return -1;
    }
    pid_t pid = ::fork();
    if (pid > 0) st.children.insert(pid);
    return pid;
  }
  static void reaped(pid_t pid) {
    std::lock_guard lock(state().mu);
    state().children.erase(pid);
  }
  // A failure where unwinding is not possible (other threads still use what was made): removes
  // everything registered, as on a signal, and exits with `code`.
  [[noreturn]] static void fail_exit(int code) {
    state().mu.lock();
    remove_all_locked(code);
  }
  // Any other cleanup for the emergency path; remove it once its owner has cleaned up.
  static int add_cleanup(std::function<void()> fn) {
    State& st = state();
    std::lock_guard lock(st.mu);
    st.cleanups[++st.next] = std::move(fn);
    return st.next;
  }
  static void remove_cleanup(int id) {
    std::lock_guard lock(state().mu);
    state().cleanups.erase(id);
  }

 private:
  // Never destroyed: the watcher thread and a late signal may use it while the process exits.
  struct State {
    std::string name;
    std::chrono::milliseconds grace{0};
    int pipe[2] = {-1, -1};
    std::timed_mutex mu;
    bool closed = false;
    std::set<std::string> netns, paths;
    std::set<pid_t> children;
    std::map<int, std::function<void()>> cleanups;
    int next = 0;
  };
  static State& state() {
    static State* s = new State;
    return *s;
  }

  // SIGKILL to every process below this one (started by it or by its children, e.g. a library's
  // helper processes and what they run), found through /proc's parent links.
  static void kill_descendants() {
    std::map<pid_t, std::vector<pid_t>> kids;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream f(e.path() / "stat");
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      auto at = text.rfind(')');
      if (at == std::string::npos) continue;
      char state = 0;
      int ppid = 0;
      if (std::sscanf(text.c_str() + at + 1, " %c %d", &state, &ppid) == 2)
        kids[ppid].push_back(static_cast<pid_t>(std::stol(name)));
    }
    std::vector<pid_t> todo{::getpid()}, found;
    while (!todo.empty()) {
      pid_t p = todo.back();
      todo.pop_back();
      for (pid_t c : kids[p]) {
        found.push_back(c);
        todo.push_back(c);
      }
    }
    for (pid_t pid : found) ::kill(pid, SIGKILL);
    for (pid_t pid : found) ::waitpid(pid, nullptr, WNOHANG);
  }

  static void on_signal(int sig) {
    int saved = errno;
    if (signal_ == 0) signal_ = sig;
    unsigned char b = static_cast<unsigned char>(sig);
    (void)!::write(pipe_write_, &b, 1);
    errno = saved;
  }

  static void watch() {
    State& st = state();
    unsigned char sig = 0;
    while (::read(st.pipe[0], &sig, 1) != 1) {
    }
    std::fprintf(stderr, "%s: signal %d, stopping and cleaning up%s\n", st.name.c_str(), sig,
                 st.grace.count() > 0 ? " (again to hurry)" : "");
    {
      std::lock_guard lock(st.mu);
      for (pid_t pid : st.children) ::kill(pid, SIGKILL);
    }
    // The main thread returns through its destructors meanwhile, unless it is stuck or a second
    // signal asks to hurry.
    pollfd p{st.pipe[0], POLLIN, 0};
    if (st.grace.count() > 0) ::poll(&p, 1, static_cast<int>(st.grace.count()));
    std::unique_lock lock(st.mu);
    if (st.closed) return;  // main() returned; exit() is under way
    (void)lock.release();   // held until _exit
    std::fprintf(stderr, "%s: removing what is left\n", st.name.c_str());
    remove_all_locked(exit_code());
  }

  // With st.mu held: kills, deletes and removes everything registered, then _exit(code).
  [[noreturn]] static void remove_all_locked(int code) {
    State& st = state();
    st.closed = true;
    for (pid_t pid : st.children) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    for (auto& [id, fn] : st.cleanups) fn();
    for (const auto& n : st.netns)
      if (auto s = netlink::delete_named_netns(n); !s)
        std::fprintf(stderr, "%s: %s\n", st.name.c_str(), s.error().message().c_str());
    // Last, so that the cleanups above could stop them the orderly way (e.g. `podnet down`).
    kill_descendants();
    for (const auto& path : st.paths) {
      std::error_code ec;
      // Threads still running may add a file meanwhile.
      for (int i = 0; i < 3 && std::filesystem::remove_all(path, ec) == static_cast<std::uintmax_t>(-1);
           ++i) {
      }
    }
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(code);
  }

  static inline volatile sig_atomic_t signal_ = 0;
  static inline volatile int pipe_write_ = -1;
};

}  // namespace podnet::bench
