#include "runtime/cni_exec.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "runtime/spawn.h"

namespace podnet::runtime {

Result<CniProcess> start_cni(const CniRequest& req) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return fail("pipe for " + req.binary);
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return fail("pipe for " + req.binary);
  UniqueFd out_r(out[0]), out_w(out[1]);

  std::vector<std::string> env;
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) env.push_back(std::string(k) + "=" + v);
  };
  put("CNI_COMMAND", req.command);
  put("CNI_CONTAINERID", req.container_id);
  put("CNI_NETNS", req.netns);
  put("CNI_IFNAME", req.ifname);
  put("CNI_ARGS", req.args);
  put("CNI_PATH", req.path);
  env.push_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = req.binary;
  char* argv[] = {arg0.data(), nullptr};

  struct Child {
    const CniRequest* req;
    int in_r, out_w;
    char** argv;
    char** envp;
  } child{&req, in_r.get(), out_w.get(), argv, envp.data()};
  // Only async-signal-safe calls in the child: it shares our memory until execve.
  auto run = [](void* p) -> int {
    auto* c = static_cast<Child*>(p);
    if (c->req->node_netns_fd >= 0 && ::setns(c->req->node_netns_fd, CLONE_NEWNET) != 0) return 126;
    if (::dup2(c->in_r, 0) < 0 || ::dup2(c->out_w, 1) < 0) return 126;
    ::execve(c->req->binary.c_str(), c->argv, c->envp);
    return 127;
  };
  pid_t pid = spawn_vfork(run, &child);
  if (pid < 0) return fail("spawn " + req.binary);
  in_r.reset();
  out_w.reset();
  size_t off = 0;
  while (off < req.config.size()) {
    ssize_t n = ::write(in_w.get(), req.config.data() + off, req.config.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the plugin stopped reading; its exit status tells the rest
    off += static_cast<size_t>(n);
  }
  in_w.reset();
  return CniProcess{pid, std::move(out_r)};
}

Result<CniOutput> wait_cni(CniProcess& proc) {
  CniOutput r;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(proc.stdout_fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.out.append(buf, static_cast<size_t>(n));
  }
  proc.stdout_fd.reset();
  int status = 0;
  while (::waitpid(proc.pid, &status, 0) < 0) {
    if (errno != EINTR) return fail("wait for CNI plugin pid " + std::to_string(proc.pid));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

Result<CniOutput> exec_cni(const CniRequest& req) {
  PODNET_TRY(proc, start_cni(req));
  return wait_cni(proc);
}

}  // namespace podnet::runtime
