// The real `podnet server` binary as a child process for end-to-end tests: started on a free port
// (--port 0; the port is read back from the admin.kubeconfig it writes), killed with SIGKILL or
// stopped with SIGTERM, restarted on the same data directory; plus kubectl runs against it.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "tls_client.h"

namespace podnet::apiserver::testing {

// fork+exec with stdout and stderr appended to `log`; returns the child's PID.
inline pid_t spawn_logged(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

class ServerProcess {
 public:
  ServerProcess(std::string dir, std::vector<std::string> extra_args = {})
      : dir_(std::move(dir)), data_(dir_ + "/data"), extra_(std::move(extra_args)) {}
  ~ServerProcess() { kill9(); }

  // Starts the server and waits until its kubeconfig names its port. False on timeout.
  bool start() {
    std::filesystem::remove(kubeconfig());
    std::vector<std::string> args{
        std::string(PODNET_BINARY_DIR) + "/podnet", "server", "--data-dir", data_, "--port", "0"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = spawn_logged(args, dir_ + "/server.log");
    using namespace std::chrono_literals;
    for (int i = 0; i < 400; ++i) {
      if (auto text = read_file(kubeconfig()); text) {
        auto at = text->find("server: https://127.0.0.1:");
        if (at != std::string::npos) {
          port_ = static_cast<uint16_t>(std::stoi(text->substr(at + 26)));
          auto ca = read_file(data_ + "/pki/ca.crt");
          auto cert = read_file(data_ + "/pki/admin.crt");
          auto key = read_file(data_ + "/pki/admin.key");
          if (!ca || !cert || !key) return false;
          ca_ = *ca;
          admin_ = KeyPair{*cert, *key};
          return true;
        }
      }
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }

  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // SIGTERM; the exit status (-1 when it did not exit normally).
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  TlsClient admin() const { return TlsClient(port_, ca_, admin_); }
  std::string kubeconfig() const { return data_ + "/admin.kubeconfig"; }
  std::string log() const { return read_file(dir_ + "/server.log").value_or(""); }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_, data_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string ca_;
  KeyPair admin_;
};

struct KubectlResult {
  int code = -1;
  std::string out;  // stdout and stderr
};

inline KubectlResult run_kubectl(const std::string& kubeconfig, const std::string& scratch_dir,
                                 std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/kubectl", "--kubeconfig", kubeconfig, "--request-timeout=20s"});
  std::string out = scratch_dir + "/kubectl.out";
  std::filesystem::remove(out);
  pid_t pid = spawn_logged(args, out);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out).value_or("")};
}

}  // namespace podnet::apiserver::testing
