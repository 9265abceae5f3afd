#include "cluster/processes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <thread>

#include "common/fd.h"
#include "common/files.h"

namespace podnet::cluster {
namespace {

// What the child reports through the close-on-exec pipe when a step before exec fails.
enum Step : int { kSetsid = 1, kSetns, kDup, kExec };
struct ChildError {
  int step = 0;
  int err = 0;
};

const char* step_name(int step) {
  switch (step) {
    case kSetsid:
      return "setsid";
    case kSetns:
      return "setns";
    case kDup:
      return "redirect stdio";
    default:
      return "exec";
  }
}

struct ChildIo {
  int netns = -1;
  int in = -1, out = -1, err = -1;
  bool new_session = false;
};

// Between fork and exec only async-signal-safe calls: everything was prepared by the parent.
[[noreturn]] void child(char* const* argv, const ChildIo& io, int report_fd) {
  auto report = [&](int step) {
    ChildError e{step, errno};
    (void)!::write(report_fd, &e, sizeof e);
    ::_exit(127);
  };
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
  if (io.new_session && ::setsid() < 0) report(kSetsid);
  if (io.netns >= 0 && ::setns(io.netns, CLONE_NEWNET) != 0) report(kSetns);
  if (::dup2(io.in, 0) < 0 || ::dup2(io.out, 1) < 0 || ::dup2(io.err, 2) < 0) report(kDup);
  ::execv(argv[0], argv);
  report(kExec);
  ::_exit(127);
}

Result<pid_t> start(const std::vector<std::string>& argv, const ChildIo& io) {
  if (argv.empty()) return fail_msg("start process: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t pid = ::fork();
  if (pid < 0) return fail("fork for " + argv[0]);
  if (pid == 0) child(args.data(), io, wr.get());
  wr.reset();
  ChildError e;
  ssize_t n;
  while ((n = ::read(rd.get(), &e, sizeof e)) < 0 && errno == EINTR) {
  }
  if (n == sizeof e) {
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return fail(std::string(step_name(e.step)) + " " + argv[0], e.err);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Result<UniqueFd> open_log(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd.valid()) return fail("open log " + path);
  return fd;
}

Result<UniqueFd> open_null() {
  UniqueFd fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return fail("open /dev/null");
  return fd;
}

bool is_zombie(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

bool numeric(const char* s, long* out) {
  auto end = s + std::char_traits<char>::length(s);
  auto [p, ec] = std::from_chars(s, end, *out);
  return ec == std::errc() && p == end && *out > 0;
}

}  // namespace

Result<pid_t> spawn_daemon(const DaemonSpec& spec) {
  UniqueFd ns;
  if (!spec.netns_path.empty()) {
    ns.reset(::open(spec.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) return fail("open netns " + spec.netns_path);
  }
  PODNET_TRY(log, open_log(spec.log_path));
  PODNET_TRY(null, open_null());
  ChildIo io{ns.get(), null.get(), log.get(), log.get(), /*new_session=*/true};
  PODNET_TRY(pid, start(spec.argv, io));
  if (auto s = write_file_atomic(spec.pid_path, std::to_string(pid) + "\n"); !s) {
    ::kill(pid, SIGKILL);
    wait_exit(pid);
    return std::unexpected(s.error());
  }
  return pid;
}

Result<int> run_command(const std::vector<std::string>& argv, const std::string& log_path) {
  PODNET_TRY(log, open_log(log_path));
  PODNET_TRY(null, open_null());
  ChildIo io{-1, null.get(), log.get(), log.get(), false};
  PODNET_TRY(pid, start(argv, io));
  return wait_exit(pid);
}

Result<std::pair<int, std::string>> capture_command(const std::vector<std::string>& argv) {
  PODNET_TRY(null, open_null());
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  ChildIo io{-1, null.get(), wr.get(), null.get(), false};
  PODNET_TRY(pid, start(argv, io));
  wr.reset();
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return std::pair{wait_exit(pid), std::move(out)};
}

ProcState probe(pid_t pid, int* status) {
  int st = 0;
  pid_t r = ::waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    if (status) *status = st;
    return ProcState::kExited;
  }
  if (r == 0) return ProcState::kRunning;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return ProcState::kAbsent;
  return is_zombie(pid) ? ProcState::kAbsent : ProcState::kRunning;
}

Result<pid_t> read_pid_file(const std::string& path) {
  PODNET_TRY(text, read_file(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  long pid = 0;
  if (!numeric(text.c_str(), &pid)) return fail_msg("pid file " + path + ": not a pid");
  return static_cast<pid_t>(pid);
}

bool cmdline_contains(pid_t pid, const std::string& needle) {
  auto cmd = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmd) return false;
  for (char& c : *cmd)
    if (c == '\0') c = ' ';
  return cmd->find(needle) != std::string::npos;
}

std::string tail_file(const std::string& path, int lines) {
  auto text = read_file(path);
  if (!text) return "";
  size_t pos = text->size();
  if (pos > 0 && (*text)[pos - 1] == '\n') --pos;
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) pos = text->rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? *text : text->substr(pos + 1);
}

Result<NsId> netns_id(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail("stat " + path);
  return NsId{st.st_dev, st.st_ino};
}

std::vector<pid_t> pids_in_netns(const std::set<NsId>& namespaces, const std::string& proc) {
  std::vector<pid_t> out;
  if (namespaces.empty()) return out;
  DIR* d = ::opendir(proc.c_str());
  if (!d) return out;
  const pid_t self = ::getpid();
  while (dirent* e = ::readdir(d)) {
    long pid = 0;
    if (!numeric(e->d_name, &pid) || pid == self) continue;
    // A thread may sit in another namespace than its process (setns on one thread), so look at all.
    std::string tasks = proc + "/" + e->d_name + "/task";
    DIR* t = ::opendir(tasks.c_str());
    if (!t) continue;
    bool member = false;
    while (dirent* te = ::readdir(t)) {
      long tid = 0;
      if (!numeric(te->d_name, &tid)) continue;
      struct stat st {};
      if (::stat((tasks + "/" + te->d_name + "/ns/net").c_str(), &st) == 0 &&
          namespaces.contains(NsId{st.st_dev, st.st_ino})) {
        member = true;
        break;
      }
    }
    ::closedir(t);
    if (member) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

void stop_processes(const std::vector<pid_t>& pids, std::chrono::milliseconds grace) {
  using namespace std::chrono;
  auto all_gone = [&] {
    bool gone = true;
    for (pid_t p : pids)
      if (probe(p) == ProcState::kRunning) gone = false;
    return gone;
  };
  auto wait_until = [&](steady_clock::time_point deadline) {
    while (!all_gone()) {
      if (steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  };
  if (grace.count() > 0) {
    for (pid_t p : pids) ::kill(p, SIGTERM);
    if (wait_until(steady_clock::now() + grace)) return;
  }
  for (pid_t p : pids) ::kill(p, SIGKILL);
  wait_until(steady_clock::now() + 10s);
}

}  // namespace podnet::cluster
