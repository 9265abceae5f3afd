// `podnet demo`: the pod network on one node, shown end to end. It makes a node namespace and two
// pod namespaces, connects the pods through podnet-cni exactly as a runtime would, runs a process
// in each pod that talks to the other (and two processes of one pod over localhost), then removes
// everything it made, also on failure and Ctrl-C.
#pragma once

#include <string>

namespace podnet::cli {

struct DemoOptions {
  std::string cni_binary;  // path of podnet-cni; empty: next to this executable
  std::string subnet = "10.244.0.0/24";
};

int run_demo(const DemoOptions& opts);

}  // namespace podnet::cli
