// Issue 17: `kubectl exec` and `kubectl attach` over plain SPDY/3.1 (kubectl's fallback when a
// server refuses the WebSocket upgrade; forced here with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) on
// a `podnet up` cluster, with the real kubectl: the API server answers the SPDY upgrade with
// v4.channel.k8s.io and translates the client's SPDY streams (error, stdin, stdout, stderr,
// resize) into the node's stream framing. One cluster for all of it (bring-up is most of the time).
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/files.h"
#include "support/kubectl.h"
#include "support/pty_driver.h"
#include "support/temp_dir.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

json::object container(const std::string& name, json::array command, json::object extra = {}) {
  json::object c{{"name", name}, {"image", "unused"}, {"command", std::move(command)}};
  for (auto& [k, v] : extra) c[k] = v;
  return c;
}

json::object pod(const std::string& name, json::array containers, json::object spec_extra = {}) {
  json::object spec{{"containers", std::move(containers)}, {"terminationGracePeriodSeconds", 1}};
  for (auto& [k, v] : spec_extra) spec[k] = v;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", std::move(spec)}};
}

class ExecSpdy : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
    if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
    auto r = c_.up(1, "--timeout 120");
    ASSERT_EQ(r.rc, 0) << r.out;
    // Every kubectl below speaks SPDY/3.1 for exec and attach, as against a server without WebSocket.
    kubectl_ = "/usr/bin/env KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false " + std::string(kKubectl) +
               " --kubeconfig " + c_.kubeconfig();
  }
  void apply(const json::object& obj) {
    ASSERT_TRUE(write_file_atomic(dir_.path() + "/obj.json", json::serialize(obj)));
    auto r = c_.kubectl("apply -f " + dir_.path() + "/obj.json");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  void wait_ready(const std::string& p) {
    auto r = c_.kubectl("wait --for=condition=Ready --timeout=60s pod/" + p);
    ASSERT_EQ(r.rc, 0) << r.out << c_.kubectl("get pods -o wide").out;
  }
  std::string server_url() {
    return trim(c_.kubectl("config view -o jsonpath='{.clusters[0].cluster.server}'").out);
  }
  // A plain SPDY/3.1 upgrade as kubectl sends it, with curl: the answer's headers and body, then
  // the HTTP code. `seconds`: how long curl holds an upgraded connection.
  CommandResult raw_spdy(const std::string& path, const std::string& versions, int seconds = 2) {
    const std::string pki = c_.state_dir() + "/server/pki";
    return shell("curl -sS -i --http1.1 --max-time " + std::to_string(seconds) + " --cacert " + pki +
                 "/ca.crt --cert " + pki + "/admin.crt --key " + pki + "/admin.key" +
                 " -X POST -H 'Connection: Upgrade' -H 'Upgrade: SPDY/3.1' " + versions +
                 " -w ' code=%{http_code}' '" + server_url() + path + "' 2>&1");
  }

  void TearDown() override {
    if (HasFailure() && !kubectl_.empty())
      std::cerr << "agent log:\n" << shell("tail -60 " + c_.state_dir() + "/logs/agent-node1.log").out;
  }
  // The node agent still runs (a session's end must not take it down).
  bool agent_alive() { return agent_ > 0 && ::kill(agent_, 0) == 0; }

  UpCluster c_;
  TempDir dir_{"pn-exec-spdy"};
  pid_t agent_ = -1;
  std::string kubectl_;
};

TEST_F(ExecSpdy, KubectlExecAndAttachOverPlainSpdy) {
  if (IsSkipped()) return;
  json::object tty{{"stdin", true}, {"stdinOnce", true}, {"tty", true}};
  json::object once{{"stdin", true}, {"stdinOnce", true}};
  ASSERT_NO_FATAL_FAILURE(apply(
      pod("web", json::array{container("c", {"sleep", "3600"}),
                             container("side", {"sh", "-c", "exec sleep 3600"},
                                       {{"env", json::array{json::object{{"name", "FOO"}, {"value", "bar"}}}},
                                        {"workingDir", "/tmp"}})})));
  ASSERT_NO_FATAL_FAILURE(apply(pod("term", json::array{container("c", {"sh"}, tty)})));
  ASSERT_NO_FATAL_FAILURE(apply(pod(
      "logger", json::array{container(
                    "c", {"sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.1; done"})})));
  ASSERT_NO_FATAL_FAILURE(
      apply(pod("once", json::array{container("c", {"sh", "-c", "cat; echo done-$?"}, once)},
                {{"restartPolicy", "Never"}})));
  ASSERT_NO_FATAL_FAILURE(
      apply(pod("broken", json::array{container("c", {"no-such-command"})}, {{"restartPolicy", "Never"}})));
  for (const char* p : {"web", "term", "logger", "once"}) ASSERT_NO_FATAL_FAILURE(wait_ready(p));
  const std::string ip = trim(c_.kubectl("get pod web -o jsonpath='{.status.podIP}'").out);
  ASSERT_FALSE(ip.empty());
  agent_ = c_.daemon_pid("agent-node1");
  ASSERT_GT(agent_, 0);

  // The pod's network, and proof of the transport: kubectl's log shows the SPDY upgrade, no WebSocket.
  const std::string log = dir_.path() + "/v.log";
  auto addr = shell("(" + kubectl_ + " -v=7 exec web -c c -- ip -4 addr 2>" + log + ")");
  auto vlog = read_file(log).value_or("");
  EXPECT_EQ(addr.rc, 0) << addr.out << vlog;
  EXPECT_NE(addr.out.find("inet " + ip + "/"), std::string::npos) << addr.out;
  EXPECT_NE(vlog.find("] POST https://"), std::string::npos) << vlog;
  EXPECT_NE(vlog.find("X-Stream-Protocol-Version: v4.channel.k8s.io"), std::string::npos) << vlog;
  EXPECT_NE(vlog.find("Response Status: 101 Switching Protocols"), std::string::npos) << vlog;
  EXPECT_EQ(vlog.find("Sec-Websocket"), std::string::npos) << vlog;

  // 1 MB of random bytes through stdin and back, byte for byte (stdin's FIN closes cat's stdin).
  const std::string in = dir_.path() + "/in", out = dir_.path() + "/out";
  ASSERT_EQ(shell("head -c 1048576 /dev/urandom > " + in).rc, 0);
  auto cat = shell(kubectl_ + " exec -i web -c c -- cat < " + in + " > " + out);
  EXPECT_EQ(cat.rc, 0) << cat.out;
  EXPECT_EQ(shell("cmp " + in + " " + out).rc, 0) << "sizes: " << std::filesystem::file_size(out);

  // Exit codes from the Status on the error stream; stdout and stderr on their own streams.
  auto three = shell("(" + kubectl_ + " exec web -c c -- sh -c 'echo out; echo err >&2; exit 3' 2>" +
                     dir_.path() + "/err)");
  EXPECT_EQ(three.rc, 3) << three.out;
  EXPECT_EQ(three.out, "out\n");
  EXPECT_EQ(read_file(dir_.path() + "/err").value_or(""), "err\ncommand terminated with exit code 3\n");
  auto missing = shell(kubectl_ + " exec web -c c -- no-such-command 2>&1");
  EXPECT_NE(missing.rc, 0);
  EXPECT_NE(missing.out.find("executable file not found"), std::string::npos) << missing.out;

  // -c: the other container's environment, working directory and the pod's hostname.
  auto side = shell(kubectl_ + " exec web -c side -- sh -c 'echo $FOO; pwd; hostname'");
  EXPECT_EQ(side.rc, 0) << side.out;
  EXPECT_EQ(side.out, "bar\n/tmp\nweb\n");

  // kubectl cp (exec + tar) both ways (the pod sees the node's files: the test's own dir).
  auto cp_in = shell(kubectl_ + " cp " + in + " web:" + dir_.path() + "/copied -c c 2>&1");
  EXPECT_EQ(cp_in.rc, 0) << cp_in.out;
  EXPECT_EQ(shell("cmp " + in + " " + dir_.path() + "/copied").rc, 0);
  auto cp_out = shell(kubectl_ + " cp web:" + dir_.path() + "/copied " + dir_.path() + "/back -c c 2>&1");
  EXPECT_EQ(cp_out.rc, 0) << cp_out.out;
  EXPECT_EQ(shell("cmp " + in + " " + dir_.path() + "/back").rc, 0);

  // -it through a pty: a prompt, what is typed runs, the terminal's size arrives on the resize
  // stream, and a resize mid-session reaches the command's terminal.
  ASSERT_TRUE(write_file_atomic(dir_.path() + "/pty.py", kPtyDriver));
  const std::string drive = "timeout 90 /usr/bin/python3 " + dir_.path() + "/pty.py 33 101 ";
  auto it =
      shell(drive + "'=# ' 'echo tty-$((40+2))=tty-42' 'stty size=~33 101' '#40x120' 'stty size=~40 120' " +
            "'exit 0=' -- " + kubectl_ + " exec -it web -c c -- sh");
  EXPECT_NE(it.out.find("RESULT=ok"), std::string::npos) << it.out;
  ASSERT_TRUE(agent_alive());

  // attach -it to a container started with stdin and tty: the same shell, its size, a resize.
  auto at = shell(drive + "'=If you don'\\''t see a command prompt' 'echo at-$((40+2))=at-42' " +
                  "'stty size=~33 101' '#50x90' 'stty size=~50 90' -- " + kubectl_ + " attach -it term -c c");
  EXPECT_NE(at.out.find("RESULT=ok"), std::string::npos) << at.out;
  ASSERT_TRUE(agent_alive());
  EXPECT_EQ(trim(c_.kubectl("get pod term -o jsonpath='{.status.containerStatuses[0].restartCount}'").out),
            "0");

  // attach without -i: the output of a running container from now on.
  auto logs = shell("timeout 3 " + kubectl_ + " attach logger -c c 2>/dev/null");
  EXPECT_NE(logs.out.find("line-"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("line-0\n"), std::string::npos) << logs.out;
  // stdinOnce without a tty: the FIN of kubectl's stdin stream closes the container's stdin.
  auto once_out = shell("printf 'hello\\nworld\\n' | timeout 20 " + kubectl_ + " attach -i -q once");
  EXPECT_EQ(once_out.rc, 0) << once_out.out;
  EXPECT_EQ(once_out.out, "hello\nworld\ndone-0\n");

  // Refusals reach kubectl as kube's: the node's for a container that is not running, the API
  // server's for an unknown container (before any upgrade).
  ASSERT_EQ(c_.kubectl("wait --for=jsonpath='{.status.containerStatuses[0].state.waiting.reason}'="
                       "CreateContainerError --timeout=60s pod/broken")
                .rc,
            0);
  auto refused = shell(kubectl_ + " attach broken 2>&1");
  EXPECT_NE(refused.rc, 0);
  EXPECT_NE(refused.out.find("container c not found in pod broken_default"), std::string::npos)
      << refused.out;
  auto unknown = shell(kubectl_ + " exec web -c nope -- true 2>&1");
  EXPECT_NE(unknown.rc, 0);
  EXPECT_NE(unknown.out.find("container nope is not valid for pod web"), std::string::npos) << unknown.out;

  // Raw SPDY upgrades: the protocol answered, and a client that offers none the server speaks.
  auto up = raw_spdy("/api/v1/namespaces/default/pods/web/exec?command=true&stdout=1&container=c",
                     "-H 'X-Stream-Protocol-Version: v5.channel.k8s.io' "
                     "-H 'X-Stream-Protocol-Version: v4.channel.k8s.io'");
  EXPECT_NE(up.out.find("HTTP/1.1 101"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("X-Stream-Protocol-Version: v4.channel.k8s.io"), std::string::npos) << up.out;
  auto bad = raw_spdy("/api/v1/namespaces/default/pods/web/exec?command=true&stdout=1&container=c",
                      "-H 'X-Stream-Protocol-Version: v9.channel.k8s.io'");
  EXPECT_NE(bad.out.find("code=400"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("unable to upgrade: unable to negotiate protocol: client supports "
                         "[v9.channel.k8s.io], server supports [v4.channel.k8s.io]"),
            std::string::npos)
      << bad.out;
}

}  // namespace
}  // namespace podnet::testing
