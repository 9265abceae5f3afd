#include "topology.h"

#include <vector>

namespace pntest {

Topology::Topology() {
  std::string base = unique_name("-nft");
  node = std::make_unique<Netns>(base + "-node");
  outside = std::make_unique<Netns>(base + "-out");
  pod_a = std::make_unique<Netns>(base + "-a");
  pod_b = std::make_unique<Netns>(base + "-b");
  if (!node->ok() || !outside->ok() || !pod_a->ok() || !pod_b->ok()) return;
  const std::string n = "ip -n " + node->name() + " ", o = "ip -n " + outside->name() + " ";
  std::vector<std::string> cmds;
  // No duplicate address detection: tentative link-local addresses stall neighbour discovery for
  // the first second or so. Set before any interface exists so that every new one inherits it.
  for (const Netns* ns : {node.get(), outside.get(), pod_a.get(), pod_b.get()})
    cmds.push_back(ns->in("sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0"));
  cmds.insert(cmds.end(), {
                              n + "link set lo up",
                              n + "link add pnbr0 type bridge",
                              n + "addr add 10.88.0.1/24 dev pnbr0",
                              n + "addr add fd88::1/64 dev pnbr0 nodad",
                              n + "link set pnbr0 up",
                              n + "link add pneth0 type veth peer name pneth0 netns " + outside->name(),
                              n + "addr add 192.168.77.1/24 dev pneth0",
                              n + "addr add 192.168.77.10/24 dev pneth0",
                              n + "addr add fd77::1/64 dev pneth0 nodad",
                              n + "link set pneth0 up",
                              o + "link set lo up",
                              o + "addr add 192.168.77.2/24 dev pneth0",
                              o + "addr add fd77::2/64 dev pneth0 nodad",
                              o + "link set pneth0 up",
                              node->in("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"),
                          });
  struct Pod {
    Netns* ns;
    std::string veth, v4, v6;
  };
  for (const Pod& p :
       {Pod{pod_a.get(), "pnva", "10.88.0.2", "fd88::2"}, Pod{pod_b.get(), "pnvb", "10.88.0.3", "fd88::3"}}) {
    const std::string q = "ip -n " + p.ns->name() + " ";
    cmds.push_back(n + "link add " + p.veth + " type veth peer name eth0 netns " + p.ns->name());
    cmds.push_back(n + "link set " + p.veth + " master pnbr0 up");
    // A pod reaching itself through a hostPort comes back out of the port it entered by when
    // br_netfilter handles the bridge (bridge-nf-call-iptables=1): like the bridge plugin's hairpinMode.
    cmds.push_back(n + "link set " + p.veth + " type bridge_slave hairpin on");
    cmds.push_back(q + "link set lo up");
    cmds.push_back(q + "addr add " + p.v4 + "/24 dev eth0");
    cmds.push_back(q + "addr add " + p.v6 + "/64 dev eth0 nodad");
    cmds.push_back(q + "link set eth0 up");
    cmds.push_back(q + "route add default via 10.88.0.1");
    cmds.push_back(q + "-6 route add default via fd88::1");
  }
  for (const auto& c : cmds) {
    if (sh(c) != 0) return;
  }
  ok_ = true;
}

std::string tcp_ask(const Netns& from, const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  std::string addr = v6 ? "TCP6:[" + host + "]" : "TCP4:" + host;
  return from.out("timeout 6 socat -t 3 - " + addr + ":" + std::to_string(port) +
                  ",connect-timeout=2 </dev/null 2>/dev/null");
}

// socat stops -t seconds after stdin's EOF: long enough for a reply that needs ARP and a fork.
std::string udp_ask(const Netns& from, const std::string& host, int port) {
  return from.out("sh -c 'echo ping | timeout 6 socat -t 2.5 - UDP4:" + host + ":" + std::to_string(port) +
                  "' 2>/dev/null");
}

std::unique_ptr<Background> echo_server(const Netns& ns, const std::string& kind, int port) {
  std::unique_ptr<Background> bg;
  if (kind == "udp4") {
    // One socket answering every datagram with the sender's address (socat's UDP fork mode
    // sometimes lost the answer to a second client).
    std::string py =
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', " +
        std::to_string(port) +
        "))\nwhile True:\n  d, a = s.recvfrom(512)\n  s.sendto((a[0] + '\\n').encode(), a)\n";
    bg = std::make_unique<Background>(ns, std::vector<std::string>{"python3", "-c", py});
  } else {
    std::string listen = kind == "tcp6" ? "TCP6-LISTEN:" + std::to_string(port) + ",fork,reuseaddr,ipv6only=1"
                                        : "TCP4-LISTEN:" + std::to_string(port) + ",fork,reuseaddr";
    bg = std::make_unique<Background>(
        ns, std::vector<std::string>{"socat", listen, "SYSTEM:echo $SOCAT_PEERADDR"});
  }
  wait_listening(ns, port, kind == "udp4" ? "-lu4" : kind == "tcp6" ? "-lt6" : "-lt4");
  return bg;
}

}  // namespace pntest
