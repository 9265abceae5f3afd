#include "cli/demo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "common/fd.h"
#include "common/files.h"
#include "netlink/netns.h"
#include "runtime/cni_exec.h"

namespace podnet::cli {
namespace {

using netlink::NetNs;

// Cleanup steps run in reverse order when the demo ends, however it ends.
class Cleanup {
 public:
  void add(std::function<void()> f) { steps_.push_back(std::move(f)); }
  ~Cleanup() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }

 private:
  std::vector<std::function<void()>> steps_;
};

bool interrupted() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM);
}

std::string random_suffix() {
  uint16_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint16_t>(::getpid());
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", r);
  return buf;
}

std::string self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

// Runs fn in a child process inside the pod's namespace: the pod's "container".
pid_t spawn_in_pod(const NetNs& ns, const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::setns(ns.fd(), CLONE_NEWNET) != 0) ::_exit(126);
  int rc = fn();
  std::fflush(stdout);
  ::_exit(rc);
}

int wait_child(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

sockaddr_in make_addr(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// A one-connection TCP server: answers with its name and the address it sees the client at.
int serve_once(const std::string& bind_ip, uint16_t port, const std::string& name, int ready_fd) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto a = make_addr(bind_ip, port);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s.get(), 1) != 0) return 1;
  char r = 'r';
  (void)!::write(ready_fd, &r, 1);
  ::close(ready_fd);
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  UniqueFd c(::accept(s.get(), reinterpret_cast<sockaddr*>(&peer), &len));
  if (!c.valid()) return 1;
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
  std::string msg = "hello from " + name + "; I see you at " + ip + "\n";
  return ::write(c.get(), msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()) ? 0 : 1;
}

int connect_and_print(const std::string& ip, uint16_t port, const std::string& who) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{5, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto a = make_addr(ip, port);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::printf("  %s: connect %s:%u failed: %s\n", who.c_str(), ip.c_str(), port, std::strerror(errno));
    return 1;
  }
  char buf[256];
  ssize_t n = ::read(s.get(), buf, sizeof buf - 1);
  if (n <= 0) return 1;
  buf[n] = 0;
  std::printf("  %s -> %s:%u: %s", who.c_str(), ip.c_str(), port, buf);
  return 0;
}

// Starts a server process in `server_ns` and a client process in `client_ns`; true when the
// client got its answer.
bool exchange(const NetNs& server_ns, const std::string& bind_ip, const NetNs& client_ns,
              const std::string& target_ip, uint16_t port, const std::string& server_name,
              const std::string& client_name) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return false;
  pid_t server = spawn_in_pod(server_ns, [&] { return serve_once(bind_ip, port, server_name, ready[1]); });
  ::close(ready[1]);
  char c;
  bool up = ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  if (!up) {
    ::kill(server, SIGKILL);
    wait_child(server);
    return false;
  }
  pid_t client = spawn_in_pod(client_ns, [&] { return connect_and_print(target_ip, port, client_name); });
  int crc = wait_child(client);
  if (crc != 0) ::kill(server, SIGKILL);
  int src = wait_child(server);
  return crc == 0 && src == 0;
}

}  // namespace

int run_demo(const DemoOptions& opts) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "podnet demo: needs root (it creates network namespaces)\n");
    return 1;
  }
  std::string cni = opts.cni_binary.empty() ? self_dir() + "/podnet-cni" : opts.cni_binary;
  if (::access(cni.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "podnet demo: CNI plugin not found at %s (use --cni-bin)\n", cni.c_str());
    return 1;
  }
  // Ctrl-C is held pending and checked between steps, so cleanup always runs.
  sigset_t watched;
  sigemptyset(&watched);
  sigaddset(&watched, SIGINT);
  sigaddset(&watched, SIGTERM);
  sigprocmask(SIG_BLOCK, &watched, nullptr);

  const std::string sfx = std::to_string(::getpid()) + "-" + random_suffix();
  const std::string node_name = "pn-demo-node-" + sfx;
  const std::string state = "/tmp/pn-demo-" + sfx;
  struct Pod {
    std::string name, ns_name, id, ip;
    std::optional<NetNs> ns;
  };
  // Declared before `cleanup`, so they outlive the cleanup steps that refer to them.
  std::vector<Pod> pods(2);
  std::optional<NetNs> node;
  std::string conf_text;
  Cleanup cleanup;
  auto step_failed = [&](const std::string& what) {
    std::fprintf(stderr, "podnet demo: %s\n", what.c_str());
    return 1;
  };

  std::printf("podnet demo: the pod network on one node\n\n1. node namespace %s\n", node_name.c_str());
  auto created = netlink::create_named_netns(node_name);
  if (!created) return step_failed(created.error().message());
  node = std::move(*created);
  cleanup.add([&] { (void)netlink::delete_named_netns(node_name); });
  if (auto s = make_dirs(state); !s) return step_failed(s.error().message());
  cleanup.add([&] {
    std::error_code ec;
    std::filesystem::remove_all(state, ec);
  });

  boost::json::object conf{
      {"cniVersion", "1.1.0"},
      {"name", "podnet-demo"},
      {"type", "podnet"},
      {"bridge", "pndemo0"},
      {"isDefaultGateway", true},
      {"stateDir", state + "/state"},
      {"ipam", boost::json::object{{"type", "podnet"},
                                   {"dataDir", state + "/ipam"},
                                   {"ranges", boost::json::array{boost::json::array{
                                                  boost::json::object{{"subnet", opts.subnet}}}}}}}};
  conf_text = boost::json::serialize(conf);

  pods[0].name = "pod-a";
  pods[1].name = "pod-b";
  for (auto& p : pods) p.ns_name = p.id = "pn-demo-" + p.name.substr(4) + "-" + sfx;
  for (auto& p : pods) {
    if (interrupted()) return step_failed("interrupted");
    auto ns = netlink::create_named_netns(p.ns_name);
    if (!ns) return step_failed(ns.error().message());
    cleanup.add([&p] { (void)netlink::delete_named_netns(p.ns_name); });
    p.ns = std::move(*ns);
    runtime::CniRequest req{cni, "ADD",          p.id,      p.ns->path(), "eth0",
                            "",  "/usr/lib/cni", conf_text, node->fd()};
    auto r = runtime::exec_cni(req);
    if (!r || r->exit_code != 0)
      return step_failed("CNI ADD for " + p.name + " failed: " + (r ? r->out : r.error().message()));
    cleanup.add([&p, &node, &conf_text, cni] {
      runtime::CniRequest del{cni, "DEL",          p.id,      p.ns->path(), "eth0",
                              "",  "/usr/lib/cni", conf_text, node->fd()};
      auto d = runtime::exec_cni(del);
      if (!d || d->exit_code != 0)
        std::fprintf(stderr, "podnet demo: CNI DEL for %s failed\n", p.name.c_str());
    });
    auto v = boost::json::parse(r->out).as_object();
    std::string addr(v.at("ips").as_array()[0].as_object().at("address").as_string());
    p.ip = addr.substr(0, addr.find('/'));
    std::printf("2. %s: namespace %s, CNI ADD gave eth0 %s on bridge pndemo0\n", p.name.c_str(),
                p.ns_name.c_str(), addr.c_str());
  }

  std::printf("\n3. pod-to-pod: a process in pod-b serves, a process in pod-a connects (no NAT)\n");
  std::fflush(stdout);
  bool ok = exchange(*pods[1].ns, "0.0.0.0", *pods[0].ns, pods[1].ip, 8080, "pod-b", "pod-a");
  std::printf("\n4. container-to-container: two processes in pod-a talk over 127.0.0.1\n");
  std::fflush(stdout);
  ok = exchange(*pods[0].ns, "127.0.0.1", *pods[0].ns, "127.0.0.1", 9000, "pod-a/container-1",
                "pod-a/container-2") &&
       ok;
  if (interrupted()) return step_failed("interrupted");

  std::printf("\n5. cleaning up: CNI DEL, namespaces, state\n");
  std::fflush(stdout);
  return ok ? 0 : step_failed("a connection failed");
}

}  // namespace podnet::cli
