// podnet: the command-line entry point. Subcommands parse flags and call into the libraries.
#include <spdlog/cfg/env.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/agent_cmd.h"
#include "cli/agent_pods.h"
#include "cli/check_cmd.h"
#include "cli/cluster_cmds.h"
#include "cli/demo.h"
#include "cli/proxy_cmd.h"
#include "cli/server.h"
#include "common/version.h"

int main(int argc, char** argv) {
  // SPDLOG_LEVEL=debug (or e.g. "info,podnet=debug") raises or lowers what the daemons log; `podnet
  // up` passes its environment on to them.
  spdlog::cfg::load_env_levels();
  CLI::App app{"podnet: the Kubernetes networking model as one fast program"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "podnet " + std::string(podnet::kPodnetVersion));

  podnet::cli::DemoOptions demo;
  auto* demo_cmd =
      app.add_subcommand("demo", "Two pods on one node connected through podnet-cni, talking, then removed");
  demo_cmd->add_option("--cni-bin", demo.cni_binary, "Path of podnet-cni (default: next to podnet)");
  demo_cmd->add_option("--subnet", demo.subnet, "Pod subnet inside the demo's node namespace");

  podnet::cli::ServerFlags server;
  auto* server_cmd =
      app.add_subcommand("server", "A Kubernetes-compatible API server over HTTPS, state in SQLite");
  server_cmd->add_option("--data-dir", server.data_dir, "State, credentials and admin.kubeconfig")
      ->required();
  server_cmd->add_option("--bind-address", server.bind_address, "Address to listen on")
      ->capture_default_str();
  server_cmd->add_option("--port", server.port, "HTTPS port (0: any free port)")->capture_default_str();
  server_cmd->add_option(
      "--advertise-address", server.advertise_address,
      "The address the default/kubernetes Service's endpoints name (default: --bind-address, "
      "or the default route's interface address when that is 0.0.0.0 or ::)");
  server_cmd->add_option("--service-cidr", server.service_cidr, "Service cluster IP range")
      ->capture_default_str();
  server_cmd->add_option("--cluster-cidr", server.cluster_cidr, "Pod network")->capture_default_str();
  server_cmd->add_option("--node-cidr-mask", server.node_cidr_mask, "Prefix length of each node's pod range")
      ->capture_default_str();
  server_cmd->add_option("--node-port-range", server.node_port_range, "NodePort range LOW-HIGH")
      ->capture_default_str();
  server_cmd->add_option("--lb-pool", server.lb_pool, "Addresses for LoadBalancer services (CIDR)");
  server_cmd->add_option("--node-network", server.node_network,
                         "The network node InternalIPs are in (CIDR); a node reporting another is refused");
  server_cmd
      ->add_option("--node-monitor-grace-period", server.node_monitor_grace_period,
                   "Seconds without a node heartbeat before the node is Unknown and its pods not ready")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  server_cmd
      ->add_option("--pod-gc-quarantine", server.pod_gc_quarantine,
                   "Seconds a node must be gone before its pods are deleted (kube: 40)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  server_cmd
      ->add_option("--max-connections", server.max_connections,
                   "Concurrent client connections; beyond them a new connection is closed at once")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  server_cmd->add_option("--event-ttl", server.event_ttl, "How long events are kept after their last write")
      ->capture_default_str();
  server_cmd
      ->add_option(
          "--event-rate-limit", server.event_rate_limit,
          "EventRateLimit admission: TYPE=QPS/BURST[:CACHE],... with TYPE Server, Namespace, User or "
          "SourceAndObject; \"none\" for no limits (default: Namespace=50/500,User=50/500)")
      ->capture_default_str();
  server_cmd->add_option("--issue-node-credential", server.issue_node_credential,
                         "Write a kubeconfig for node agent NAME (needs --out) and exit");
  server_cmd->add_option("--out", server.out, "Where --issue-node-credential writes the kubeconfig");
  server_cmd->add_option("--server", server.server_url,
                         "API server URL for --issue-node-credential (default: from admin.kubeconfig)");
  server_cmd->add_option("--serving-cert-out", server.serving_cert_out,
                         "With --issue-node-credential: also write the node's log-server certificate to "
                         "PREFIX.crt and PREFIX.key");
  server_cmd->add_option("--node-address", server.node_addresses,
                         "An address of the node for its serving certificate (repeatable; its InternalIP)");

  podnet::cli::ProxyFlags proxy;
  auto* proxy_cmd = app.add_subcommand("proxy", "The service proxy: Services and EndpointSlices to nftables");
  proxy_cmd->add_option("--kubeconfig", proxy.kubeconfig, "kubeconfig of the API server to watch");
  proxy_cmd->add_option("--hostname", proxy.hostname, "This node's name (default: the host name)");
  proxy_cmd->add_option("--node-ip", proxy.node_ips,
                        "NodePort address (repeatable; default: host's addresses)");
  proxy_cmd->add_option("--min-sync-interval", proxy.min_sync_interval, "At most one sync per interval")
      ->capture_default_str();
  proxy_cmd
      ->add_option("--metrics-bind-address", proxy.metrics_bind_address,
                   "HOST:PORT of the Prometheus /metrics endpoint (empty: none)")
      ->capture_default_str();
  proxy_cmd
      ->add_option("--healthz-bind-address", proxy.healthz_bind_address,
                   "HOST:PORT of /healthz, kube-proxy's (empty: none)")
      ->capture_default_str();
  proxy_cmd->add_flag("--cleanup", proxy.cleanup, "Remove the proxy's nftables tables and exit");

  podnet::cli::AgentFlags agent;
  auto* agent_cmd = app.add_subcommand(
      "agent", "The node agent: Node registration, pod routes (vxlan or host-gw), masquerade, service proxy");
  agent_cmd->add_option("--kubeconfig", agent.kubeconfig, "kubeconfig of the API server");
  agent_cmd->add_option("--node-name", agent.node_name, "This node's name (default: the host name)");
  agent_cmd->add_option("--node-ip", agent.node_ip,
                        "This node's IP (default: the host's first IPv4 address)");
  agent_cmd->add_option("--overlay", agent.overlay, "vxlan or host-gw")->capture_default_str();
  agent_cmd->add_option("--state-dir", agent.state_dir, "CNI config, IPAM and pod state")
      ->capture_default_str();
  agent_cmd->add_option(
      "--run-dir", agent.run_dir,
      "The node's ephemeral runtime state (IPAM leases, CNI state, pods' mount namespaces and "
      "resolver files), on a tmpfs mounted there unless it is one (containerd's /run/containerd); "
      "default: under --state-dir");
  agent_cmd->add_option("--cluster-cidr", agent.cluster_cidrs, "Pod network (repeatable)")
      ->capture_default_str();
  agent_cmd->add_option("--lb-pool", agent.lb_pools,
                        "LoadBalancer addresses this node may announce (CIDR, repeatable; the API server's "
                        "--lb-pool). Without it no LoadBalancer address is announced");
  agent_cmd
      ->add_option("--cluster-dns", agent.cluster_dns,
                   "Nameserver of ClusterFirst pods, as kubelet's --cluster-dns (IP; repeatable or "
                   "comma-separated). Without it such pods get the node's resolver")
      ->delimiter(',');
  agent_cmd
      ->add_option("--cluster-domain", agent.cluster_domain,
                   "The cluster's DNS domain: the DNS server's zone and pods' search paths (kubelet's)")
      ->capture_default_str();
  agent_cmd->add_option("--cni-bin", agent.cni_bin, "Path of podnet-cni (for --run-pods)");
  agent_cmd->add_option("--cni-conf-dir", agent.cni_conf_dir, "Also write the CNI config here");
  agent_cmd->add_option("--bpf-dir", agent.bpf_dir,
                        "bpffs directory of the eBPF fast path's pins (default: <state-dir>/bpf; a bpffs "
                        "is mounted there when it is not on one)");
  agent_cmd->add_flag("!--no-fast-path", agent.fast_path,
                      "No eBPF fast path: pod traffic goes through the bridge and the stack");
  agent_cmd->add_flag("!--no-network-policy", agent.network_policy,
                      "Do not enforce NetworkPolicy (no table inet podnet-policy; docs/networkpolicy.md)");
  agent_cmd
      ->add_option("--network-policy-log-group", agent.policy_log_group,
                   "NFLOG group the NetworkPolicy deny rules log denied connections to (rate-limited); "
                   "the agent reads it and logs pod, peer, port and policies. 0: no log")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  agent_cmd->add_flag("--run-pods", agent.run_pods, "Run the pods bound to this node (kubelet role)");
  agent_cmd->add_option(
      "--tls-cert-file", agent.tls_cert_file,
      "Log server (:10250) certificate from the cluster CA (default: STATE_DIR/pki/kubelet.crt)");
  agent_cmd->add_option("--tls-private-key-file", agent.tls_private_key_file,
                        "Its key (default: STATE_DIR/pki/kubelet.key)");
  agent_cmd->add_option("--client-ca-file", agent.client_ca_file,
                        "CA of the clients the log server accepts (default: the CA of --kubeconfig)");
  agent_cmd->add_flag("!--no-proxy", agent.proxy, "Do not run the embedded service proxy");
  agent_cmd
      ->add_option("--dns", agent.dns,
                   "Serve cluster DNS on this node at kube-system/kube-dns's ClusterIP (on or off; off on a "
                   "cluster that runs CoreDNS; podnet up turns it on)")
      ->capture_default_str();
  agent_cmd->add_option("--dns-upstream", agent.dns_upstreams,
                        "Resolver for names outside the cluster domain, IP[:PORT] (repeatable; default: the "
                        "nameservers of /etc/resolv.conf)");
  agent_cmd
      ->add_option("--dns-metrics-address", agent.dns_metrics_address,
                   "HOST:PORT of the DNS server's /metrics (CoreDNS names; empty: none)")
      ->capture_default_str();
  agent_cmd
      ->add_option("--min-sync-interval", agent.min_sync_interval, "Proxy: at most one sync per interval")
      ->capture_default_str();
  agent_cmd->add_option("--heartbeat-interval", agent.heartbeat_interval, "Node status update period")
      ->capture_default_str();
  agent_cmd
      ->add_option("--streaming-connection-idle-timeout", agent.streaming_idle_timeout,
                   "Close exec, attach, port-forward and proxy sessions idle this long (kubelet's flag)")
      ->capture_default_str();
  agent_cmd
      ->add_option("--node-grace-period", agent.node_grace_period,
                   "A node whose heartbeat is older is not Ready (LoadBalancer announcement)")
      ->capture_default_str();
  agent_cmd->add_flag(
      "--cleanup", agent.cleanup,
      "Remove the agent's and proxy's tables, pnvx0, routes, announced addresses and the fast path's "
      "programs and pins, and exit");

  podnet::cli::UpOptions up;
  auto* up_cmd =
      app.add_subcommand("up", "A cluster on this machine: API server and N nodes, each in its own netns");
  up_cmd->add_option("--nodes", up.nodes, "Number of nodes")->capture_default_str();
  up_cmd->add_option("--overlay", up.overlay, "Pod-to-pod across nodes: vxlan or host-gw")
      ->check(CLI::IsMember({"vxlan", "host-gw"}))
      ->capture_default_str();
  up_cmd->add_option("--state-dir", up.state_dir, "Where the cluster's record, logs, pids, credentials live")
      ->capture_default_str();
  up_cmd
      ->add_option(
          "--underlay-cidr", up.underlay_cidr,
          "Node network (a bridge in the cluster's own underlay namespace; the root namespace gets .1)")
      ->capture_default_str();
  up_cmd
      ->add_option("--api-port", up.api_port,
                   "API server port on the underlay's .1 (the root namespace's address there)")
      ->capture_default_str();
  up_cmd->add_option("--timeout", up.timeout_seconds, "Seconds to wait for every node to be Ready")
      ->capture_default_str();
  up_cmd->add_option("--cni-bin", up.cni_binary, "Path of podnet-cni (default: next to podnet)");
  up_cmd->add_flag("!--no-fast-path", up.fast_path,
                   "Agents without the eBPF fast path (pod traffic through the bridges and the stack)");
  up_cmd->add_flag("!--no-dns", up.dns,
                   "No cluster DNS: agents serve no kube-dns ClusterIP and pods get the node's resolv.conf");
  bool no_agents = false;
  up_cmd->add_option("--streaming-connection-idle-timeout", up.streaming_idle_timeout,
                     "The agents' idle timeout for exec, port-forward and proxy sessions (default 4h)");
  up_cmd->add_flag("--no-agents", no_agents, "Start no agents (node namespaces only, to run agents by hand)");
  up_cmd->add_flag("--fresh", up.fresh,
                   "Remove the cluster in the state dir first and start a new one (default: restore it)");

  podnet::cli::SuperviseFlags supervise;
  auto* supervise_cmd = app.add_subcommand(
      "supervise", "Keep one daemon of a `podnet up` cluster running (started by `podnet up`)");
  supervise_cmd->add_option("--state-dir", supervise.state_dir, "The cluster's state dir")->required();
  supervise_cmd->add_option("--daemon", supervise.daemon, "The daemon: server, agent-node1, ...")->required();
  supervise_cmd->add_option("--netns", supervise.netns, "Network namespace to start the daemon in");
  supervise_cmd->add_flag("--adopt", supervise.adopt,
                          "Take over the daemon running under its pid file instead of starting one");
  supervise_cmd->add_option("--restart-delay-ms", supervise.restart_delay_ms, "First restart delay")
      ->capture_default_str();
  supervise_cmd->add_option("--max-restart-delay-ms", supervise.max_restart_delay_ms, "Backoff cap")
      ->capture_default_str();
  supervise_cmd
      ->add_option("--healthy-after-ms", supervise.healthy_after_ms, "A run this long resets the backoff")
      ->capture_default_str();
  supervise_cmd->add_option("--stop-grace-ms", supervise.stop_grace_ms, "SIGTERM to SIGKILL when stopping")
      ->capture_default_str();
  supervise_cmd->add_option("command", supervise.command, "The daemon's command line, after --")->required();

  podnet::cli::StateDirOptions down, status;
  auto* down_cmd = app.add_subcommand("down", "Remove everything `podnet up` made");
  down_cmd->add_option("--state-dir", down.state_dir, "The cluster's state dir")->capture_default_str();
  auto* status_cmd = app.add_subcommand("status", "Nodes, pods and services of a `podnet up` cluster");
  status_cmd->add_option("--state-dir", status.state_dir, "The cluster's state dir")->capture_default_str();
  status_cmd->add_option(
      "--graph", status.graph,
      "Also draw nodes, pod CIDRs, pods, Services and endpoints, tunnels into this SVG file");

  auto check = podnet::cli::add_check_commands(app);

  CLI11_PARSE(app, argc, argv);
  if (int rc = podnet::cli::run_check_commands(*check); rc >= 0) return rc;
  if (agent_cmd->parsed()) {
    podnet::agent::PodRunnerFactory pods;
    if (agent.run_pods && !agent.cleanup) {
      auto runner = podnet::cli::pod_manager_runner(agent);
      if (!runner) {
        std::fprintf(stderr, "podnet agent: %s\n", runner.error().message().c_str());
        return 2;
      }
      pods = std::move(*runner);
    }
    return podnet::cli::run_agent(agent, std::move(pods));
  }
  if (up_cmd->parsed()) {
    up.agents = !no_agents;
    for (const auto* o : up_cmd->get_options())
      if (o->count() > 0) up.given.insert(o->get_name());
    return podnet::cli::run_up(up);
  }
  if (down_cmd->parsed()) return podnet::cli::run_down(down);
  if (supervise_cmd->parsed()) return podnet::cli::run_supervise(supervise);
  if (status_cmd->parsed()) return podnet::cli::run_status(status);
  if (proxy_cmd->parsed()) return podnet::cli::run_proxy(proxy);
  if (demo_cmd->parsed()) return podnet::cli::run_demo(demo);
  if (server_cmd->parsed()) return podnet::cli::run_server(server);
  return 0;
}
