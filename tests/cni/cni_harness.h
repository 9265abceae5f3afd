// Test harness for podnet-cni: runs a CNI plugin binary exactly as a runtime does (fork, enter the
// "node" namespace, exec with CNI_* env and the config on stdin) and gives the tests small tools to
// build nodes and pods (namespaces), run shell commands inside them and inspect IPAM state.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/cni_exec.h"
#include "support/scoped_netns.h"

namespace podnet::testing {

struct PluginRun {
  int exit_code = -1;
  std::string out;
  boost::json::value json() const;
  uint32_t error_code() const;  // the CNI error code in `out`, 0 if none
};

struct CniCall {
  std::string command;  // ADD, DEL, ...
  std::string container_id;
  std::string netns;  // path; empty leaves CNI_NETNS unset
  std::string ifname = "eth0";
  std::string args;  // CNI_ARGS
  std::string path = "/usr/lib/cni";
};

// Runs `binary` in the node namespace (fd) with the call's environment; blocks until it exits.
PluginRun run_plugin(const std::string& binary, int node_netns_fd, const CniCall& call,
                     const std::string& stdin_json);
// Starts it without waiting (for the kill -9 and parallel tests); wait_plugin reaps it.
runtime::CniProcess start_plugin(const std::string& binary, int node_netns_fd, const CniCall& call,
                                 const std::string& stdin_json);
PluginRun wait_plugin(runtime::CniProcess& proc);

// Runs a shell command, returns its exit status and stdout.
struct Shell {
  int status = -1;
  std::string out;
};
Shell sh(const std::string& cmd);
// `ip netns exec NS sh -c CMD`
Shell in_ns(const std::string& ns_name, const std::string& cmd);

std::string podnet_cni_binary();
// Regular files directly in dir (IPAM reservations are named by their IP).
std::vector<std::string> list_dir(const std::string& dir);
bool socat_available();

}  // namespace podnet::testing
