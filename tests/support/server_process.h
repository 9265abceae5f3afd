// The real `podnet server` binary as a child process for end-to-end tests, and kubectl against it.
//
//   ServerProcess server(dir, {"--lb-pool", "192.168.213.240/28"});   // data in <dir>/data
//   ASSERT_TRUE(server.start()) << server.log();   // --port 0; the port is read back from the
//                                                  // admin.kubeconfig it writes
//   auto r = run_kubectl(server.kubeconfig(), dir, {"get", "ns"});     // r.code, r.out
//   server.kill9(); server.start();                // restarted on the same data directory
//   EXPECT_EQ(server.stop(), 0);                   // SIGTERM, the exit code
//
// KubectlServerTest is a GoogleTest fixture doing the above around each test: a TempDir, the server
// started in SetUp (the test is skipped without /usr/bin/kubectl) and stopped cleanly in TearDown.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "support/kubectl.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace podnet::testing {

class ServerProcess {
 public:
  ServerProcess(std::string dir, std::vector<std::string> extra_args = {})
      : dir_(std::move(dir)), data_(dir_ + "/data"), extra_(std::move(extra_args)) {}
  ~ServerProcess() { kill9(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server (output appended to <dir>/server.log) and waits until its kubeconfig names
  // its port and the admin credentials are written. False on timeout (10 s).
  bool start() {
    std::filesystem::remove(kubeconfig());
    std::vector<std::string> args{podnet_bin(), "server", "--data-dir", data_, "--port", "0"};
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
          admin_cert_ = *cert;
          admin_key_ = *key;
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
    int code = wait_exit_code(pid_);
    pid_ = -1;
    return code;
  }

  const std::string& data_dir() const { return data_; }
  std::string kubeconfig() const { return data_ + "/admin.kubeconfig"; }
  std::string log() const { return read_file(dir_ + "/server.log").value_or(""); }
  pid_t pid() const { return pid_; }
  // Known after start(): the port, the cluster CA and the admin's client certificate and key (PEM).
  uint16_t port() const { return port_; }
  const std::string& ca() const { return ca_; }
  const std::string& admin_cert() const { return admin_cert_; }
  const std::string& admin_key() const { return admin_key_; }

 private:
  std::string dir_, data_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string ca_, admin_cert_, admin_key_;
};

struct KubectlResult {
  int code = -1;
  std::string out;  // stdout and stderr
};

// Runs kubectl as whoever `kubeconfig` names; its output goes through <scratch_dir>/kubectl.out.
inline KubectlResult run_kubectl(const std::string& kubeconfig, const std::string& scratch_dir,
                                 std::vector<std::string> args) {
  args.insert(args.begin(), {kKubectl, "--kubeconfig", kubeconfig, "--request-timeout=20s"});
  std::string out = scratch_dir + "/kubectl.out";
  std::filesystem::remove(out);
  int code = wait_exit_code(spawn_logged(args, out));
  return {code, read_file(out).value_or("")};
}

// A test against its own `podnet server`: `dir_prefix` names the TempDir, `server_args` are added
// to the server's command line.
class KubectlServerTest : public ::testing::Test {
 protected:
  explicit KubectlServerTest(const std::string& dir_prefix, std::vector<std::string> server_args = {})
      : dir_(dir_prefix), server_(dir_.path(), std::move(server_args)) {}

  void SetUp() override {
    if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server_.start()) << server_.log();
  }
  void TearDown() override {
    if (server_.pid() > 0) {
      EXPECT_EQ(server_.stop(), 0) << "clean shutdown on SIGTERM\n" << server_.log();
    }
  }

  // As the admin, or as whoever `kubeconfig` names.
  KubectlResult kubectl(std::vector<std::string> args, const std::string& kubeconfig = "") {
    return run_kubectl(kubeconfig.empty() ? server_.kubeconfig() : kubeconfig, dir_.path(), std::move(args));
  }
  // Writes a file in the test's directory; its path.
  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
  // A file of the test's directory ("" when there is none).
  std::string log(const std::string& name) const { return read_file(dir_.path() + "/" + name).value_or(""); }

  TempDir dir_;
  ServerProcess server_;  // after dir_: killed before the directory goes
};

}  // namespace podnet::testing
