#include "cli/check_cmd.h"

#include <cstdio>

#include "common/time.h"
#include "troubleshoot/check.h"
#include "troubleshoot/flows.h"
#include "troubleshoot/probe.h"
#include "troubleshoot/trace.h"
#include "troubleshoot/trace_live.h"

namespace podnet::cli {

struct CheckCommands {
  troubleshoot::CheckOptions check;
  bool quiet = false;
  CLI::App* check_cmd = nullptr;
  CLI::App* serve_cmd = nullptr;
  CLI::App* probe_cmd = nullptr;
  std::string serve_name, serve_bind = "0.0.0.0";
  std::vector<uint16_t> serve_ports;
  std::vector<std::string> probe_targets;
  int deadline_ms = 6000, attempt_ms = 1000;
  CLI::App* trace_cmd = nullptr;
  troubleshoot::TraceOptions trace;
  std::string trace_output = "table";
  bool trace_live = false;
  troubleshoot::LiveProbeOptions live;
  CLI::App* flows_cmd = nullptr;
  troubleshoot::FlowsOptions flows;
  std::string flows_output = "table", flows_since = "5m";
};

std::shared_ptr<CheckCommands> add_check_commands(CLI::App& app) {
  auto c = std::make_shared<CheckCommands>();
  c->check_cmd = app.add_subcommand(
      "check",
      "Test every path of the networking model on a running cluster (own namespace and pods, removed after)");
  c->check_cmd->add_option(
      "--kubeconfig", c->check.kubeconfig,
      "Kubeconfig (default: $KUBECONFIG, ~/.kube/config, then podnet up's admin.kubeconfig)");
  c->check_cmd->add_option("-o,--output", c->check.output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  c->check_cmd->add_option(
      "--image", c->check.image,
      "Image of the check's pods, holding `podnet` in its PATH (default: none; the pods run "
      "this podnet binary from the node's file system, as on a `podnet up` cluster)");
  c->check_cmd->add_option("--cluster-domain", c->check.cluster_domain, "The cluster's DNS domain")
      ->capture_default_str();
  c->check_cmd->add_option("--timeout", c->check.timeout_seconds, "Seconds for the pods to start and report")
      ->check(CLI::Range(5, 3600))
      ->capture_default_str();
  c->check_cmd->add_flag("-q,--quiet", c->quiet, "No progress line");
  c->check_cmd
      ->add_option("--before-clients", c->check.before_clients,
                   "Fault tests: a shell command run once the servers are Ready")
      ->group("");

  c->trace_cmd = app.add_subcommand(
      "trace",
      "Show the path a packet from SRC to DST would take, hop by hop, with each node's datapath state");
  c->trace_cmd
      ->add_option("src", c->trace.request.src, "NS/POD, pod/NS/POD, node/NAME, outside or outside/IP")
      ->required();
  c->trace_cmd
      ->add_option("dst", c->trace.request.dst,
                   "NS/POD, pod/NS/POD, svc/NS/NAME, localhost, or an IP: pod, ClusterIP, LB, external, node "
                   "(+ --port NODEPORT)")
      ->required();
  c->trace_cmd->add_option("--proto", c->trace.request.proto, "tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str();
  c->trace_cmd
      ->add_option("--port", c->trace.request.port, "Destination port (a Service: default its first port)")
      ->check(CLI::Range(0, 65535));
  c->trace_cmd->add_option("-o,--output", c->trace_output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  c->trace_cmd->add_flag("--live", c->trace_live,
                         "Also send one real probe as the source pod (needs the right to exec into it) and "
                         "show, per hop, the nodes' evidence about that probe (nftables trace, fast-path "
                         "report, kernel drop reason)");
  c->trace_cmd->add_option("--probe-timeout", c->live.timeout_ms, "--live: ms to wait for the probe's answer")
      ->check(CLI::Range(50, 5000))
      ->capture_default_str();
  c->trace_cmd->add_option(
      "--kubeconfig", c->trace.kubeconfig,
      "Kubeconfig (default: $KUBECONFIG, ~/.kube/config, then podnet up's admin.kubeconfig)");

  c->flows_cmd = app.add_subcommand(
      "flows", "Show the connections the nodes saw: pods, Services, verdict (forwarded, dropped by policy)");
  auto& ff = c->flows.filter;
  c->flows_cmd->add_option("--node", ff.node, "Only this node's flows (default: every node)");
  c->flows_cmd->add_option("-n,--namespace", ff.ns,
                           "Flows with a pod or Service of this namespace at either end");
  c->flows_cmd->add_option("--pod", ff.pod, "Flows from or to this pod");
  c->flows_cmd->add_option("--service", ff.service, "Flows to an endpoint of this Service");
  c->flows_cmd->add_option("--verdict", ff.verdict, "forwarded or dropped")
      ->check(CLI::IsMember({"forwarded", "dropped"}));
  c->flows_cmd
      ->add_option("--since", c->flows_since, "Flows seen in this window (e.g. 30s, 5m, 1h; at most 24h)")
      ->capture_default_str();
  c->flows_cmd->add_flag("-f,--follow", c->flows.follow, "Keep printing flows as the nodes see them");
  c->flows_cmd->add_option("-o,--output", c->flows_output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  c->flows_cmd->add_option(
      "--kubeconfig", c->flows.kubeconfig,
      "Kubeconfig (default: $KUBECONFIG, ~/.kube/config, then podnet up's admin.kubeconfig)");

  auto* agent = app.add_subcommand("check-agent", "What the pods of `podnet check` run");
  agent->group("");  // hidden
  agent->require_subcommand(1);
  c->serve_cmd = agent->add_subcommand("serve", "Answer each TCP connection with \"NAME PEER\"");
  c->serve_cmd->add_option("--name", c->serve_name)->required();
  c->serve_cmd->add_option("--bind", c->serve_bind)->capture_default_str();
  c->serve_cmd->add_option("--port", c->serve_ports)->required();
  c->probe_cmd = agent->add_subcommand("probe", "Connect to each target, print one JSON line per target");
  c->probe_cmd->add_option("--deadline-ms", c->deadline_ms)->check(CLI::Range(100, 600000));
  c->probe_cmd->add_option("--attempt-ms", c->attempt_ms)->check(CLI::Range(10, 60000));
  c->probe_cmd->add_option("targets", c->probe_targets,
                           "key=host:port, key=dns:name:port, a trailing ! expects failure");
  return c;
}

int run_check_commands(const CheckCommands& c) {
  if (c.check_cmd->parsed()) {
    auto opts = c.check;
    opts.progress = !c.quiet;
    return troubleshoot::run_check(opts);
  }
  if (c.trace_cmd->parsed()) {
    auto opts = c.trace;
    opts.json = c.trace_output == "json";
    if (c.trace_live) return troubleshoot::run_trace_live(opts, c.live);
    return troubleshoot::run_trace(opts);
  }
  if (c.flows_cmd->parsed()) {
    auto opts = c.flows;
    opts.json = c.flows_output == "json";
    auto since = parse_duration(c.flows_since);
    if (!since || since->count() < 0 || *since > std::chrono::hours(24)) {
      std::fprintf(stderr, "podnet flows: --since: want a duration from 0s to 24h, not \"%s\"\n",
                   c.flows_since.c_str());
      return 2;
    }
    opts.filter.since_seconds = static_cast<int>((since->count() + 999) / 1000);
    return troubleshoot::run_flows(opts);
  }
  if (c.serve_cmd->parsed())
    return troubleshoot::check_agent_serve(c.serve_name, c.serve_bind, c.serve_ports);
  if (c.probe_cmd->parsed()) {
    troubleshoot::ProbeTiming t;
    t.deadline = std::chrono::milliseconds(c.deadline_ms);
    t.attempt = std::chrono::milliseconds(c.attempt_ms);
    return troubleshoot::probe_main(c.probe_targets, t);
  }
  return -1;
}

}  // namespace podnet::cli
