#include "runtime/shim.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/stream_frames.h"
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

// One attach client of the shim (see shim.h).
struct AttachClient {
  UniqueFd fd;
  streams::FrameDecoder in;
  std::string out;  // frames not yet sent
  bool hello = false, writes_stdin = false;
  bool ending = false;  // leaves once `out` is sent
  bool dead = false;
};

constexpr size_t kClientBacklog = 4 << 20;
constexpr size_t kStdinBacklog = 1 << 20;

// The container's stdio as the shim keeps it, and its attach clients.
struct Stdio {
  const ShimCommand* l = nullptr;
  int log_fd = -1;
  UniqueFd listen;
  std::vector<AttachClient> clients;
  int in_fd = -1;  // the stdin pipe's write end, or the terminal's master; -1: none
  UniqueFd in_pipe;
  bool in_open = false, close_in_when_drained = false;
  std::string pending_in;

  void broadcast(uint8_t channel, const char* data, size_t n) {
    if (clients.empty() || n == 0) return;
    std::string frame = streams::encode_frame(channel, std::string_view(data, n));
    for (auto& c : clients) {
      if (c.dead || c.ending) continue;
      if (c.out.size() > kClientBacklog)
        c.dead = true;  // a client this far behind is dropped, never waited for
      else
        c.out += frame;
    }
  }

  void end_input_of(AttachClient& c) {
    if (!c.writes_stdin) return;
    c.writes_stdin = false;
    if (l->stdin_once && !l->tty)
      close_in_when_drained = true;
    else
      c.ending = true;
  }

  void on_frame(AttachClient& c, streams::Frame& f) {
    if (!c.hello) {
      if (f.channel != kAttachHello) {
        c.dead = true;
        return;
      }
      c.hello = true;
      c.writes_stdin = f.payload == "i";
      return;
    }
    if (f.channel == streams::kStdin) {
      if (c.writes_stdin && in_open && !close_in_when_drained) pending_in += f.payload;
    } else if (f.channel == streams::kResize) {
      if (l->tty && in_fd >= 0 && f.payload.size() == 4) {
        auto b = reinterpret_cast<const unsigned char*>(f.payload.data());
        winsize ws{};
        ws.ws_col = static_cast<unsigned short>(b[0] << 8 | b[1]);
        ws.ws_row = static_cast<unsigned short>(b[2] << 8 | b[3]);
        if (ws.ws_col && ws.ws_row) ::ioctl(in_fd, TIOCSWINSZ, &ws);
      }
    } else if (f.channel == streams::kClose && !f.payload.empty() && f.payload[0] == streams::kStdin) {
      end_input_of(c);
    }
  }

  void accept_clients() {
    for (;;) {
      int fd = ::accept4(listen.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;
      UniqueFd conn(fd);
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) continue;
      if (clients.size() >= kMaxAttachClients) continue;
      clients.push_back(AttachClient{std::move(conn)});
    }
  }

  void read_client(AttachClient& c) {
    char buf[16384];
    ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0 || !c.in.feed(std::string_view(buf, static_cast<size_t>(n)))) {
      end_input_of(c);
      c.dead = true;
      return;
    }
    while (auto f = c.in.next()) on_frame(c, *f);
  }

  void write_client(AttachClient& c) {
    while (!c.out.empty()) {
      ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        c.dead = true;
        return;
      }
      c.out.erase(0, static_cast<size_t>(n));
    }
  }

  void write_input() {
    while (in_open && !pending_in.empty()) {
      ssize_t n = ::write(in_fd, pending_in.data(), pending_in.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {  // the container closed its stdin
        pending_in.clear();
        if (!l->tty) {
          in_pipe.reset();
          in_open = false;
        }
        return;
      }
      pending_in.erase(0, static_cast<size_t>(n));
    }
    if (close_in_when_drained && in_open && !l->tty) {
      in_pipe.reset();
      in_open = false;
    }
  }

  void sweep() {
    std::erase_if(clients, [](const AttachClient& c) { return c.dead || (c.ending && c.out.empty()); });
  }

  // After the container exited: what is queued goes out within `ms`, then every client is closed.
  void flush_and_close(int ms) {
    const int64_t until = realtime_ns() + int64_t{ms} * 1000000;
    for (;;) {
      sweep();
      std::vector<pollfd> p;
      for (auto& c : clients)
        if (!c.out.empty()) p.push_back({c.fd.get(), POLLOUT, 0});
      int64_t left = (until - realtime_ns()) / 1000000;
      if (p.empty() || left <= 0) break;
      ::poll(p.data(), p.size(), static_cast<int>(left));
      for (auto& c : clients)
        if (!c.out.empty()) write_client(c);
    }
    clients.clear();
    listen.reset();
  }
};

// Reads what is available on fd into lb (and to the attach clients); false at EOF or error.
bool pump(int fd, Stdio& io, LineBuffer& lb, uint8_t channel) {
  char chunk[4096];
  ssize_t n = ::read(fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;  // EIO: a terminal whose other side is closed
  feed(io.log_fd, lb, chunk, static_cast<size_t>(n));
  io.broadcast(channel, chunk, static_cast<size_t>(n));
  return true;
}

// `stdio`: the container's fds 0, 1, 2; `tty`: stdio[0] is a terminal to make the controlling one.
[[noreturn]] void run_container_child(const ShimCommand& l, char* const* argv, char* const* envp,
                                      const int* stdio, bool tty, int status_w) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
  // A terminal's session leader; otherwise a process group of its own (either way pgid == pid).
  if (tty)
    ::setsid();
  else
    ::setpgid(0, 0);
  int err = 0;
  if (l.netns_fd >= 0 && ::setns(l.netns_fd, CLONE_NEWNET) != 0) err = errno;
  // The pod's mount namespace (its /etc/resolv.conf and /etc/hosts); before chdir, which it resets.
  if (!err && l.mntns_fd >= 0 && ::setns(l.mntns_fd, CLONE_NEWNS) != 0) err = errno;
  if (!err && !l.hostname.empty() &&
      (::unshare(CLONE_NEWUTS) != 0 || ::sethostname(l.hostname.data(), l.hostname.size()) != 0))
    err = errno;
  if (!err && ::chdir(l.working_dir.empty() ? "/" : l.working_dir.c_str()) != 0) err = errno;
  int devnull = stdio[0] < 0 ? ::open("/dev/null", O_RDONLY) : stdio[0];
  if (!err && (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(stdio[1], 1) < 0 || ::dup2(stdio[2], 2) < 0))
    err = errno;
  if (!err && tty && ::ioctl(1, TIOCSCTTY, 0) != 0) err = errno;
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
  ::signal(SIGPIPE, SIG_IGN);  // a container that closed its stdin, a client gone
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
  int32_t report[2] = {0, 0};  // container pid, exec errno
  auto give_up = [&](int err) {
    report[1] = err;
    write_all(report_w, reinterpret_cast<const char*>(report), sizeof report);
    ::_exit(1);
  };

  Stdio io;
  io.l = &l;
  io.log_fd = log_fd;
  // The container's side of its stdio, and the shim's.
  UniqueFd out_r, out_w, err_r, err_w, in_r, master, slave;
  auto pipe_pair = [](UniqueFd& r, UniqueFd& w) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return false;
    r = UniqueFd(p[0]);
    w = UniqueFd(p[1]);
    return true;
  };
  const bool attach = !l.attach_path.empty();
  if (attach && l.tty) {
    master = UniqueFd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    char name[64];
    if (!master.valid() || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0 ||
        ::ptsname_r(master.get(), name, sizeof name) != 0)
      give_up(errno ? errno : EIO);
    slave = UniqueFd(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave.valid()) give_up(errno);
    winsize ws{24, 80, 0, 0};
    ::ioctl(master.get(), TIOCSWINSZ, &ws);
    io.in_fd = master.get();
    io.in_open = l.stdin;
  } else {
    if (!pipe_pair(out_r, out_w) || !pipe_pair(err_r, err_w)) give_up(errno);
    if (attach && l.stdin) {
      if (!pipe_pair(in_r, io.in_pipe)) give_up(errno);
      io.in_fd = io.in_pipe.get();
      io.in_open = true;
    }
  }
  if (attach) {
    io.listen = UniqueFd(listen_attach_socket(l.attach_path));
    if (!io.listen.valid()) give_up(errno);
  }
  int st[2];
  if (::pipe2(st, O_CLOEXEC) != 0) give_up(errno);
  int stdio[3];
  if (slave.valid()) {
    stdio[0] = l.stdin ? slave.get() : -1;
    stdio[1] = stdio[2] = slave.get();
  } else {
    stdio[0] = in_r.valid() ? in_r.get() : -1;
    stdio[1] = out_w.get();
    stdio[2] = err_w.get();
  }
  struct Child {
    const ShimCommand* l;
    char* const* argv;
    char* const* envp;
    const int* stdio;
    bool tty;
    int status_w;
  } args{&l, argv, envp, stdio, slave.valid(), st[1]};
  pid_t child = spawn_vfork(
      [](void* p) -> int {
        auto* c = static_cast<Child*>(p);
        run_container_child(*c->l, c->argv, c->envp, c->stdio, c->tty, c->status_w);
      },
      &args);
  for (auto* fd : {&out_w, &err_w, &in_r, &slave}) fd->reset();
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
  if (child < 0) {
    if (attach) ::unlink(l.attach_path.c_str());
    ::_exit(1);
  }

  LineBuffer lo{"stdout"}, le{"stderr"};
  // The container's output: its terminal, or two pipes.
  struct Source {
    int fd;
    LineBuffer* lb;
    uint8_t channel;
    bool open;
  } sources[2] = {{master.valid() ? master.get() : out_r.get(), &lo, streams::kStdout, true},
                  {err_r.valid() ? err_r.get() : -1, &le, streams::kStderr, err_r.valid()}};
  for (auto& s : sources)
    if (s.fd >= 0) ::fcntl(s.fd, F_SETFL, O_NONBLOCK);
  if (io.in_pipe.valid()) ::fcntl(io.in_pipe.get(), F_SETFL, O_NONBLOCK);
  int status = 0;
  bool exited = false;
  // The container's exit wakes the shim through a pidfd; without one (kernels before 5.3), a
  // waitpid every 200 ms.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  std::vector<pollfd> fds;
  while (!exited) {
    io.sweep();
    fds.clear();
    const bool want_in = io.in_open && !io.pending_in.empty();
    for (auto& s : sources) {
      short ev = s.open ? POLLIN : 0;
      if (s.fd == io.in_fd && want_in) ev |= POLLOUT;  // a terminal: the same fd both ways
      fds.push_back({ev ? s.fd : -1, ev, 0});
    }
    fds.push_back({want_in && io.in_pipe.valid() ? io.in_fd : -1, POLLOUT, 0});
    fds.push_back({pidfd, POLLIN, 0});
    fds.push_back(
        {io.listen.valid() && io.clients.size() < kMaxAttachClients ? io.listen.get() : -1, POLLIN, 0});
    const size_t first_client = fds.size();
    const bool take_input = io.pending_in.size() < kStdinBacklog;
    for (auto& c : io.clients)
      fds.push_back(
          {c.fd.get(),
           static_cast<short>((take_input && !c.ending ? POLLIN : 0) | (c.out.empty() ? 0 : POLLOUT)), 0});
    ::poll(fds.data(), fds.size(), pidfd >= 0 ? -1 : 200);
    for (size_t i = 0; i < 2; ++i) {
      auto& s = sources[i];
      if (s.open && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        s.open = pump(s.fd, io, *s.lb, s.channel);
      if (fds[i].revents & POLLOUT) io.write_input();
    }
    if (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) io.write_input();
    if (fds[4].revents & POLLIN) io.accept_clients();
    for (size_t i = 0; i < io.clients.size() && first_client + i < fds.size(); ++i) {
      auto& c = io.clients[i];
      short re = fds[first_client + i].revents;
      if (re & (POLLIN | POLLHUP | POLLERR)) io.read_client(c);
      if (!c.dead && !c.out.empty()) io.write_client(c);
    }
    if (!io.pending_in.empty() || io.close_in_when_drained) io.write_input();
    // A background process of the container may keep the pipes open: the container's own exit
    // is what ends the shim.
    if (::waitpid(child, &status, WNOHANG) == child) exited = true;
  }
  if (pidfd >= 0) ::close(pidfd);
  for (auto& s : sources) {
    if (s.fd < 0) continue;
    while (pump(s.fd, io, *s.lb, s.channel)) {
      pollfd p{s.fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) break;
    }
    if (s.lb->len > 0) emit(log_fd, *s.lb, s.lb->buf, s.lb->len, false);
  }
  if (attach) {
    io.flush_and_close(1000);
    ::unlink(l.attach_path.c_str());
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

// The address of `path` through its directory's descriptor (held in `dir` while it is used).
bool attach_address(const std::string& path, UniqueFd& dir, sockaddr_un& sa, socklen_t& len) {
  size_t slash = path.rfind('/');
  std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  dir = UniqueFd(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return false;
  std::string via = "/proc/self/fd/" + std::to_string(dir.get()) + "/" + base;
  if (base.empty() || via.size() >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return false;
  }
  sa = {};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, via.data(), via.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + via.size() + 1);
  return true;
}

}  // namespace

int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int listen_attach_socket(const std::string& path) {
  UniqueFd dir;
  sockaddr_un sa;
  socklen_t len;
  if (!attach_address(path, dir, sa, len)) return -1;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return -1;
  ::unlink(sa.sun_path);  // left by a shim that was killed
  mode_t old = ::umask(077);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len);
  ::umask(old);
  if (rc != 0 || ::listen(fd.get(), 8) != 0) return -1;
  return fd.release();
}

int connect_attach_socket(const std::string& path) {
  UniqueFd dir;
  sockaddr_un sa;
  socklen_t len;
  if (!attach_address(path, dir, sa, len)) return -1;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) return -1;
  return fd.release();
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
                                c.attach_path.empty()
                                    ? std::string()
                                    : std::string(c.stdin ? "i" : "") + (c.stdin_once ? "o" : "") +
                                          (c.tty ? "t" : "") + ":" + c.attach_path,
                                c.executable};
  argv.insert(argv.end(), c.argv.begin(), c.argv.end());
  return argv;
}

bool parse_shim_command(int argc, char** argv, ShimCommand& out) {
  if (argc < 11) return false;
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
  if (std::string_view a = argv[8]; !a.empty()) {
    size_t colon = a.find(':');
    if (colon == std::string_view::npos || colon + 1 == a.size()) return false;
    for (char f : a.substr(0, colon)) {
      if (f == 'i')
        out.stdin = true;
      else if (f == 'o')
        out.stdin_once = true;
      else if (f == 't')
        out.tty = true;
      else
        return false;
    }
    out.attach_path = std::string(a.substr(colon + 1));
  }
  out.executable = argv[9];
  if (out.exit_path.empty() || out.executable.empty()) return false;
  out.argv.assign(argv + 10, argv + argc);
  return true;
}

void shim_main(int argc, char** argv, char** envp) {
  ShimCommand c;
  if (!parse_shim_command(argc, argv, c)) {
    std::fprintf(stderr,
                 "usage: podnet-shim LOG_FD REPORT_FD NETNS_FD|-1 MNTNS_FD|-1 EXIT_PATH HOSTNAME WORKDIR "
                 "[iot]:ATTACH_SOCKET|'' EXECUTABLE ARGV0 "
                 "[ARG...]\n(started by the podnet agent for each container; not meant to be run by hand)\n");
    ::_exit(2);
  }
  std::vector<char*> cargv;
  for (auto& a : c.argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  run_shim(c, cargv.data(), envp);
}

}  // namespace podnet::runtime
