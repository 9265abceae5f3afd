// Calls a CNI plugin the way a container runtime does: exec the binary with CNI_* in its
// environment and the network config on stdin, optionally inside another network namespace (the
// node's), and collect its exit status and stdout.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/error.h"
#include "common/fd.h"

namespace podnet::runtime {

struct CniRequest {
  std::string binary;   // the plugin executable
  std::string command;  // ADD, DEL, CHECK, GC, STATUS, VERSION
  std::string container_id;
  std::string netns;  // path of the pod's namespace
  std::string ifname = "eth0";
  std::string args;  // CNI_ARGS
  std::string path;  // CNI_PATH
  std::string config;
  int node_netns_fd = -1;  // run the plugin in this namespace; -1: the caller's
};

struct CniOutput {
  int exit_code = -1;  // 128+signal when killed
  std::string out;
};

struct CniProcess {
  pid_t pid = -1;
  UniqueFd stdout_fd;
};

// Empty request fields are left out of the environment, as a runtime that lacks them would.
Result<CniProcess> start_cni(const CniRequest& req);
Result<CniOutput> wait_cni(CniProcess& proc);
Result<CniOutput> exec_cni(const CniRequest& req);

}  // namespace podnet::runtime
