#include "cli/agent_pods.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>

#include "agent/network.h"
#include "agent/node_api.h"
#include "agent/probe.h"
#include "client/kubeconfig.h"
#include "common/files.h"
#include "common/time.h"
#include "runtime/pod_manager.h"

namespace podnet::cli {
namespace {

// Starts the PodManager in run() and stops it (containers keep running) when stop() is called.
class PodManagerRunner final : public agent::PodRunner {
 public:
  PodManagerRunner(const agent::PodRunnerContext& ctx, const runtime::LogServerTls& tls,
                   const agent::NodeApiConfig& node_api, const runtime::ExecOptions& streaming)
      : api_(ctx.api, ctx.node_name) {
    options_.streaming = streaming;
    options_.node_name = ctx.node_name;
    options_.node_ip = ctx.node_ip.to_string();
    options_.state_dir = ctx.state_dir;
    if (!ctx.run_dir.empty()) {
      options_.run_dir = ctx.run_dir;
      options_.mntns_dir = ctx.run_dir + "/mntns";
    }
    options_.cni_bin = ctx.cni_bin;
    options_.cni_conf = ctx.cni_conf_path;
    // Pod namespaces are named after the node so `podnet down` finds them (CONTRACTS: pn-<node>-<uid8>).
    options_.netns_prefix = "pn-" + ctx.node_name + "-";
    options_.log_tls = tls;
    agent::NodeApiConfig api_config = node_api;
    api_config.flows = ctx.flows;
    api_config.probes = std::make_shared<agent::ProbeSessions>(ctx.flows, agent::kVxlanPort);
    api_config.pod_netns = [this](const std::string& ns,
                                  const std::string& pod) -> std::optional<std::string> {
      std::lock_guard lock(mu_);
      return manager_ ? manager_->pod_netns_path(ns, pod) : std::nullopt;
    };
    api_config.policy_counters = ctx.policy_counters;
    options_.node_api = [api_config](std::string_view target) {
      agent::NodeApiReply r = agent::answer_node_query(api_config, target);
      return runtime::NodeApiAnswer{r.status, std::move(r.body)};
    };
    for (const auto& ip : ctx.cluster_dns) options_.cluster_dns.push_back(ip.to_string());
    if (!ctx.cluster_domain.empty()) options_.cluster_domain = ctx.cluster_domain;
    options_.services = ctx.services;
    options_.network_admit = ctx.admit_pod;
  }

  void run() override {
    auto manager = runtime::PodManager::start(options_, api_);
    if (!manager) {
      spdlog::error("pods: {}", manager.error().message());
      return;
    }
    std::unique_lock lock(mu_);
    manager_ = manager->get();
    cv_.wait(lock, [this] { return stopped_; });
    manager_ = nullptr;  // before the manager (and its log server) goes
  }

  void stop() override {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  runtime::ClientPodApi api_;
  runtime::PodManagerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  runtime::PodManager* manager_ = nullptr;  // while run() runs it; guarded by mu_
};

}  // namespace

Result<agent::PodRunnerFactory> pod_manager_runner(const AgentFlags& flags) {
  runtime::LogServerTls tls;
  std::string cert = flags.tls_cert_file.empty() ? flags.state_dir + "/pki/kubelet.crt" : flags.tls_cert_file;
  std::string key =
      flags.tls_private_key_file.empty() ? flags.state_dir + "/pki/kubelet.key" : flags.tls_private_key_file;
  auto missing = [](const std::string& file, const Error& e) {
    return fail_msg("log server: " + e.message() + " (" + file +
                    ": the node's serving certificate, issued by the cluster CA with `podnet server "
                    "--issue-node-credential NODE --serving-cert-out PREFIX --node-address IP`)");
  };
  auto cert_pem = read_file(cert);
  if (!cert_pem) return missing(cert, cert_pem.error());
  auto key_pem = read_file(key);
  if (!key_pem) return missing(key, key_pem.error());
  tls.cert_pem = std::move(*cert_pem);
  tls.key_pem = std::move(*key_pem);
  if (!flags.client_ca_file.empty()) {
    auto ca = read_file(flags.client_ca_file);
    if (!ca) return fail_msg("--client-ca-file: " + ca.error().message());
    tls.client_ca_pem = std::move(*ca);
  } else {
    auto access = client::load_kubeconfig(flags.kubeconfig);
    if (!access) return std::unexpected(wrap(access.error(), "client CA from --kubeconfig"));
    if (access->ca_pem.empty())
      return fail_msg("log server: --kubeconfig has no certificate-authority; give --client-ca-file");
    tls.client_ca_pem = std::move(access->ca_pem);
  }
  runtime::ExecOptions streaming;
  auto idle = parse_duration(flags.streaming_idle_timeout);
  if (!idle || *idle <= std::chrono::milliseconds::zero())
    return fail_msg("--streaming-connection-idle-timeout: a positive duration such as 4h or 30s, not \"" +
                    flags.streaming_idle_timeout + "\"");
  streaming.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*idle);
  agent::NodeApiConfig node_api;
  if (flags.fast_path) node_api.bpf_dir = flags.bpf_dir.empty() ? flags.state_dir + "/bpf" : flags.bpf_dir;
  return agent::PodRunnerFactory(
      [tls, node_api,
       streaming](const agent::PodRunnerContext& ctx) -> Result<std::unique_ptr<agent::PodRunner>> {
        return std::make_unique<PodManagerRunner>(ctx, tls, node_api, streaming);
      });
}

}  // namespace podnet::cli
