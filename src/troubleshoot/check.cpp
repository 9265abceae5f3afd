#include "troubleshoot/check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>

#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "common/fd.h"
#include "k8s/json_fields.h"
#include "troubleshoot/check_report.h"

namespace podnet::troubleshoot {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::atomic<bool> g_interrupted{false};
constexpr auto kStragglerGrace = 10s;
extern "C" void on_signal(int) {
  g_interrupted.store(true);
}

using k8s::fields::at;
using k8s::fields::string_at;

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "podnet" : p.string();
}

// The address this machine uses toward `host` (a UDP connect sends nothing).
std::string local_address_toward(const std::string& host) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(9);
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) return "";
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return "";
  socklen_t len = sizeof sa;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) return "";
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf);
  return buf;
}

class Progress {
 public:
  explicit Progress(bool on) : on_(on && ::isatty(2)), start_(Clock::now()) {}
  void say(const std::string& what) {
    if (!on_) return;
    std::fprintf(stderr, "\r\033[K[%5.1fs] %s", seconds(), what.c_str());
    std::fflush(stderr);
  }
  void done() {
    if (on_) std::fprintf(stderr, "\r\033[K");
  }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  bool on_;
  Clock::time_point start_;
};

json::object container(const std::string& name, const std::string& image, json::array command) {
  return {
      {"name", name}, {"image", image}, {"imagePullPolicy", "IfNotPresent"}, {"command", std::move(command)}};
}

class Check {
 public:
  Check(const CheckOptions& opts, std::unique_ptr<client::HttpsApiClient> api, std::string api_host)
      : opts_(opts), api_(std::move(api)), api_host_(std::move(api_host)), progress_(opts.progress) {
    image_ = opts.image.empty() ? "podnet" : opts.image;
    podnet_ = opts.image.empty() ? self_exe() : "podnet";
  }

  int run() {
    auto rc = setup_and_probe();
    progress_.say("removing namespace " + plan_.ns);
    cleanup();
    progress_.done();
    if (g_interrupted.load()) {
      std::fprintf(stderr, "podnet check: interrupted; namespace %s removed\n", plan_.ns.c_str());
      return 130;
    }
    if (!rc) {
      std::fprintf(stderr, "podnet check: %s\n", rc.error().message().c_str());
      return 2;
    }
    diagnose(plan_, rows_);
    if (opts_.output == "json")
      std::fputs(format_json(plan_, rows_, progress_.seconds()).c_str(), stdout);
    else
      std::fputs(format_table(rows_).c_str(), stdout);
    int failed = 0, skipped = 0;
    for (const auto& r : rows_) {
      failed += r.verdict == Verdict::kFail;
      skipped += r.verdict == Verdict::kSkip;
    }
    if (opts_.output != "json") {
      std::printf("\n%zu paths: %zu passed, %d failed, %d skipped in %.1f s\n", rows_.size(),
                  rows_.size() - failed - skipped, failed, skipped, progress_.seconds());
      for (const auto& r : rows_)
        if (r.verdict == Verdict::kFail)
          std::printf("FAILED %s from %s to %s: hop %s; likely %s\n", r.path.c_str(), r.from.c_str(),
                      r.to.c_str(), r.hop.c_str(), r.cause.c_str());
    }
    return failed ? 1 : 0;
  }

 private:
  Status interrupted() const {
    if (g_interrupted.load()) return fail_msg("interrupted");
    return {};
  }

  Status setup_and_probe() {
    progress_.say("reading nodes");
    PODNET_TRY(nodes, api_->get("/api/v1/nodes"));
    if (const json::value* items = at(nodes, {"items"}); items && items->is_array())
      for (const auto& n : items->get_array()) {
        CheckNode node{string_at(n, {"metadata", "name"}), ""};
        bool ready = false;
        if (const json::value* c = at(n, {"status", "conditions"}); c && c->is_array())
          for (const auto& cond : c->get_array())
            ready = ready || (string_at(cond, {"type"}) == "Ready" && string_at(cond, {"status"}) == "True");
        if (const json::value* a = at(n, {"status", "addresses"}); a && a->is_array())
          for (const auto& addr : a->get_array())
            if (string_at(addr, {"type"}) == "InternalIP" && node.ip.empty())
              node.ip = string_at(addr, {"address"});
        if (!ready) {
          CheckRow r{"node Ready",
                     "-",
                     node.name,
                     Verdict::kFail,
                     -1,
                     "the node is not Ready: no pods placed on it",
                     "node " + node.name,
                     "its agent is down or cannot reach the API server"};
          rows_.push_back(r);
          continue;
        }
        plan_.nodes.push_back(node);
      }
    if (plan_.nodes.empty()) return fail_msg("no Ready node");
    detect_features();
    plan_.cluster_domain = opts_.cluster_domain;

    uint8_t rnd[3];
    (void)!::getrandom(rnd, sizeof rnd, 0);
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
    plan_.ns = std::string("podnet-check-") + suffix;
    progress_.say("creating namespace " + plan_.ns);
    PODNET_TRY(
        ns, api_->create(
                "/api/v1/namespaces",
                json::object{{"apiVersion", "v1"},
                             {"kind", "Namespace"},
                             {"metadata", {{"name", plan_.ns}, {"labels", {{"podnet.io/check", "true"}}}}}}));
    (void)ns;
    created_ns_ = true;
    if (plan_.policy.available)
      if (auto st = create_policy(); !st) return st;
    if (auto st = create_services(); !st) return st;
    for (const auto& n : plan_.nodes)
      if (auto st = create_server(n); !st) return st;
    start_outside_listener();

    if (auto st = wait_servers(); !st) return st;
    if (!opts_.before_clients.empty()) {
      progress_.say("running the --before-clients hook");
      ::setenv("PODNET_CHECK_NAMESPACE", plan_.ns.c_str(), 1);
      int rc = std::system(opts_.before_clients.c_str());
      if (rc != 0) return fail_msg("--before-clients hook exited with " + std::to_string(rc));
    }
    for (const auto& n : plan_.nodes) {
      if (auto st = create_client(n); !st) return st;
      if (auto st = create_host_probe(n); !st) return st;
    }
    // Meanwhile, from here: NodePorts, Local, LB.
    std::thread outside([&] { probe_outside(); });
    auto waited = wait_probes();
    outside.join();
    stop_listener_.store(true);
    if (listener_.joinable()) listener_.join();
    if (!waited) return std::unexpected(waited.error());
    if (auto st = interrupted(); !st) return st;
    auto judged = judge(plan_, results_);
    rows_.insert(rows_.end(), judged.begin(), judged.end());
    return {};
  }

  void detect_features() {
    // NetworkPolicy: the API group must serve it (the agents enforcing it is what the test checks).
    auto group = api_->get("/apis/networking.k8s.io/v1");
    bool has_np = false;
    if (group)
      if (const json::value* r = at(*group, {"resources"}); r && r->is_array())
        for (const auto& res : r->get_array())
          has_np = has_np || string_at(res, {"name"}) == "networkpolicies";
    if (!has_np)
      plan_.policy = {false,
                      "the API server does not serve networking.k8s.io/v1 networkpolicies (GET "
                      "/apis/networking.k8s.io/v1)"};
    // Cluster DNS: kube-system/kube-dns is the Service pods' resolv.conf points at.
    auto dns = api_->get("/api/v1/namespaces/kube-system/services/kube-dns");
    if (!dns || string_at(*dns, {"spec", "clusterIP"}).empty() ||
        string_at(*dns, {"spec", "clusterIP"}) == "None")
      plan_.dns = {false, "no Service kube-system/kube-dns with a ClusterIP: the cluster has no DNS"};
    // Outside: pods reach this machine where it reaches the API server by a non-loopback address.
    in_addr a{};
    if (::inet_pton(AF_INET, api_host_.c_str(), &a) != 1) {
      plan_.outside = {false, "the API server is named by host name " + api_host_ +
                                  ", no address of this machine to offer pods"};
    } else {
      std::string local = local_address_toward(api_host_);
      if (local.empty() || local.starts_with("127."))
        plan_.outside = {
            false, "this machine reaches the API server over loopback: pods have no address of it to reach"};
      else
        plan_.outside_addr = local + ":0";
    }
  }

  Status create_policy() {
    json::object np{
        {"apiVersion", "networking.k8s.io/v1"},
        {"kind", "NetworkPolicy"},
        {"metadata", {{"name", "allow-8080-only"}, {"namespace", plan_.ns}}},
        {"spec",
         {{"podSelector", {{"matchLabels", {{"podnet.io/check", "srv"}}}}},
          {"policyTypes", json::array{"Ingress"}},
          {"ingress",
           json::array{json::object{
               {"ports", json::array{json::object{{"protocol", "TCP"}, {"port", kServerPort}}}}}}}}}};
    PODNET_TRY(r, api_->create("/apis/networking.k8s.io/v1/namespaces/" + plan_.ns + "/networkpolicies", np));
    (void)r;
    return {};
  }

  Result<json::value> create_service(const std::string& name, const std::string& type,
                                     const std::string& etp) {
    json::object spec{
        {"selector", {{"podnet.io/check", "srv"}}},
        {"type", type},
        {"ports", json::array{json::object{
                      {"port", kServicePort}, {"targetPort", kServerPort}, {"protocol", "TCP"}}}}};
    if (!etp.empty()) spec["externalTrafficPolicy"] = etp;
    return api_->create("/api/v1/namespaces/" + plan_.ns + "/services",
                        json::object{{"apiVersion", "v1"},
                                     {"kind", "Service"},
                                     {"metadata", {{"name", name}, {"namespace", plan_.ns}}},
                                     {"spec", std::move(spec)}});
  }

  Status create_services() {
    progress_.say("creating Services");
    PODNET_TRY(cip, create_service("cip", "ClusterIP", ""));
    plan_.cluster_ip = string_at(cip, {"spec", "clusterIP"});
    PODNET_TRY(ext, create_service("ext", "LoadBalancer", "Cluster"));
    if (const json::value* p = at(ext, {"spec", "ports"}); p && p->is_array() && !p->get_array().empty())
      if (const json::value* np = at(p->get_array()[0], {"nodePort"}); np && np->is_int64())
        plan_.node_port = static_cast<uint16_t>(np->get_int64());
    PODNET_TRY(local, create_service("local", "NodePort", "Local"));
    if (const json::value* p = at(local, {"spec", "ports"}); p && p->is_array() && !p->get_array().empty())
      if (const json::value* np = at(p->get_array()[0], {"nodePort"}); np && np->is_int64())
        plan_.local_node_port = static_cast<uint16_t>(np->get_int64());
    return {};
  }

  json::object pod(const std::string& name, const std::string& node, const std::string& role,
                   json::array containers, bool host_network = false) {
    json::object spec{{"nodeName", node},
                      {"containers", std::move(containers)},
                      {"terminationGracePeriodSeconds", 1},
                      {"enableServiceLinks", false},
                      {"restartPolicy", role == "srv" ? "Always" : "Never"}};
    if (host_network) spec["hostNetwork"] = true;
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", plan_.ns}, {"labels", {{"podnet.io/check", role}}}}},
            {"spec", std::move(spec)}};
  }

  Status create_pod(const json::object& p) {
    PODNET_TRY(r, api_->create("/api/v1/namespaces/" + plan_.ns + "/pods", p));
    (void)r;
    return {};
  }

  Status create_server(const CheckNode& n) {
    const std::string name = "srv-" + n.name;
    auto c = container("srv", image_,
                       json::array{podnet_, "check-agent", "serve", "--name", name, "--port",
                                   std::to_string(kServerPort), "--port", std::to_string(kDeniedPort)});
    c["readinessProbe"] = json::object{{"tcpSocket", {{"port", kServerPort}}}, {"periodSeconds", 1}};
    return create_pod(pod(name, n.name, "srv", json::array{c}));
  }

  json::array probe_command(const std::vector<ProbeTarget>& targets) {
    json::array cmd{podnet_, "check-agent", "probe", "--deadline-ms", "6000"};
    for (const auto& t : targets) cmd.push_back(json::string(format_target(t)));
    return cmd;
  }

  Status create_client(const CheckNode& n) {
    auto peer = container("peer", image_,
                          json::array{podnet_, "check-agent", "serve", "--name", "peer", "--bind",
                                      "127.0.0.1", "--port", std::to_string(kPeerPort)});
    auto probe = container("probe", image_, probe_command(client_targets(plan_, n.name)));
    return create_pod(pod("cli-" + n.name, n.name, "cli", json::array{probe, peer}));
  }

  Status create_host_probe(const CheckNode& n) {
    auto probe = container("probe", image_, probe_command(node_targets(plan_, n.name)));
    return create_pod(pod("host-" + n.name, n.name, "host", json::array{probe}, true));
  }

  Result<json::array> list_pods() {
    PODNET_TRY(list, api_->get("/api/v1/namespaces/" + plan_.ns + "/pods"));
    const json::value* items = at(list, {"items"});
    if (!items || !items->is_array()) return json::array{};
    return items->get_array();
  }

  // Why a pod is not running yet, from its container statuses ("ContainerCreating: ...").
  static std::string waiting_reason(const json::value& p) {
    std::string why = string_at(p, {"status", "phase"});
    if (const json::value* cs = at(p, {"status", "containerStatuses"}); cs && cs->is_array())
      for (const auto& c : cs->get_array()) {
        std::string reason = string_at(c, {"state", "waiting", "reason"});
        if (reason.empty()) reason = string_at(c, {"state", "terminated", "reason"});
        if (!reason.empty())
          why += "; " + string_at(c, {"name"}) + ": " + reason + " " +
                 string_at(c, {"state", "waiting", "message"});
      }
    return why;
  }

  Status wait_servers() {
    auto deadline = Clock::now() + std::chrono::seconds(opts_.timeout_seconds);
    bool first = true;
    for (;;) {
      if (auto st = interrupted(); !st) return st;
      PODNET_TRY(pods, list_pods());
      std::map<std::string, std::string> not_ready;
      for (const auto& n : plan_.nodes) not_ready["srv-" + n.name] = "not created";
      for (const auto& p : pods) {
        std::string name = string_at(p, {"metadata", "name"});
        if (!not_ready.count(name)) continue;
        bool ready = false;
        if (const json::value* c = at(p, {"status", "conditions"}); c && c->is_array())
          for (const auto& cond : c->get_array())
            ready = ready || (string_at(cond, {"type"}) == "Ready" && string_at(cond, {"status"}) == "True");
        std::string ip = string_at(p, {"status", "podIP"});
        if (ready && !ip.empty()) {
          not_ready.erase(name);
          plan_.server_ip[name.substr(4)] = ip;
        } else {
          not_ready[name] = waiting_reason(p);
        }
      }
      if (first && not_ready.size() < plan_.nodes.size()) {
        // Pods of healthy nodes start within a second or two of each other; a node whose pods do
        // not follow the first by this much is reported rather than waited for.
        first = false;
        deadline = std::min(deadline, Clock::now() + kStragglerGrace);
      }
      progress_.say("server pods ready: " + std::to_string(plan_.nodes.size() - not_ready.size()) + "/" +
                    std::to_string(plan_.nodes.size()));
      if (not_ready.empty()) return {};
      if (Clock::now() > deadline) {
        // The servers that came up are still tested; the others are a failed row each.
        for (const auto& [name, why] : not_ready) {
          std::string node = name.substr(4);
          rows_.push_back({"server pod Ready", "-", "pod " + name, Verdict::kFail, -1,
                           "not Ready in time: " + why, "pod start on " + node,
                           "the pod did not start on " + node +
                               " (no podnet binary/image there? use --image) or its readiness probe fails"});
        }
        if (plan_.server_ip.empty()) return fail_msg("no server pod became Ready");
        return {};
      }
      std::this_thread::sleep_for(200ms);
    }
  }

  Status wait_probes() {
    auto deadline = Clock::now() + std::chrono::seconds(opts_.timeout_seconds);
    bool first = true;
    std::set<std::string> pending;
    for (const auto& n : plan_.nodes) {
      pending.insert("cli-" + n.name);
      pending.insert("host-" + n.name);
    }
    std::map<std::string, std::string> why;
    while (!pending.empty()) {
      if (auto st = interrupted(); !st) return st;
      PODNET_TRY(pods, list_pods());
      for (const auto& p : pods) {
        std::string name = string_at(p, {"metadata", "name"});
        if (name.starts_with("cli-") && !string_at(p, {"status", "podIP"}).empty())
          plan_.client_ip[name.substr(4)] = string_at(p, {"status", "podIP"});
        if (!pending.count(name)) continue;
        bool done = false;
        if (const json::value* cs = at(p, {"status", "containerStatuses"}); cs && cs->is_array())
          for (const auto& c : cs->get_array())
            done = done || (string_at(c, {"name"}) == "probe" && at(c, {"state", "terminated"}));
        if (!done) {
          why[name] = waiting_reason(p);
          continue;
        }
        pending.erase(name);
        auto log =
            api_->get_text("/api/v1/namespaces/" + plan_.ns + "/pods/" + name + "/log?container=probe");
        bool client = name.starts_with("cli-");
        std::string node = name.substr(client ? 4 : 5);
        if (!log) {
          results_.missing[(client ? "client/" : "node/") + node] =
              "reading its log: " + log.error().message();
          continue;
        }
        auto rs = parse_results(*log);
        if (rs.empty()) {
          results_.missing[(client ? "client/" : "node/") + node] =
              "no results in its log: \"" + log->substr(0, 200) + "\"";
          continue;
        }
        (client ? results_.client : results_.node)[node] = std::move(rs);
      }
      if (first && pending.size() < 2 * plan_.nodes.size()) {
        first = false;
        deadline = std::min(deadline, Clock::now() + kStragglerGrace);
      }
      progress_.say("probes running: " + std::to_string(2 * plan_.nodes.size() - pending.size()) + "/" +
                    std::to_string(2 * plan_.nodes.size()) + " pods reported");
      if (pending.empty()) break;
      if (Clock::now() > deadline) {
        for (const auto& name : pending) {
          bool client = name.starts_with("cli-");
          results_.missing[(client ? "client/" : "node/") + name.substr(client ? 4 : 5)] =
              "not done in time: " + why[name];
        }
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    return {};
  }

  void start_outside_listener() {
    if (!plan_.outside.available) return;
    std::string addr = plan_.outside_addr.substr(0, plan_.outside_addr.rfind(':'));
    std::atomic<int> port{-1};
    listener_ = std::thread([this, addr, &port] {
      auto st = serve("outside", addr, {0}, stop_listener_, [&](uint16_t p) { port.store(p); });
      if (!st) port.store(0);
    });
    while (port.load() < 0) std::this_thread::sleep_for(1ms);
    if (port.load() == 0) {
      plan_.outside = {false, "could not listen on " + addr + " for the pods' egress probes"};
      return;
    }
    plan_.outside_addr = addr + ":" + std::to_string(port.load());
  }

  void probe_outside() {
    // The LB IP, if a load-balancer implementation gives one within a few seconds.
    const auto lb_deadline = Clock::now() + 8s;
    while (!g_interrupted.load()) {
      auto ext = api_->get("/api/v1/namespaces/" + plan_.ns + "/services/ext");
      if (ext)
        if (const json::value* in = at(*ext, {"status", "loadBalancer", "ingress"});
            in && in->is_array() && !in->get_array().empty())
          plan_.lb_ip = string_at(in->get_array()[0], {"ip"});
      if (!plan_.lb_ip.empty() || Clock::now() > lb_deadline) break;
      std::this_thread::sleep_for(200ms);
    }
    if (plan_.lb_ip.empty())
      plan_.lb = {false,
                  "Service ext (type LoadBalancer) got no status.loadBalancer.ingress IP in 8 s: no "
                  "load-balancer implementation"};
    auto targets = outside_targets(plan_);
    std::vector<ProbeResult> rs(targets.size());
    std::vector<std::thread> threads;
    ProbeTiming timing;
    for (size_t i = 0; i < targets.size(); ++i)
      threads.emplace_back([&, i] { rs[i] = probe(targets[i], timing); });
    for (auto& t : threads) t.join();
    results_.outside = std::move(rs);
    if (!plan_.nodes.empty()) results_.outside_local_addr = local_address_toward(plan_.nodes.front().ip);
  }

  void cleanup() {
    stop_listener_.store(true);
    if (listener_.joinable()) listener_.join();
    if (!created_ns_) return;
    // Pods first with no grace (the check's servers need none), then the namespace with the rest.
    (void)api_->remove(
        "/api/v1/namespaces/" + plan_.ns + "/pods",
        json::object{{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"gracePeriodSeconds", 0}});
    auto st = api_->remove("/api/v1/namespaces/" + plan_.ns);
    if (!st && !k8s::is_not_found(st.error()))
      std::fprintf(stderr, "podnet check: delete namespace %s: %s\n", plan_.ns.c_str(),
                   st.error().message().c_str());
    const auto deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
      auto ns = api_->get("/api/v1/namespaces/" + plan_.ns);
      auto pods = api_->get("/api/v1/namespaces/" + plan_.ns + "/pods");
      bool pods_gone = pods && (!at(*pods, {"items"}) || !at(*pods, {"items"})->is_array() ||
                                at(*pods, {"items"})->get_array().empty());
      if (!ns && k8s::is_not_found(ns.error()) && (pods_gone || !pods)) return;
      std::this_thread::sleep_for(200ms);
    }
    std::fprintf(stderr, "podnet check: namespace %s still there after 30 s\n", plan_.ns.c_str());
  }

  CheckOptions opts_;
  std::unique_ptr<client::HttpsApiClient> api_;
  std::string api_host_;
  Progress progress_;
  std::string image_, podnet_;
  CheckPlan plan_;
  CheckResults results_;
  std::vector<CheckRow> rows_;
  bool created_ns_ = false;
  std::atomic<bool> stop_listener_{false};
  std::thread listener_;
};

}  // namespace

std::string default_kubeconfig() {
  if (const char* k = std::getenv("KUBECONFIG"); k && *k) {
    std::string s = k;
    return s.substr(0, s.find(':'));
  }
  if (const char* home = std::getenv("HOME")) {
    std::string p = std::string(home) + "/.kube/config";
    if (::access(p.c_str(), R_OK) == 0) return p;
  }
  return "/var/lib/podnet/up/server/admin.kubeconfig";
}

int run_check(const CheckOptions& opts) {
  std::string path = opts.kubeconfig.empty() ? default_kubeconfig() : opts.kubeconfig;
  auto access = client::load_kubeconfig(path);
  if (!access) {
    std::fprintf(stderr, "podnet check: kubeconfig %s: %s\n", path.c_str(), access.error().message().c_str());
    return 2;
  }
  auto url = client::parse_server_url(access->server);
  if (!url) {
    std::fprintf(stderr, "podnet check: %s\n", url.error().message().c_str());
    return 2;
  }
  client::HttpsClientOptions copts;
  copts.request_timeout = 10s;
  copts.user_agent = "podnet-check";
  auto api = client::HttpsApiClient::create(*access, copts);
  if (!api) {
    std::fprintf(stderr, "podnet check: %s\n", api.error().message().c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  Check check(opts, std::move(*api), url->host);
  int rc = check.run();
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return rc;
}

int check_agent_serve(const std::string& name, const std::string& bind, const std::vector<uint16_t>& ports) {
  std::atomic<bool> stop{false};
  auto st = serve(name, bind, ports, stop);
  if (!st) {
    std::fprintf(stderr, "podnet check-agent serve: %s\n", st.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace podnet::troubleshoot
