#include "cli/agent_pods.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>

#include "runtime/pod_manager.h"

namespace podnet::cli {
namespace {

namespace json = boost::json;

// Starts the PodManager in run() and stops it (containers keep running) when stop() is called.
class PodManagerRunner final : public agent::PodRunner {
 public:
  explicit PodManagerRunner(const agent::PodRunnerContext& ctx)
      : http_(ctx.api),
        api_(
            ctx.api,
            [this](const std::string& m, const std::string& p, const json::value& b) {
              return request(m, p, b);
            },
            ctx.node_name) {
    options_.node_name = ctx.node_name;
    options_.node_ip = ctx.node_ip.to_string();
    options_.state_dir = ctx.state_dir;
    options_.cni_bin = ctx.cni_bin;
    options_.cni_conf = ctx.cni_conf_path;
    // Pod namespaces are named after the node so `podnet down` finds them (CONTRACTS: pn-<node>-<uid8>).
    options_.netns_prefix = "pn-" + ctx.node_name + "-";
  }

  void run() override {
    auto manager = runtime::PodManager::start(options_, api_);
    if (!manager) {
      spdlog::error("pods: {}", manager.error().message());
      return;
    }
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return stopped_; });
  }

  void stop() override {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  Result<json::value> request(const std::string& method, const std::string& path, const json::value& body) {
    if (method == "GET") return http_.get(path);
    if (method == "PUT") return http_.update(path, body);
    if (method == "POST") return http_.create(path, body);
    if (method == "PATCH") return http_.patch(path, client::PatchType::kStrategicMerge, body);
    if (method == "DELETE") {
      if (auto done = http_.remove(path, body); !done) return std::unexpected(done.error());
      return json::value();
    }
    return fail_msg("pod runner: unsupported method " + method);
  }

  client::HttpsApiClient& http_;
  runtime::ClientPodApi api_;
  runtime::PodManagerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace

agent::PodRunnerFactory pod_manager_runner() {
  return [](const agent::PodRunnerContext& ctx) -> Result<std::unique_ptr<agent::PodRunner>> {
    return std::make_unique<PodManagerRunner>(ctx);
  };
}

}  // namespace podnet::cli
