// One thread per session: a poll loop over the connection, the command's output pipes (or its
// pty), its stdin pipe while input waits, and a pidfd for its exit. The connection's socket is
// blocking; it is read only when poll says so (or OpenSSL holds a decrypted record), so a write
// never waits behind a read. Input the command does not take yet stops reads from the connection
// (backpressure to the API server and on to the client).
#include "runtime/exec_session.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/fd.h"
#include "common/query.h"
#include "common/request_target.h"
#include "common/stream_frames.h"
#include "runtime/spawn.h"
#include "runtime/tls_send.h"

namespace podnet::runtime {
namespace json = boost::json;

namespace {

constexpr size_t kMaxCommandArgs = 4096;
constexpr size_t kMaxTarget = 64 * 1024;
constexpr size_t kReadChunk = 32 * 1024;
constexpr size_t kStdinBacklog = 1 << 20;  // input held for the command before reads pause
// After the command exits, output its children still write is relayed this long at most.
constexpr auto kDrainAfterExit = std::chrono::seconds(1);
constexpr auto kFirstSizeWait = std::chrono::milliseconds(500);
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::unexpected<ExecRequestError> bad(std::string message) {
  return std::unexpected(ExecRequestError{400, std::move(message)});
}

// Everything the vfork'd child needs, prepared before it runs (it may only make system calls).
struct ChildSetup {
  std::vector<int> ns_fds;  // setns() targets, in order
  int cwd_fd = -1;
  int stdio[3] = {-1, -1, -1};
  bool tty = false;
  std::vector<const char*> argv, envp, candidates;
  // Written by the child (shared memory until it execs).
  int err = 0;
  const char* step = nullptr;
};

int child_main(void* p) {
  auto* s = static_cast<ChildSetup*>(p);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (s->tty ? ::setsid() < 0 : ::setpgid(0, 0) != 0) {
    s->err = errno;
    s->step = "new session";
    return 126;
  }
  for (int fd : s->ns_fds)
    if (::setns(fd, 0) != 0) {
      s->err = errno;
      s->step = "enter the container's namespaces";
      return 126;
    }
  if (s->cwd_fd < 0 || ::fchdir(s->cwd_fd) != 0) (void)::chdir("/");
  for (int i = 0; i < 3; ++i)
    if (::dup2(s->stdio[i], i) < 0) {
      s->err = errno;
      s->step = "set up stdio";
      return 126;
    }
  if (s->tty) ::ioctl(0, TIOCSCTTY, 0);
  int last = ENOENT;
  for (const char* path : s->candidates) {
    ::execve(path, const_cast<char* const*>(s->argv.data()), const_cast<char* const*>(s->envp.data()));
    if (errno != ENOENT && errno != ENOTDIR) last = errno;
  }
  s->err = last;
  s->step = "exec";
  return last == ENOENT ? 127 : 126;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

dev_t ns_inode(const std::string& path, ino_t& ino) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  ino = st.st_ino;
  return st.st_dev;
}

bool same_ns(const std::string& a, const std::string& b) {
  ino_t ia = 0, ib = 0;
  dev_t da = ns_inode(a, ia), db = ns_inode(b, ib);
  return da != 0 && da == db && ia == ib;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// The process group (or session) of the command: it may have forked.
void kill_command(pid_t pid) {
  if (pid <= 0) return;
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

}  // namespace

std::expected<ContainerTarget, ExecRequestError> parse_container_target(std::string_view t,
                                                                        std::string_view kind,
                                                                        size_t max_params) {
  std::string_view path = t.substr(0, t.find('?'));
  std::string_view query = path.size() < t.size() ? t.substr(path.size() + 1) : std::string_view();
  const std::string prefix = "/" + std::string(kind) + "/";
  const std::string shape = "expected " + prefix + "<namespace>/<pod>/<container>";
  if (!path.starts_with(prefix)) return std::unexpected(ExecRequestError{404, shape});
  auto parts = target::decode_segments(path.substr(prefix.size()), 3);
  if (!parts) return bad(parts.error());
  if (parts->size() != 3) return std::unexpected(ExecRequestError{404, shape});
  static constexpr const char* kWhat[] = {"namespace", "pod", "container"};
  for (size_t i = 0; i < 3; ++i)
    if (!target::valid_name((*parts)[i])) return bad(std::string("invalid ") + kWhat[i] + " name");
  ContainerTarget out{(*parts)[0], (*parts)[1], (*parts)[2], {}};
  auto params = target::parse_query(query, max_params);
  if (!params) return bad(params.error());
  out.params.reserve(params->size());
  for (auto& p : *params) out.params.emplace_back(std::move(p.key), std::move(p.value));
  return out;
}

std::expected<ExecRequest, ExecRequestError> parse_exec_request(std::string_view t) {
  if (t.size() > kMaxTarget) return bad("request target too long");
  auto ct = parse_container_target(t, "exec", kMaxCommandArgs + 8);
  if (!ct) return std::unexpected(ct.error());
  ExecRequest r{std::move(ct->ns), std::move(ct->pod), std::move(ct->container), {}};
  for (auto& [key, value] : ct->params) {
    if (key == "command") {
      if (value.find('\0') != std::string::npos) return bad("command: NUL byte in an argument");
      if (r.command.size() >= kMaxCommandArgs) return bad("command: too many arguments");
      r.command.push_back(std::move(value));
    } else if (key == "input") {
      r.stdin = target::kube_bool(value);
    } else if (key == "output") {
      r.stdout = target::kube_bool(value);
    } else if (key == "error") {
      r.stderr = target::kube_bool(value);
    } else if (key == "tty") {
      r.tty = target::kube_bool(value);
    }
  }
  if (r.command.empty() || r.command[0].empty()) return bad("you must specify at least 1 command");
  if (!r.stdin && !r.stdout && !r.stderr) return bad("you must specify at least 1 of stdin, stdout, stderr");
  if (r.tty) r.stderr = false;  // a terminal has one output stream, as kubelet's
  return r;
}

std::string exit_status_json(const std::vector<std::string>& command, int exit_code) {
  if (exit_code == 0) return R"({"metadata":{},"status":"Success"})";
  json::object s{{"metadata", json::object{}},
                 {"status", "Failure"},
                 {"message", "command terminated with non-zero exit code: command '" + join(command) +
                                 "' exited with " + std::to_string(exit_code)},
                 {"reason", "NonZeroExitCode"},
                 {"details",
                  {{"causes", json::array{json::object{{"reason", "ExitCode"},
                                                       {"message", std::to_string(exit_code)}}}}}}};
  return json::serialize(s);
}

std::string failure_status_json(const std::string& message, const std::string& reason, int code) {
  json::object s{{"metadata", json::object{}},
                 {"status", "Failure"},
                 {"message", message},
                 {"reason", reason},
                 {"code", code}};
  return json::serialize(s);
}

void run_exec_session(SSL* ssl, int fd, const ExecRequest& req, const ProcessId& target,
                      const ExecOptions& options, const std::atomic<bool>& stopping) {
  auto send_frame = [&](uint8_t ch, std::string_view data) {
    return send_all(ssl, streams::encode_frame(ch, data));
  };
  auto fail_session = [&](const std::string& message) {
    send_frame(streams::kError, failure_status_json(message));
  };

  // The container's namespaces, environment and directory, from the process named, opened before
  // its start time is checked again: a pid reused meanwhile is refused, never entered.
  const std::string proc = "/proc/" + std::to_string(target.pid);
  std::vector<UniqueFd> ns_fds;
  for (const char* ns : {"net", "uts", "mnt"}) {
    std::string path = proc + "/ns/" + ns;
    if (std::string(ns) == "mnt" && same_ns(path, "/proc/self/ns/mnt")) continue;
    UniqueFd nfd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!nfd.valid()) return fail_session("container not found (\"" + req.container + "\")");
    ns_fds.push_back(std::move(nfd));
  }
  UniqueFd cwd(::open((proc + "/cwd").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string environ = read_file(proc + "/environ");
  if (proc_start_time(target.pid) != target.start_time)
    return fail_session("container not found (\"" + req.container + "\")");

  ContainerContext ctx;
  ctx.path_var = kDefaultPath;
  for (size_t pos = 0; pos < environ.size();) {
    size_t end = environ.find('\0', pos);
    if (end == std::string::npos) end = environ.size();
    std::string var = environ.substr(pos, end - pos);
    if (var.starts_with("PATH=")) ctx.path_var = var.substr(5);
    if (!var.empty()) ctx.env.push_back(std::move(var));
    pos = end + 1;
  }
  if (req.tty && std::none_of(ctx.env.begin(), ctx.env.end(),
                              [](const std::string& v) { return v.starts_with("TERM="); }))
    ctx.env.push_back("TERM=xterm");

  // stdio: pipes, or one pty for a terminal; what was not asked for is /dev/null.
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  UniqueFd in_w, out_r, err_r, child_fds[3], master;
  auto make_pipe = [](UniqueFd& r, UniqueFd& w) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return false;
    r = UniqueFd(p[0]);
    w = UniqueFd(p[1]);
    return true;
  };
  // A resize frame's TTY size JSON ({"Width":..,"Height":..}) applied to the terminal.
  auto apply_resize = [&](std::string_view payload) {
    boost::system::error_code ec;
    json::value size = json::parse(payload, ec);
    const json::object* o = ec ? nullptr : size.if_object();
    auto dim = [&](const char* k) -> unsigned short {
      const json::value* v = o ? o->if_contains(k) : nullptr;
      return v && v->is_int64() && v->get_int64() > 0 && v->get_int64() < 65536
                 ? static_cast<unsigned short>(v->get_int64())
                 : 0;
    };
    unsigned short w = dim("Width"), h = dim("Height");
    if (!w || !h || !master.valid()) return false;
    winsize ws{h, w, 0, 0};
    return ::ioctl(master.get(), TIOCSWINSZ, &ws) == 0;
  };
  ChildSetup setup;
  if (req.tty) {
    master = UniqueFd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    char name[64];
    if (!master.valid() || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0 ||
        ::ptsname_r(master.get(), name, sizeof name) != 0)
      return fail_session(std::string("allocate a terminal: ") + std::strerror(errno));
    UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave.valid()) return fail_session(std::string("open the terminal: ") + std::strerror(errno));
    winsize ws{24, 80, 0, 0};
    ::ioctl(master.get(), TIOCSWINSZ, &ws);
    child_fds[0] = std::move(slave);
    setup.tty = true;
    for (int& s : setup.stdio) s = child_fds[0].get();
    if (!req.stdin) setup.stdio[0] = devnull.get();
  } else {
    if (req.stdin && !make_pipe(child_fds[0], in_w)) return fail_session("pipe");
    if (req.stdout && !make_pipe(out_r, child_fds[1])) return fail_session("pipe");
    if (req.stderr && !make_pipe(err_r, child_fds[2])) return fail_session("pipe");
    for (int i = 0; i < 3; ++i) setup.stdio[i] = child_fds[i].valid() ? child_fds[i].get() : devnull.get();
  }
  for (auto& n : ns_fds) setup.ns_fds.push_back(n.get());
  setup.cwd_fd = cwd.get();
  for (const auto& a : req.command) setup.argv.push_back(a.c_str());
  setup.argv.push_back(nullptr);
  for (const auto& e : ctx.env) setup.envp.push_back(e.c_str());
  setup.envp.push_back(nullptr);
  std::vector<std::string> candidates;
  const std::string& cmd = req.command[0];
  if (cmd.find('/') != std::string::npos) {
    candidates.push_back(cmd);
  } else {
    for (size_t pos = 0; pos <= ctx.path_var.size();) {
      size_t colon = ctx.path_var.find(':', pos);
      if (colon == std::string::npos) colon = ctx.path_var.size();
      std::string dir = ctx.path_var.substr(pos, colon - pos);
      candidates.push_back((dir.empty() ? "." : dir) + "/" + cmd);
      pos = colon + 1;
    }
  }
  for (const auto& c : candidates) setup.candidates.push_back(c.c_str());

  // A terminal's first size (kubectl sends it as soon as the stream is open) is set before the
  // command starts: a shell that asks for its size at once must see the client's, not 80x24.
  // Frames read meanwhile are kept for the loop below; a client that sends no size waits
  // kFirstSizeWait at most.
  std::string early;
  if (req.tty) {
    streams::FrameDecoder peek;
    const auto until = std::chrono::steady_clock::now() + kFirstSizeWait;
    bool sized = false;
    char chunk[4096];
    while (!sized && !peek.bad() && early.size() < kStdinBacklog &&
           std::chrono::steady_clock::now() < until) {
      pollfd pf{fd, POLLIN, 0};
      if (SSL_pending(ssl) == 0 && ::poll(&pf, 1, 20) <= 0) continue;
      size_t got = 0;
      if (SSL_read_ex(ssl, chunk, sizeof chunk, &got) != 1) return;  // the API server hung up
      early.append(chunk, got);
      peek.feed(std::string_view(chunk, got));
      while (auto f = peek.next())
        if (f->channel == streams::kResize) sized = apply_resize(f->payload);
    }
  }

  pid_t pid = spawn_vfork(child_main, &setup);
  if (pid < 0) return fail_session(std::string("start the command: ") + std::strerror(errno));
  for (auto& c : child_fds) c.reset();
  UniqueFd pidfd = open_pidfd(ProcessId{pid, proc_start_time(pid)});
  if (setup.step) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    std::string why = setup.err == ENOENT && std::string(setup.step) == "exec"
                          ? "exec: \"" + cmd + "\": executable file not found in $PATH"
                          : std::string(setup.step) + ": " + std::strerror(setup.err);
    return fail_session("error executing command in container: " + why);
  }

  int in_fd = req.tty ? (req.stdin ? master.get() : -1) : in_w.get();
  int out_fd = req.tty ? master.get() : out_r.get();
  int err_fd = err_r.get();
  if (in_fd >= 0) set_nonblocking(in_fd);
  if (out_fd >= 0) set_nonblocking(out_fd);
  if (err_fd >= 0) set_nonblocking(err_fd);
  bool in_open = in_fd >= 0, out_open = out_fd >= 0, err_open = err_fd >= 0, close_in = false;
  std::string pending_in;
  streams::FrameDecoder decoder;
  decoder.feed(early);
  std::optional<int> exit_code;
  auto exited_at = std::chrono::steady_clock::now();
  auto last_activity = std::chrono::steady_clock::now();
  char buf[kReadChunk];

  auto end_input = [&] {
    if (!in_open) return;
    in_open = false;
    if (req.tty) {
      // A terminal's end of input is its EOF character, as a user's ^D.
      char eof = 4;
      (void)::write(master.get(), &eof, 1);
    } else {
      in_w.reset();
    }
  };
  auto finish = [&](const std::string& status) {
    send_frame(streams::kError, status);
    SSL_shutdown(ssl);
  };
  auto abandon = [&] {
    kill_command(pid);
    ::waitpid(pid, nullptr, 0);
  };

  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (stopping) {
      abandon();
      return finish(failure_status_json("the node agent is stopping: the command was killed"));
    }
    if (now - last_activity > options.idle_timeout) {
      abandon();
      return finish(failure_status_json("the exec session was idle for longer than the node's " +
                                        std::to_string(options.idle_timeout.count()) + " ms: closed"));
    }
    if (exit_code && ((!out_open && !err_open) || now - exited_at > kDrainAfterExit)) break;

    // Frames already received and decrypted first.
    while (auto f = decoder.next()) {
      last_activity = now;
      if (f->channel == streams::kStdin && in_open) {
        pending_in += f->payload;
      } else if (f->channel == streams::kClose && !f->payload.empty() &&
                 static_cast<uint8_t>(f->payload[0]) == streams::kStdin) {
        close_in = true;
      } else if (f->channel == streams::kResize && req.tty) {
        apply_resize(f->payload);
      }
    }
    if (pending_in.empty() && close_in) end_input();
    if (!in_open) pending_in.clear();

    pollfd p[5];
    int n = 0;
    int i_sock = -1, i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
    bool want_sock = pending_in.size() < kStdinBacklog && !decoder.bad();
    if (want_sock) p[i_sock = n++] = {fd, POLLIN, 0};
    if (in_open && !pending_in.empty() && !req.tty) p[i_in = n++] = {in_fd, POLLOUT, 0};
    if (out_open)
      p[i_out = n++] = {
          out_fd, static_cast<short>(POLLIN | (req.tty && in_open && !pending_in.empty() ? POLLOUT : 0)), 0};
    if (err_open) p[i_err = n++] = {err_fd, POLLIN, 0};
    if (!exit_code && pidfd.valid()) p[i_pid = n++] = {pidfd.get(), POLLIN, 0};
    int timeout = want_sock && SSL_pending(ssl) > 0 ? 0 : 200;
    if (::poll(p, n, timeout) < 0 && errno != EINTR) break;

    if (want_sock && (SSL_pending(ssl) > 0 || (p[i_sock].revents & (POLLIN | POLLHUP | POLLERR)))) {
      size_t got = 0;
      if (SSL_read_ex(ssl, buf, sizeof buf, &got) != 1) {
        // The API server hung up (its client did): the command goes too.
        abandon();
        return;
      }
      if (!decoder.feed(std::string_view(buf, got))) {
        abandon();
        return finish(failure_status_json("malformed stream frames", "BadRequest", 400));
      }
    }
    // Input: to the pipe, or to the terminal (written when it is writable).
    bool can_write_in = (i_in >= 0 && (p[i_in].revents & (POLLOUT | POLLERR | POLLHUP))) ||
                        (req.tty && i_out >= 0 && (p[i_out].revents & POLLOUT));
    if (can_write_in && in_open && !pending_in.empty()) {
      ssize_t w = ::write(in_fd, pending_in.data(), pending_in.size());
      if (w > 0) {
        pending_in.erase(0, static_cast<size_t>(w));
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        in_open = false;  // the command closed its input
        in_w.reset();
      }
    }
    auto relay = [&](int idx, int rfd, bool& open, uint8_t ch) {
      if (idx < 0 || !(p[idx].revents & (POLLIN | POLLHUP | POLLERR))) return true;
      ssize_t r = ::read(rfd, buf, sizeof buf);
      if (r > 0) {
        last_activity = std::chrono::steady_clock::now();
        return send_frame(ch, std::string_view(buf, static_cast<size_t>(r)));
      }
      if (r == 0 || (errno != EAGAIN && errno != EINTR)) open = false;  // EIO: the terminal's end
      return true;
    };
    if (!relay(i_out, out_fd, out_open, streams::kStdout) ||
        !relay(i_err, err_fd, err_open, streams::kStderr)) {
      abandon();
      return;
    }
    if (i_pid >= 0 && (p[i_pid].revents & POLLIN)) {
      int st = 0;
      if (::waitpid(pid, &st, 0) == pid) {
        exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        exited_at = std::chrono::steady_clock::now();
        end_input();
      }
    }
    if (!exit_code && !pidfd.valid()) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        exited_at = std::chrono::steady_clock::now();
      }
    }
  }
  // Children of the command that keep its output open are not waited for (nor killed: as with
  // kubelet, what the command left running in the container stays).
  finish(exit_status_json(req.command, exit_code.value_or(1)));
}

}  // namespace podnet::runtime
