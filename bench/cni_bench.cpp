// cni_bench: wall time of CNI ADD and DEL for podnet-cni against the reference bridge + host-local
// plugins, on the same configuration, side by side in one run.
//
// Every operation is what a runtime does: fork, setns into the node's network namespace, exec the
// plugin with CNI_* in its environment and the config on stdin, wait for it to exit. The time is
// taken from before the fork to after the wait (and the end of its output). Two scenarios: an
// empty bridge, and a bridge that already has --pods pods; ours and the reference each get one node
// namespace per scenario. --ops cycles of ADD then DEL of one more pod run on all four at once, op
// by op in a rotating order, so a change in the machine's load weighs on every column alike. After
// each DEL the bench waits until the veth is really deleted (podnet-cni deletes it from a detached
// process after exiting), so no op overlaps another's work; that time is reported as "DEL+gone".
//
// Everything lives in namespaces the bench creates (pn-bench-<pid>-<tag>-...) and a temporary
// directory; both are removed at the end, on error and on SIGINT/SIGTERM/SIGHUP (bench/stop_signal.h).
// Needs root.
//
//   cni_bench [--ops N] [--pods N] [--plugin PATH] [--ref-dir DIR]   (--help lists them)
#include <net/if.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "netlink/netns.h"
#include "runtime/cni_exec.h"
#include "stop_signal.h"

namespace {

namespace fs = std::filesystem;
using podnet::bench::StopSignal;
using podnet::runtime::CniRequest;

struct Options {
  int ops = 200;
  int pods = 250;
  std::string plugin = std::string(PODNET_BINARY_DIR) + "/podnet-cni";
  std::string ref_dir = "/usr/lib/cni";
};

// Owns what the bench creates: named network namespaces and the temporary directory.
class Workspace {
 public:
  Workspace() {
    std::random_device rd;
    char tag[16];
    std::snprintf(tag, sizeof tag, "%04x", rd() & 0xffff);
    prefix_ = "pn-bench-" + std::to_string(::getpid()) + "-" + tag;
    // IPAM state where runtimes keep it (/var/lib/cni): creating a file under /tmp costs ~0.7 ms on
    // this machine against ~20 us there, which would swamp both plugins' numbers.
    std::error_code ec;
    fs::create_directories("/var/lib/cni", ec);
    std::string tmpl = "/var/lib/cni/" + prefix_ + "-XXXXXX";
    if (::mkdtemp(tmpl.data())) dir_ = tmpl;
    if (!dir_.empty()) StopSignal::track_path(dir_);
  }
  ~Workspace() {
    for (auto it = netns_.rbegin(); it != netns_.rend(); ++it) {
      if (auto s = StopSignal::delete_netns(*it); !s)
        std::fprintf(stderr, "cni_bench: %s\n", s.error().message().c_str());
    }
    std::error_code ec;
    if (!dir_.empty()) {
      fs::remove_all(dir_, ec);
      StopSignal::untrack_path(dir_);
    }
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  const std::string& dir() const { return dir_; }

  // Creates pn-bench-<pid>-<tag>-<suffix>; returns its path, "" on failure (reported).
  std::string netns(const std::string& suffix) {
    std::string name = prefix_ + "-" + suffix;
    auto ns = StopSignal::create_netns(name);
    if (!ns) {
      if (StopSignal::requested()) return "";
      std::fprintf(stderr, "cni_bench: %s\n", ns.error().message().c_str());
      return "";
    }
    netns_.push_back(name);
    return ns->path();
  }

 private:
  std::string prefix_, dir_;
  std::vector<std::string> netns_;
};

// One plugin under test: its binary, its node namespace and its config.
struct Subject {
  std::string label;
  std::string binary;
  std::string cni_path;
  std::string config;
  podnet::netlink::NetNs node;
  std::vector<std::string> pods;                  // the scenario's pre-existing pods' namespaces
  std::string measure_ns;                         // the namespace the measured ADD/DEL cycles use
  std::optional<podnet::netlink::NetNs> measure;  // the same, open
  std::string state_dir;                          // the config's stateDir
};

struct Call {
  bool ok = false;
  double ms = 0;
  std::string out;
};

Call call(const Subject& s, const std::string& command, const std::string& id, const std::string& netns,
          const std::string& config) {
  CniRequest req;
  req.binary = s.binary;
  req.command = command;
  req.container_id = id;
  req.netns = netns;
  req.ifname = command == "VERSION" ? "" : "eth0";
  req.path = s.cni_path;
  req.config = config;
  req.node_netns_fd = s.node.fd();
  auto t0 = std::chrono::steady_clock::now();
  auto r = podnet::runtime::exec_cni(req);
  auto t1 = std::chrono::steady_clock::now();
  Call c;
  c.ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  if (!r) {
    c.out = r.error().message();
    return c;
  }
  c.ok = r->exit_code == 0;
  c.out = r->out;
  if (!c.ok) c.out = "exit " + std::to_string(r->exit_code) + ": " + r->out;
  return c;
}

// A DEL's config carries the ADD's result as prevResult, as libcni sends it.
std::string with_prev_result(const std::string& config, const std::string& add_out) {
  std::string result = add_out;
  while (!result.empty() && (result.back() == '\n' || result.back() == ' ')) result.pop_back();
  auto end = config.rfind('}');
  return config.substr(0, end) + ", \"prevResult\": " + result + "}";
}

struct Stats {
  double median = 0, p95 = 0, min = 0;
};
Stats stats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
  };
  s.median = rank(0.5);
  s.p95 = rank(0.95);
  s.min = v.front();
  return s;
}

struct Samples {
  std::vector<double> add, del;
  std::vector<double> del_gone;  // from the start of DEL until the pod's interface is really gone
};

// Waits until `ifname` no longer exists in `ns` and podnet-cni has no deletion pending (it deletes
// the veth from a detached process after it has exited, and marks each one in
// <stateDir>/pending-delete until done); returns false after 5 s.
bool wait_link_gone(const podnet::netlink::NetNs& ns, const char* ifname, const std::string& state_dir) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    auto gone = ns.run([&]() -> podnet::Result<bool> { return ::if_nametoindex(ifname) == 0; });
    std::error_code ec;
    bool pending = !fs::is_empty(state_dir + "/pending-delete", ec) && !ec;
    if (gone && *gone && !pending) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

bool fail(const Subject& s, const std::string& what, const Call& c) {
  if (StopSignal::requested()) return false;  // Ctrl-C reached the plugin too
  std::fprintf(stderr, "cni_bench: %s %s failed: %s\n", s.label.c_str(), what.c_str(), c.out.c_str());
  return false;
}

// --ops cycles of ADD + DEL of one pod, alternating between the subjects op by op.
bool measure_cycles(std::vector<Subject*> subjects, int ops, const std::string& scenario,
                    std::vector<Samples>& out) {
  out.assign(subjects.size(), {});
  constexpr int kWarmup = 5;
  for (int i = -kWarmup; i < ops && !StopSignal::requested(); ++i) {
    std::vector<size_t> order(subjects.size());
    for (size_t k = 0; k < order.size(); ++k)
      order[k] = (k + static_cast<size_t>(i + kWarmup)) % order.size();
    std::vector<std::string> add_out(subjects.size());
    std::string id = "pnbench-" + scenario + "-" + std::to_string(i + kWarmup);
    for (size_t k : order) {
      auto& s = *subjects[k];
      auto c = call(s, "ADD", id, s.measure_ns, s.config);
      if (!c.ok) return fail(s, "ADD " + id, c);
      if (i >= 0) out[k].add.push_back(c.ms);
      add_out[k] = c.out;
    }
    for (size_t k : order) {
      auto& s = *subjects[k];
      auto t0 = std::chrono::steady_clock::now();
      auto c = call(s, "DEL", id, s.measure_ns, with_prev_result(s.config, add_out[k]));
      if (!c.ok) return fail(s, "DEL " + id, c);
      // Each op runs alone: a deletion still going on in the background would slow the next one.
      if (!wait_link_gone(*s.measure, "eth0", s.state_dir))
        return fail(s, "DEL " + id, {false, 0, "eth0 still there after 5 s"});
      double gone = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 0) out[k].del.push_back(c.ms), out[k].del_gone.push_back(gone);
    }
  }
  return !StopSignal::requested();
}

void row(const char* scenario, const char* op, const std::vector<double>& ours,
         const std::vector<double>& ref) {
  auto o = stats(ours), r = stats(ref);
  std::printf("%-16s %-8s %10.2f %10.2f %10.2f %10.2f %10.3f %10.3f\n", scenario, op, o.median, o.p95,
              r.median, r.p95, o.median / r.median, o.p95 / r.p95);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{
      "cni_bench: wall time of CNI ADD and DEL, podnet-cni against the reference bridge + host-local "
      "plugins, side by side (root; namespaces pn-bench-<pid>-*, removed at the end and on "
      "SIGINT/SIGTERM)"};
  app.add_option("--ops", opt.ops, "ADD+DEL cycles measured per scenario")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--pods", opt.pods, "Pods already on the bridge in the second scenario")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--plugin", opt.plugin, "podnet-cni binary")->capture_default_str();
  app.add_option("--ref-dir", opt.ref_dir, "Directory of the reference bridge and host-local plugins")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) {
    std::fprintf(stderr, "cni_bench: needs root (it creates network namespaces)\n");
    return 1;
  }
  for (const auto& bin : {opt.plugin, opt.ref_dir + "/bridge", opt.ref_dir + "/host-local"}) {
    if (::access(bin.c_str(), X_OK) != 0) {
      std::fprintf(
          stderr,
          "cni_bench: %s is missing (build podnet-cni; apt-get install containernetworking-plugins)\n",
          bin.c_str());
      return 1;
    }
  }
  StopSignal stop("cni_bench", std::chrono::seconds(10));
  Workspace ws;
  if (ws.dir().empty()) return 1;
  int rc = [&]() -> int {
    // The same network for both: only "type" and the IPAM type differ (podnet's built-in IPAM takes
    // host-local's keys). Each has its own node namespace, so both use the same bridge and subnet.
    auto conf = [&](const std::string& type, const std::string& ipam_type, const std::string& sub) {
      return R"({"cniVersion": "1.0.0", "name": "pnbench", "type": ")" + type +
             R"(", "bridge": "pnbench0", "isGateway": true, "isDefaultGateway": true, "stateDir": ")" +
             ws.dir() + "/" + sub + R"(/state", "ipam": {"type": ")" + ipam_type + R"(", "dataDir": ")" +
             ws.dir() + "/" + sub + R"(/ipam", "ranges": [[{"subnet": "10.99.0.0/16"}]]}})";
    };
    auto open_node = [&](const std::string& suffix) -> std::optional<podnet::netlink::NetNs> {
      std::string path = ws.netns(suffix);
      if (path.empty()) return std::nullopt;
      auto ns = podnet::netlink::NetNs::open(path);
      if (!ns) return std::nullopt;
      return std::move(*ns);
    };
    // Four subjects, each with its own node namespace: ours and the reference, on an empty bridge
    // and on one filled with --pods pods. All four are measured in the same loop, so a change in the
    // machine's load during the run weighs on every column alike.
    auto make = [&](const std::string& label, const std::string& binary, const std::string& type,
                    const std::string& ipam_type, const std::string& sub) -> std::unique_ptr<Subject> {
      auto node = open_node("node-" + sub);
      std::string measure = ws.netns("m-" + sub);
      if (!node || measure.empty()) return nullptr;
      auto measure_ns = podnet::netlink::NetNs::open(measure);
      if (!measure_ns) return nullptr;
      return std::make_unique<Subject>(Subject{label,
                                               binary,
                                               opt.ref_dir,
                                               conf(type, ipam_type, sub),
                                               std::move(*node),
                                               {},
                                               measure,
                                               std::move(*measure_ns)});
    };
    std::string ref_bin = opt.ref_dir + "/bridge";
    std::vector<std::unique_ptr<Subject>> owned;
    owned.push_back(make("podnet-cni", opt.plugin, "podnet", "podnet", "ours-empty"));
    owned.push_back(make("bridge+host-local", ref_bin, "bridge", "host-local", "ref-empty"));
    owned.push_back(make("podnet-cni", opt.plugin, "podnet", "podnet", "ours-full"));
    owned.push_back(make("bridge+host-local", ref_bin, "bridge", "host-local", "ref-full"));
    std::vector<Subject*> subjects;
    for (auto& o : owned) {
      if (!o) return 1;
      subjects.push_back(o.get());
    }

    std::printf("cni_bench: %d ADD+DEL cycles on an empty bridge and on one with %d pods\n", opt.ops,
                opt.pods);
    std::printf("  ours: %s\n  ref:  %s/bridge + host-local\n", opt.plugin.c_str(), opt.ref_dir.c_str());
    std::fflush(stdout);

    // Exec cost alone: VERSION reads no state and touches no namespace.
    std::vector<std::vector<double>> version(2);
    for (int i = 0; i < opt.ops && !StopSignal::requested(); ++i) {
      for (size_t k = 0; k < 2; ++k) {
        size_t who = (k + static_cast<size_t>(i)) % 2;
        auto c = call(*subjects[who], "VERSION", "", "", R"({"cniVersion": "1.0.0"})");
        if (!c.ok) return fail(*subjects[who], "VERSION", c), 1;
        version[who].push_back(c.ms);
      }
    }

    // Fill the "full" bridges, each pod in its own namespace.
    auto t0 = std::chrono::steady_clock::now();
    std::vector<double> fill_ms(2, 0);
    for (int i = 0; i < opt.pods && !StopSignal::requested(); ++i) {
      for (size_t k = 0; k < 2; ++k) {
        auto& s = *subjects[2 + k];
        std::string ns = ws.netns((k == 0 ? "o" : "r") + std::to_string(i));
        if (ns.empty()) return 1;
        s.pods.push_back(ns);
        auto c = call(s, "ADD", "pnbench-pod-" + std::to_string(i), ns, s.config);
        if (!c.ok) return fail(s, "ADD (fill)", c), 1;
        fill_ms[k] += c.ms;
      }
    }
    double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (StopSignal::requested()) return 1;

    std::vector<Samples> samples;
    if (!measure_cycles(subjects, opt.ops, "m", samples)) return 1;
    const Samples &ours_empty = samples[0], &ref_empty = samples[1], &ours_full = samples[2],
                  &ref_full = samples[3];

    std::printf("\nwall time per operation, ms (spawn to exit), %d ops each\n", opt.ops);
    std::printf("%-16s %-8s %10s %10s %10s %10s %10s %10s\n", "scenario", "op", "ours p50", "ours p95",
                "ref p50", "ref p95", "p50 ratio", "p95 ratio");
    row("-", "VERSION", version[0], version[1]);
    row("empty bridge", "ADD", ours_empty.add, ref_empty.add);
    row("empty bridge", "DEL", ours_empty.del, ref_empty.del);
    row("empty bridge", "DEL+gone", ours_empty.del_gone, ref_empty.del_gone);
    std::string with = std::to_string(opt.pods) + " pods";
    row(with.c_str(), "ADD", ours_full.add, ref_full.add);
    row(with.c_str(), "DEL", ours_full.del, ref_full.del);
    row(with.c_str(), "DEL+gone", ours_full.del_gone, ref_full.del_gone);
    std::printf(
        "(DEL+gone: from the start of DEL until the veth is deleted; podnet-cni deletes it in a\n"
        " detached process after it has exited, the reference before it exits.)\n");
    std::printf("(filling %d pods: ours %.0f ms, ref %.0f ms of plugin time; %.1f s in all)\n", opt.pods,
                fill_ms[0], fill_ms[1], fill_s);

    // The targets.
    auto med = [](const std::vector<double>& v) { return stats(v).median; };
    bool ok = true;
    auto check = [&](const char* what, double value, double limit) {
      bool pass = value <= limit;
      ok &= pass;
      std::printf("  %-4s %-52s %.3f (limit %.3f)\n", pass ? "ok" : "MISS", what, value, limit);
    };
    std::printf("\ntargets:\n");
    check("ours/ref ADD median, empty bridge", med(ours_empty.add) / med(ref_empty.add), 0.2);
    check("ours/ref DEL median, empty bridge", med(ours_empty.del) / med(ref_empty.del), 0.2);
    check(("ours/ref ADD median, " + with).c_str(), med(ours_full.add) / med(ref_full.add), 0.2);
    check(("ours/ref DEL median, " + with).c_str(), med(ours_full.del) / med(ref_full.del), 0.2);
    check(("ours ADD median, " + with + " / empty bridge").c_str(), med(ours_full.add) / med(ours_empty.add),
          1.5);
    return ok ? 0 : 3;
  }();
  if (StopSignal::requested()) std::fprintf(stderr, "cni_bench: interrupted, cleaned up\n");
  return StopSignal::requested() ? StopSignal::exit_code() : rc;
}
