#include "runtime/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "runtime/container_process.h"

namespace podnet::runtime {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

Result<UniqueFd> connect_to(const ProbeTarget& t, const std::string& host, int port,
                            Clock::time_point deadline) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = host.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (family == AF_INET) {
    auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &sa->sin_addr) != 1) return fail("probe address " + host, EINVAL);
    len = sizeof(sockaddr_in);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET6, host.c_str(), &sa->sin6_addr) != 1)
      return fail("probe address " + host, EINVAL);
    len = sizeof(sockaddr_in6);
  }
  // A socket belongs to the namespace it was created in, whichever thread uses it later.
  auto make = [&]() -> Result<UniqueFd> {
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fail("probe socket");
    return fd;
  };
  PODNET_TRY(fd, t.node_ns ? t.node_ns->run(make) : make());
  std::string where = host + ":" + std::to_string(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return fail("dial " + where);
    pollfd p{fd.get(), POLLOUT, 0};
    int n = ::poll(&p, 1, ms_left(deadline));
    if (n == 0) return fail("dial " + where + ": timeout", ETIMEDOUT);
    int err = 0;
    socklen_t el = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &el);
    if (n < 0 || err != 0) return fail("dial " + where, err ? err : errno);
  }
  return fd;
}

// The path as a request target: bytes that would end or split the request line (controls, space)
// and non-ASCII ones are percent-encoded, as kubelet's URL formatting does.
std::string request_target(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (c <= 0x20 || c >= 0x7f) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out.empty() || out[0] != '/' ? "/" + out : out;
}

ProbeOutcome http_get(const Probe& probe, int port, const ProbeTarget& t, Clock::time_point deadline) {
  if (probe.https) return {false, "httpGet with scheme HTTPS is not supported"};
  std::string host = probe.host.empty() ? t.pod_ip : probe.host;
  auto fd = connect_to(t, host, port, deadline);
  if (!fd) return {false, fd.error().message()};
  std::string hosthdr = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string req = "GET " + request_target(probe.path) + " HTTP/1.1\r\nHost: " + hosthdr + ":" +
                    std::to_string(port) +
                    "\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  size_t off = 0;
  while (off < req.size()) {
    pollfd p{fd->get(), POLLOUT, 0};
    if (::poll(&p, 1, ms_left(deadline)) <= 0) return {false, "HTTP probe: send timeout"};
    ssize_t n = ::send(fd->get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) continue;
    if (n <= 0) return {false, std::string("HTTP probe: send: ") + std::strerror(errno)};
    off += static_cast<size_t>(n);
  }
  std::string resp;
  while (resp.find("\r\n") == std::string::npos && resp.size() < 4096) {
    pollfd p{fd->get(), POLLIN, 0};
    if (::poll(&p, 1, ms_left(deadline)) <= 0) return {false, "HTTP probe: timeout awaiting response"};
    char buf[1024];
    ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EAGAIN) continue;
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  int code = 0;
  if (std::sscanf(resp.c_str(), "HTTP/%*d.%*d %d", &code) != 1)
    return {false, "HTTP probe: malformed response"};
  if (code >= 200 && code < 400) return {true, ""};
  return {false, "HTTP probe failed with statuscode: " + std::to_string(code)};
}

ProbeOutcome exec_probe(const Probe& probe, const ProbeTarget& t, Clock::time_point deadline) {
  std::string path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : t.env)
    if (e.starts_with("PATH=")) path_var = e.substr(5);
  auto exe = resolve_executable(probe.command[0], path_var);
  if (!exe) return {false, exe.error().message()};
  std::vector<std::string> argv_s = probe.command, env_s = t.env;
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  int ns_fd = t.pod_ns ? t.pod_ns->fd() : -1;
  pid_t pid = ::fork();
  if (pid < 0) return {false, std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setpgid(0, 0);
    if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) != 0) ::_exit(126);
    if (t.pod_mnt_fd >= 0 && ::setns(t.pod_mnt_fd, CLONE_NEWNS) != 0) ::_exit(126);
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0), ::dup2(null, 1), ::dup2(null, 2);
    }
    ::execve(exe->c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  pollfd p{pidfd.get(), POLLIN, 0};
  int ready = pidfd.valid() ? ::poll(&p, 1, ms_left(deadline)) : 1;
  if (ready == 0) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (ready == 0) return {false, "command timed out"};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, ""};
  return {false, "command exited with " +
                     std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status))};
}

}  // namespace

ProbeOutcome run_probe(const Probe& probe, const ContainerSpec& container, const ProbeTarget& target) {
  auto deadline = Clock::now() + std::chrono::seconds(probe.timeout_seconds);
  if (probe.kind == Probe::Kind::kExec) return exec_probe(probe, target, deadline);
  int port = probe_port(probe, container);
  if (port <= 0 || port > 65535) return {false, "probe port " + probe.port_name + " not found"};
  if (probe.kind == Probe::Kind::kHttp) return http_get(probe, port, target, deadline);
  std::string host = probe.host.empty() ? target.pod_ip : probe.host;
  auto fd = connect_to(target, host, port, deadline);
  if (!fd) return {false, fd.error().message()};
  return {true, ""};
}

}  // namespace podnet::runtime
