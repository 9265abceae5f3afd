// A node with a bridge, two pods and an outside host, each in its own namespace:
//
//   outside pneth0 192.168.77.2/24 fd77::2/64
//      |  veth
//   node pneth0 192.168.77.1/24 (+ .10) fd77::1/64      node pnbr0 10.88.0.1/24 fd88::1/64
//                                                        |-- pnva <-> pod A eth0 10.88.0.2 fd88::2
//                                                        `-- pnvb <-> pod B eth0 10.88.0.3 fd88::3
//
// Pods route everything via the bridge; the outside host has no route to the pods (so a pod's
// traffic only gets an answer from it when masqueraded).
#pragma once

#include <memory>
#include <string>

#include "netns_env.h"

namespace pntest {

class Topology {
 public:
  Topology();
  bool ok() const { return ok_; }

  std::unique_ptr<Netns> node, outside, pod_a, pod_b;

 private:
  bool ok_ = false;
};

// What a socat echo server answered (the client address it saw), "" when nothing came back.
std::string tcp_ask(const Netns& from, const std::string& host, int port);
std::string udp_ask(const Netns& from, const std::string& host, int port);
// Starts a server answering with the client's address: socat `<LISTEN>:<port>,fork
// SYSTEM:'echo $SOCAT_PEERADDR'` for tcp4 and tcp6, a small python3 loop for udp4.
std::unique_ptr<Background> echo_server(const Netns& ns, const std::string& kind, int port);

}  // namespace pntest
