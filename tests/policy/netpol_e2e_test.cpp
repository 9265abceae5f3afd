// NetworkPolicy truth tables on a `podnet up` cluster (issue 15), in the manner of Kubernetes' own
// e2e netpol suite: namespaces x, y, z with pods a, b, c each (a and c on node1, b on node2), each
// serving TCP and UDP on ports 80 and 81. Per case the policies are replaced and the whole
// reachability matrix (9 x 9 pods x {TCP, UDP} x {80, 81}) is probed in parallel from the pods'
// own namespaces with non-blocking sockets and compared to the expected one, until it matches or
// a deadline passes. Run with the eBPF fast path on and off.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "common/fd.h"
#include "common/files.h"
#include "common/ip.h"
#include "netlink/netns.h"
#include "support/kubectl.h"
#include "support/temp_dir.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const std::array<std::string, 3> kNs{"x", "y", "z"};
const std::array<std::string, 3> kPods{"a", "b", "c"};
constexpr int kN = 9;  // pod index i: namespace kNs[i / 3], pod kPods[i % 3]

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

struct Port {
  bool udp;
  int port;
};
const std::array<Port, 4> kPorts{{{false, 80}, {false, 81}, {true, 80}, {true, 81}}};

// Expected (or seen) reachability: [port index][from][to].
using Matrix = std::array<std::array<std::array<bool, kN>, kN>, 4>;
using Rule = std::function<bool(int from, int to, const Port& p)>;

Matrix matrix_of(const Rule& allowed) {
  Matrix m{};
  for (int pi = 0; pi < 4; ++pi)
    for (int f = 0; f < kN; ++f)
      for (int t = 0; t < kN; ++t) m[pi][f][t] = f == t || allowed(f, t, kPorts[pi]);  // loopback
  return m;
}

std::string name_of(int i) {
  return kNs[i / 3] + "/" + kPods[i % 3];
}

std::string describe(const Matrix& want, const Matrix& got) {
  std::string out;
  for (int pi = 0; pi < 4; ++pi) {
    out += std::string(kPorts[pi].udp ? "UDP" : "TCP") + "/" + std::to_string(kPorts[pi].port) +
           " (rows: from, columns: to; . ok, X denied, lower case: unexpected)\n     ";
    for (int t = 0; t < kN; ++t) out += " " + name_of(t);
    out += "\n";
    for (int f = 0; f < kN; ++f) {
      out += name_of(f) + " ";
      for (int t = 0; t < kN; ++t) {
        bool w = want[pi][f][t], g = got[pi][f][t];
        out += "   ";
        out += w == g ? (g ? '.' : 'X') : (g ? 'o' : 'x');
      }
      out += "\n";
    }
  }
  return out;
}

json::object serve_pod(const std::string& ns, const std::string& name, const std::string& node) {
  std::string script;
  for (int port : {80, 81}) {
    std::string p = std::to_string(port);
    // TCP 81 echoes (a connection stays open while its client holds it: the agent-kill test).
    script += "socat TCP-LISTEN:" + p + ",fork,reuseaddr EXEC:" + (port == 81 ? "cat" : "true") + " & ";
    script += "socat -T1 UDP-LISTEN:" + p + ",fork,reuseaddr EXEC:cat & ";  // echoes each datagram
  }
  script += "wait";
  json::array ports;
  for (const auto& p : kPorts) {
    std::string proto = p.udp ? "UDP" : "TCP";
    ports.push_back({{"name", "serve-" + std::to_string(p.port) + "-" + (p.udp ? "udp" : "tcp")},
                     {"containerPort", p.port},
                     {"protocol", proto}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"pod", name}}}}},
          {"spec",
           {{"nodeName", node},
            {"terminationGracePeriodSeconds", 1},
            {"containers",
             json::array{{{"name", "srv"},
                          {"image", "unused"},
                          {"command", json::array{"sh", "-c", script}},
                          {"ports", ports},
                          {"readinessProbe", {{"tcpSocket", {{"port", 80}}}, {"periodSeconds", 1}}}}}}}}};
}

json::object netpol(const std::string& ns, const std::string& name, json::object spec) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", std::move(spec)}};
}

class NetpolE2E : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
    if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
    auto t0 = std::chrono::steady_clock::now();
    auto r = c_.up(2, std::string("--overlay vxlan --timeout 120") + (GetParam() ? "" : " --no-fast-path"));
    ASSERT_EQ(r.rc, 0) << r.out;
    json::array items;
    for (const auto& ns : kNs)
      items.push_back({{"apiVersion", "v1"},
                       {"kind", "Namespace"},
                       {"metadata", {{"name", ns}, {"labels", {{"ns", ns}}}}}});
    ASSERT_NO_FATAL_FAILURE(apply(items));
    items.clear();
    for (int i = 0; i < kN; ++i)
      items.push_back(serve_pod(kNs[i / 3], kPods[i % 3], i % 3 == 1 ? "node2" : "node1"));
    ASSERT_NO_FATAL_FAILURE(apply(items));
    for (const auto& ns : kNs) {
      auto w = c_.kubectl("wait -n " + ns + " --for=condition=Ready --timeout=60s pod/a pod/b pod/c");
      ASSERT_EQ(w.rc, 0) << w.out << c_.kubectl("get pods -A -o wide").out;
    }
    for (int i = 0; i < kN; ++i) ASSERT_NO_FATAL_FAILURE(locate(i, kNs[i / 3], kPods[i % 3]));
    setup_time_ = std::chrono::steady_clock::now() - t0;
  }
  void TearDown() override {
    if (!IsSkipped())
      std::printf("netpol e2e (fast path %s): setup %.1f s, %d cases, %.1f s probing, %d probe rounds\n",
                  GetParam() ? "on" : "off", std::chrono::duration<double>(setup_time_).count(), cases_,
                  std::chrono::duration<double>(probe_time_).count(), rounds_);
  }

  // Finds pod ns/name's address and network namespace and puts them in slot i of the matrix.
  void locate(int i, const std::string& ns, const std::string& p) {
    std::string out =
        trim(c_.kubectl("get pod -n " + ns + " " + p + " -o jsonpath='{.metadata.uid} {.status.podIP}'").out);
    auto sp = out.find(' ');
    ASSERT_NE(sp, std::string::npos) << out;
    std::string h;
    for (char ch : out.substr(0, sp))
      if (ch != '-' && h.size() < 8) h += ch;
    ip_[i] = out.substr(sp + 1);
    netns_[i].reset();
    for (const auto& e : std::filesystem::directory_iterator("/run/netns")) {
      std::string n = e.path().filename().string();
      if (n.starts_with("pn-") && n.ends_with("-" + h)) {
        auto opened = netlink::NetNs::open(e.path().string());
        ASSERT_TRUE(opened) << opened.error().message();
        netns_[i].emplace(std::move(*opened));
      }
    }
    ASSERT_TRUE(netns_[i]) << "no netns for " << ns << "/" << p;
  }

  void apply(const json::array& items) {
    TempDir dir("pn-np-e2e");
    json::object list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
    ASSERT_TRUE(write_file_atomic(dir.path() + "/objs.json", json::serialize(list)));
    auto r = c_.kubectl("apply -f " + dir.path() + "/objs.json");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  void delete_policies() {
    auto r = c_.kubectl("delete networkpolicies --all -A --wait=false");
    ASSERT_EQ(r.rc, 0) << r.out;
  }

  // One round: every probe at once, non-blocking, answered or not within `timeout`.
  Matrix probe(std::chrono::milliseconds timeout) {
    ++rounds_;
    auto t0 = std::chrono::steady_clock::now();
    struct P {
      UniqueFd fd;
      int pi, from, to;
      bool done = false, ok = false;
    };
    std::vector<P> ps;
    for (int pi = 0; pi < 4; ++pi)
      for (int f = 0; f < kN; ++f)
        for (int t = 0; t < kN; ++t) {
          if (f == t) continue;
          const Port& port = kPorts[pi];
          auto fd = netns_[f]->run([&]() -> Result<int> {
            int s =
                ::socket(AF_INET, (port.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s < 0) return fail("socket");
            return s;
          });
          if (!fd) {
            ADD_FAILURE() << fd.error().message();
            continue;
          }
          sockaddr_in sa{};
          sa.sin_family = AF_INET;
          sa.sin_port = htons(static_cast<uint16_t>(port.port));
          ::inet_pton(AF_INET, ip_[t].c_str(), &sa.sin_addr);
          int rc = ::connect(*fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
          P p{UniqueFd(*fd), pi, f, t};
          if (rc != 0 && errno != EINPROGRESS) p.done = true;
          if (port.udp && !p.done) (void)!::send(p.fd.get(), "x", 1, 0);
          ps.push_back(std::move(p));
        }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto resend = std::chrono::steady_clock::now() + 200ms;
    for (;;) {
      std::vector<pollfd> pfds;
      std::vector<P*> who;
      for (auto& p : ps)
        if (!p.done) {
          pfds.push_back({p.fd.get(), static_cast<short>(kPorts[p.pi].udp ? POLLIN : POLLOUT), 0});
          who.push_back(&p);
        }
      auto now = std::chrono::steady_clock::now();
      if (pfds.empty() || now >= deadline) break;
      if (now >= resend) {  // a lost datagram is not a denial
        for (auto* p : who)
          if (kPorts[p->pi].udp) (void)!::send(p->fd.get(), "x", 1, 0);
        resend = now + 200ms;
      }
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(std::min(deadline, resend) - now);
      ::poll(pfds.data(), pfds.size(), static_cast<int>(wait.count()) + 1);
      for (size_t i = 0; i < pfds.size(); ++i) {
        if (!pfds[i].revents) continue;
        P& p = *who[i];
        if (kPorts[p.pi].udp) {
          char buf[16];
          ssize_t n = ::recv(p.fd.get(), buf, sizeof buf, 0);
          // Policy drops, never rejects: an ICMP port unreachable means the echo server was between
          // two datagrams (socat forks per peer); the next resend tries again.
          if (n > 0) p.done = p.ok = true;
        } else {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(p.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
          p.done = true;
          p.ok = err == 0;
        }
      }
    }
    Matrix m{};
    for (int pi = 0; pi < 4; ++pi)
      for (int f = 0; f < kN; ++f) m[pi][f][f] = true;
    for (const auto& p : ps) m[p.pi][p.from][p.to] = p.ok;
    probe_time_ += std::chrono::steady_clock::now() - t0;
    return m;
  }

  // Replaces the policies and waits for the matrix; fails with both tables.
  void expect(const std::string& what, const Rule& allowed, std::chrono::seconds limit = 6s) {
    ++cases_;
    Matrix want = matrix_of(allowed), got{};
    auto deadline = std::chrono::steady_clock::now() + limit;
    do {
      got = probe(1500ms);  // a SYN lost on a loaded machine is resent after 1 s
      if (got == want) return;
    } while (std::chrono::steady_clock::now() < deadline);
    ++failed_cases_;
    ADD_FAILURE() << "case \"" << what << "\": reachability differs\n"
                  << describe(want, got) << c_.kubectl("get networkpolicies -A -o yaml").out;
  }
  // One TCP connect from pod `from` to pod `to`, answered within `timeout` or not.
  bool tcp_connects(int from, int to, int port, std::chrono::milliseconds timeout) {
    auto fd = netns_[from]->run([&]() -> Result<int> {
      int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s < 0) return fail("socket");
      return s;
    });
    if (!fd) return ADD_FAILURE() << fd.error().message(), false;
    UniqueFd sock(*fd);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip_[to].c_str(), &sa.sin_addr);
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return true;
    if (errno != EINPROGRESS) return false;
    pollfd pfd{sock.get(), POLLOUT, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return false;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0;
  }
  // Whether pod `from` gets an answer from the cluster DNS address (UDP 53, served by the agent on
  // its node's lo), within `limit`, retried every 300 ms.
  bool dns_answers(int from, std::chrono::milliseconds limit = 1500ms) {
    if (dns_ip_.empty())
      dns_ip_ = trim(c_.kubectl("get service -n kube-system kube-dns -o jsonpath={.spec.clusterIP}").out);
    std::string q("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
    for (std::string label : {"kubernetes", "default", "svc", "cluster", "local"})
      q += static_cast<char>(label.size()) + label;
    q += std::string("\x00\x00\x01\x00\x01", 5);  // root, type A, class IN
    auto fd = netns_[from]->run([&]() -> Result<int> {
      int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s < 0) return fail("socket");
      return s;
    });
    if (!fd) return ADD_FAILURE() << fd.error().message(), false;
    UniqueFd sock(*fd);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(53);
    if (::inet_pton(AF_INET, dns_ip_.c_str(), &sa.sin_addr) != 1) return ADD_FAILURE() << dns_ip_, false;
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return false;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      (void)!::send(sock.get(), q.data(), q.size(), 0);
      pollfd pfd{sock.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 300) == 1) {
        char buf[512];
        ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
        if (n >= 12 && buf[0] == '\x12' && buf[1] == '\x34') return true;
      }
    }
    return false;
  }
  // Waits (as expect() does) until pod `from` gets DNS answers exactly when `want`.
  void expect_dns(const std::string& what, int from, bool want) {
    auto deadline = std::chrono::steady_clock::now() + 6s;
    bool got;
    do got = dns_answers(from);
    while (got != want && std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(got, want) << "case \"" << what << "\": DNS from " << name_of(from);
  }
  void policies(const json::array& items) {
    ASSERT_NO_FATAL_FAILURE(delete_policies());
    if (!items.empty()) {
      ASSERT_NO_FATAL_FAILURE(apply(items));
    }
  }

  UpCluster c_;
  std::array<std::string, kN> ip_;
  std::string dns_ip_;
  std::array<std::optional<netlink::NetNs>, kN> netns_;
  std::chrono::steady_clock::duration setup_time_{}, probe_time_{};
  int cases_ = 0, rounds_ = 0, failed_cases_ = 0;
};

int ns_of(int i) {
  return i / 3;
}
int pod_of(int i) {
  return i % 3;
}
constexpr int X = 0, Y = 1, Z = 2, A = 0, B = 1, C = 2;
bool is(int i, int ns, int pod) {
  return ns_of(i) == ns && pod_of(i) == pod;
}
const Rule kAll = [](int, int, const Port&) { return true; };

json::value parse(const char* s) {
  return json::parse(s);
}

TEST_P(NetpolE2E, TruthTable) {
  if (IsSkipped()) return;
  auto obj = [](const char* text) { return parse(text).as_object(); };

  expect("no policy: all open", kAll);

  ASSERT_NO_FATAL_FAILURE(policies({netpol("x", "deny-in", obj(R"({"podSelector":{}})"))}));
  expect("default deny ingress in x", [](int, int t, const Port&) { return ns_of(t) != X; });

  ASSERT_NO_FATAL_FAILURE(
      policies({netpol("x", "deny-out", obj(R"({"podSelector":{},"policyTypes":["Egress"]})"))}));
  expect("default deny egress in x", [](int f, int, const Port&) { return ns_of(f) != X; });
  expect_dns("default deny egress in x", 0, false);  // x/a: the cluster DNS is an egress peer too
  expect_dns("default deny egress in x", 3, true);   // y/a: not isolated

  // The standard "DNS only" egress policy: kube-dns's pods by label in kube-system, its named
  // ports. The agent serves the cluster DNS address itself; that address carries kube-dns's identity
  // (docs/datapath.md section 4), so the queries pass and nothing else does.
  ASSERT_NO_FATAL_FAILURE(policies({netpol("x", "dns-only", obj(R"({"podSelector":{},"policyTypes":["Egress"],
    "egress":[{"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},
                      "podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}],
               "ports":[{"port":"dns","protocol":"UDP"},{"port":"dns-tcp","protocol":"TCP"}]}]})"))}));
  expect("x egress: DNS only", [](int f, int, const Port&) { return ns_of(f) != X; });
  expect_dns("x egress: DNS only", 0, true);
  expect_dns("x egress: DNS only", 1, true);

  ASSERT_NO_FATAL_FAILURE(
      policies({netpol("x", "deny-both", obj(R"({"podSelector":{},"policyTypes":["Ingress","Egress"]})"))}));
  expect("default deny both in x", [](int f, int t, const Port&) { return ns_of(f) != X && ns_of(t) != X; });

  ASSERT_NO_FATAL_FAILURE(policies({netpol("x", "deny-in", obj(R"({"podSelector":{}})")),
                                    netpol("x", "allow-all", obj(R"({"podSelector":{},"ingress":[{}]})"))}));
  expect("deny + allow all ingress (additive)", kAll);

  ASSERT_NO_FATAL_FAILURE(policies({netpol(
      "x", "from-y",
      obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}]}]})"))}));
  expect("x/a from namespace y only",
         [](int f, int t, const Port&) { return !is(t, X, A) || ns_of(f) == Y; });

  ASSERT_NO_FATAL_FAILURE(
      policies({netpol("x", "and", obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[
        {"namespaceSelector":{"matchLabels":{"ns":"y"}},"podSelector":{"matchLabels":{"pod":"c"}}}]}]})"))}));
  expect("x/a from y/c (namespace AND pod selector)",
         [](int f, int t, const Port&) { return !is(t, X, A) || is(f, Y, C); });

  ASSERT_NO_FATAL_FAILURE(
      policies({netpol("x", "or", obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[
        {"namespaceSelector":{"matchLabels":{"ns":"y"}}},{"podSelector":{"matchLabels":{"pod":"c"}}}]}]})"))}));
  expect("x/a from y/* or x/c (two peers)",
         [](int f, int t, const Port&) { return !is(t, X, A) || ns_of(f) == Y || is(f, X, C); });

  ASSERT_NO_FATAL_FAILURE(policies(
      {netpol("x", "port80",
              obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"port":80}]}]})"))}));
  expect("x/a: TCP 80 from anywhere",
         [](int, int t, const Port& p) { return !is(t, X, A) || (!p.udp && p.port == 80); });

  ASSERT_NO_FATAL_FAILURE(policies({netpol(
      "x", "named",
      obj(R"({"podSelector":{},"ingress":[{"ports":[{"port":"serve-81-tcp"},{"port":"serve-80-udp","protocol":"UDP"}]}]})"))}));
  expect("x/*: named ports serve-81-tcp and serve-80-udp", [](int, int t, const Port& p) {
    return ns_of(t) != X || (!p.udp && p.port == 81) || (p.udp && p.port == 80);
  });

  ASSERT_NO_FATAL_FAILURE(policies({netpol(
      "y", "range",
      obj(R"({"podSelector":{},"ingress":[{"ports":[{"port":79,"endPort":81,"protocol":"UDP"}]}]})"))}));
  expect("y/*: UDP 79-81 (endPort), TCP denied",
         [](int, int t, const Port& p) { return ns_of(t) != Y || p.udp; });

  // node2's pods are 10.244.2.0/24 or so: the ipBlock admits the cluster except node2's range.
  std::string b_range = ip_[1].substr(0, ip_[1].rfind('.')) + ".0/24";
  ASSERT_NO_FATAL_FAILURE(policies({netpol(
      "z", "block",
      json::object{
          {"podSelector", json::object{}},
          {"ingress", json::array{{{"from", json::array{{{"ipBlock",
                                                          {{"cidr", "10.244.0.0/16"},
                                                           {"except", json::array{b_range}}}}}}}}}}})}));
  expect("z/*: from 10.244.0.0/16 except node2's range",
         [](int f, int t, const Port&) { return ns_of(t) != Z || pod_of(f) != B; });

  ASSERT_NO_FATAL_FAILURE(policies(
      {netpol("x", "egress-y", obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"],
        "egress":[{"to":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}],"ports":[{"port":81},{"port":81,"protocol":"UDP"}]}]})"))}));
  expect("x/a egress: to y/* on port 81 only",
         [](int f, int t, const Port& p) { return !is(f, X, A) || (ns_of(t) == Y && p.port == 81); });

  ASSERT_NO_FATAL_FAILURE(policies(
      {netpol("x", "egress-named", obj(R"({"podSelector":{"matchLabels":{"pod":"b"}},"policyTypes":["Egress"],
        "egress":[{"ports":[{"port":"serve-80-tcp"}]}]})"))}));
  expect("x/b egress: named port serve-80-tcp of every destination",
         [](int f, int, const Port& p) { return !is(f, X, B) || (!p.udp && p.port == 80); });

  // Ingress and egress together: both ends must allow.
  ASSERT_NO_FATAL_FAILURE(policies(
      {netpol(
           "x", "deny-out",
           obj(R"({"podSelector":{},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}]}]})")),
       netpol(
           "y", "deny-in",
           obj(R"({"podSelector":{"matchLabels":{"pod":"b"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"x"}}}]}]})"))}));
  expect("x egress to y only, y/b ingress from x only", [](int f, int t, const Port&) {
    if (ns_of(f) == X && ns_of(t) != Y) return false;
    if (is(t, Y, B) && ns_of(f) != X) return false;
    return true;
  });

  // Set-based selectors: matchExpressions In on the pods, NotIn on the namespaces.
  ASSERT_NO_FATAL_FAILURE(policies({netpol("y", "exprs", obj(R"({
    "podSelector":{"matchExpressions":[{"key":"pod","operator":"In","values":["a","b"]}]},
    "ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"ns","operator":"NotIn","values":["x"]}]}}]}]})"))}));
  expect("y/a, y/b from namespaces not x (matchExpressions)",
         [](int f, int t, const Port&) { return ns_of(t) != Y || pod_of(t) == C || ns_of(f) != X; });

  // A podSelector alone names pods of the policy's own namespace.
  ASSERT_NO_FATAL_FAILURE(policies({netpol(
      "z", "same-ns",
      obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{}}]}]})"))}));
  expect("z/a from its own namespace only (podSelector alone)",
         [](int f, int t, const Port&) { return !is(t, Z, A) || ns_of(f) == Z; });

  // A port entry with a protocol and no number: every port of that protocol.
  ASSERT_NO_FATAL_FAILURE(policies(
      {netpol("y", "udp-only", obj(R"({"podSelector":{},"ingress":[{"ports":[{"protocol":"UDP"}]}]})"))}));
  expect("y/*: every UDP port, no TCP", [](int, int t, const Port& p) { return ns_of(t) != Y || p.udp; });

  // Egress to pods by namespace AND pod selector, in every namespace.
  ASSERT_NO_FATAL_FAILURE(policies({netpol("x", "to-c", obj(R"({"podSelector":{},"policyTypes":["Egress"],
        "egress":[{"to":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"pod":"c"}}}]}]})"))}));
  expect("x/* egress to */c only", [](int f, int t, const Port&) { return ns_of(f) != X || pod_of(t) == C; });

  // Egress to one address by ipBlock /32.
  ASSERT_NO_FATAL_FAILURE(policies({netpol(
      "x", "to-ya",
      json::object{
          {"podSelector", {{"matchLabels", {{"pod", "c"}}}}},
          {"policyTypes", json::array{"Egress"}},
          {"egress", json::array{{{"to", json::array{{{"ipBlock", {{"cidr", ip_[3] + "/32"}}}}}}}}}})}));
  expect("x/c egress to y/a's address only (ipBlock /32)",
         [](int f, int t, const Port&) { return !is(f, X, C) || is(t, Y, A); });

  // A policy's port edited in place: 80, then 81.
  auto port_policy = [&](int port) {
    return netpol("z", "port",
                  json::object{{"podSelector", {{"matchLabels", {{"pod", "b"}}}}},
                               {"ingress", json::array{{{"ports", json::array{{{"port", port}}}}}}}});
  };
  ASSERT_NO_FATAL_FAILURE(policies({port_policy(80)}));
  expect("z/b: TCP 80 only",
         [](int, int t, const Port& p) { return !is(t, Z, B) || (!p.udp && p.port == 80); });
  ASSERT_NO_FATAL_FAILURE(apply({port_policy(81)}));
  expect("z/b: policy edited to TCP 81 only",
         [](int, int t, const Port& p) { return !is(t, Z, B) || (!p.udp && p.port == 81); });

  // Updates: a policy edited in place, a pod relabelled, a namespace relabelled, a policy deleted.
  ASSERT_NO_FATAL_FAILURE(policies({netpol(
      "x", "from",
      obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"blue"}}}]}]})"))}));
  expect("x/a from team=blue namespaces (none yet)",
         [](int f, int t, const Port&) { return !is(t, X, A) || f == t; });
  ASSERT_EQ(c_.kubectl("label namespace z team=blue").rc, 0);
  expect("namespace z labelled team=blue",
         [](int f, int t, const Port&) { return !is(t, X, A) || ns_of(f) == Z; });
  ASSERT_EQ(c_.kubectl("label namespace z team-").rc, 0);
  expect("label removed again", [](int f, int t, const Port&) { return !is(t, X, A) || f == t; });
  ASSERT_NO_FATAL_FAILURE(apply({netpol(
      "x", "from",
      obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"role":"client"}}}]}]})"))}));
  expect("policy edited: from role=client pods (none yet)",
         [](int f, int t, const Port&) { return !is(t, X, A) || f == t; });
  ASSERT_EQ(c_.kubectl("label pod -n y b role=client").rc, 0);
  expect("y/b labelled role=client", [](int f, int t, const Port&) { return !is(t, X, A) || is(f, Y, B); });
  ASSERT_EQ(c_.kubectl("label pod -n y b role-").rc, 0);
  ASSERT_EQ(c_.kubectl("label pod -n x a pod=moved --overwrite").rc, 0);
  expect("x/a relabelled out of the selector: open", kAll);
  ASSERT_EQ(c_.kubectl("label pod -n x a pod=a --overwrite").rc, 0);
  expect("x/a back in the selector", [](int f, int t, const Port&) { return !is(t, X, A) || f == t; });

  // A pod IP reused by a differently labelled pod: x/a admits only x/c; x/c goes and x/d (pod=d)
  // starts on the same node with x/c's old address (the node's IPAM walk is pointed at it, as
  // host-local's round robin reaches it on a busy node). The address loses x/c's rights with x/c.
  ASSERT_NO_FATAL_FAILURE(policies({netpol(
      "x", "from-c",
      obj(R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"c"}}}]}]})"))}));
  expect("x/a from x/c only", [](int f, int t, const Port&) { return !is(t, X, A) || is(f, X, C); });
  const std::string old_ip = ip_[2];
  auto reuse_t0 = std::chrono::steady_clock::now();
  // Not waiting for the API object: what matters is the address's release by the node's IPAM.
  ASSERT_EQ(c_.kubectl("delete pod -n x c --wait=false").rc, 0);
  std::string last_reserved, reservation;
  auto released = std::chrono::steady_clock::now() + 15s;
  do {
    last_reserved.clear();
    reservation.clear();
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(c_.state_dir() + "/nodes/node1", ec)) {
      std::string n = e.path().filename().string();
      if (n == "last_reserved_ip.0") last_reserved = e.path().string();
      if (n == old_ip) reservation = e.path().string();
    }
    if (!last_reserved.empty() && reservation.empty()) break;
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < released);
  ASSERT_FALSE(last_reserved.empty()) << "no IPAM state of node1";
  ASSERT_TRUE(reservation.empty()) << old_ip << " still reserved: " << reservation;
  auto released_after = std::chrono::steady_clock::now() - reuse_t0;
  ASSERT_TRUE(write_file_atomic(last_reserved, ip_add(parse_ip(old_ip).value(), -1).to_string()));
  ASSERT_NO_FATAL_FAILURE(apply({serve_pod("x", "d", "node1")}));
  auto ready = c_.kubectl("wait -n x --for=condition=Ready --timeout=60s pod/d");
  ASSERT_EQ(ready.rc, 0) << ready.out;
  ASSERT_NO_FATAL_FAILURE(locate(2, "x", "d"));
  ASSERT_EQ(ip_[2], old_ip) << "x/d did not get x/c's address";
  std::printf("netpol e2e: x/c deleted, its address released in %.1f s, x/d running on it in %.1f s\n",
              std::chrono::duration<double>(released_after).count(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - reuse_t0).count());
  expect("x/c's address now x/d's (pod=d): x/a admits nobody",
         [](int f, int t, const Port&) { return !is(t, X, A) || f == t; });

  ASSERT_NO_FATAL_FAILURE(delete_policies());
  expect("all policies deleted", kAll);
}

// The agent of x/a's node is killed with SIGKILL while x/c (denied) and x/b (allowed, on the
// other node) keep connecting to x/a, and x/b holds an established connection to x/a's TCP echo:
// no denied connect ever succeeds, the established connection carries data throughout, and the
// restarted agent (its supervisor starts it again) takes over the table without a gap.
TEST_P(NetpolE2E, AgentKilledKeepsEnforcing) {
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(policies({netpol("x", "from-b",
                                           parse(R"({"podSelector":{"matchLabels":{"pod":"a"}},
      "ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}],"ports":[{"port":80},{"port":81}]}]})")
                                               .as_object())}));
  const Rule rule = [](int f, int t, const Port& p) { return !is(t, X, A) || (is(f, X, B) && !p.udp); };
  expect("x/a from x/b on TCP only", rule);

  auto fd = netns_[1]->run([&]() -> Result<int> {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return fail("socket");
    return s;
  });
  ASSERT_TRUE(fd) << fd.error().message();
  UniqueFd conn(*fd);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(81);
  ::inet_pton(AF_INET, ip_[0].c_str(), &sa.sin_addr);
  ASSERT_EQ(::connect(conn.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << std::strerror(errno);
  int echoes = 0;
  auto echo = [&] {
    std::string msg = "ping " + std::to_string(++echoes) + "\n";
    if (::send(conn.get(), msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size()))
      return false;
    std::string got;
    auto until = std::chrono::steady_clock::now() + 2s;
    while (got.size() < msg.size() && std::chrono::steady_clock::now() < until) {
      pollfd p{conn.get(), POLLIN, 0};
      if (::poll(&p, 1, 200) != 1) continue;
      char buf[64];
      ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
    }
    return got == msg;
  };
  ASSERT_TRUE(echo());

  const std::string agent = "agent-node1";
  const pid_t old_agent = c_.daemon_pid(agent);
  ASSERT_GT(old_agent, 0);
  // The agent logs each full sync (the first of a process): the probes go on until the new
  // agent's has happened, so they span the kill, the restart and the table's replacement.
  auto full_syncs = [&] {
    std::string log = read_file(c_.layout().log_path(agent)).value_or("");
    int n = 0;
    for (size_t at = 0; (at = log.find("network policy: full sync", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  const int syncs_before = full_syncs();
  int denied_connected = 0, denied_tries = 0, allowed_tries = 0, allowed_ok = 0, echo_failures = 0;
  pid_t new_agent = -1;
  auto start = std::chrono::steady_clock::now();
  bool killed = false;
  std::optional<std::chrono::steady_clock::time_point> resynced_at;
  // Probes until the new agent has run for a while (at most 20 s).
  while (std::chrono::steady_clock::now() < start + 20s) {
    if (!killed && std::chrono::steady_clock::now() > start + 500ms) {
      ASSERT_EQ(::kill(old_agent, SIGKILL), 0);
      killed = true;
    }
    ++denied_tries;
    if (tcp_connects(2, 0, 80, 150ms)) ++denied_connected;  // x/c -> x/a
    ++allowed_tries;
    if (tcp_connects(1, 0, 80, 1500ms)) ++allowed_ok;  // x/b -> x/a
    if (!echo()) ++echo_failures;
    if (killed && new_agent <= 0) {
      pid_t p = c_.daemon_pid(agent);
      if (p > 0 && p != old_agent) new_agent = p;
    }
    if (new_agent > 0 && !resynced_at && full_syncs() > syncs_before)
      resynced_at = std::chrono::steady_clock::now();
    if (resynced_at && std::chrono::steady_clock::now() > *resynced_at + 1s) break;
  }
  std::printf(
      "agent kill: new agent's full sync %.1f s after the kill; %d denied probes (%d connected), %d allowed "
      "(%d "
      "connected), %d echoes (%d failed)\n",
      resynced_at ? std::chrono::duration<double>(*resynced_at - start).count() - 0.5 : -1.0, denied_tries,
      denied_connected, allowed_tries, allowed_ok, echoes, echo_failures);
  EXPECT_GT(new_agent, 0) << "the agent was not restarted";
  EXPECT_TRUE(resynced_at) << "the new agent made no full sync within 20 s";
  EXPECT_EQ(denied_connected, 0) << "a denied connect got through while the agent was down or resyncing";
  EXPECT_EQ(echo_failures, 0) << "the established connection lost data";
  EXPECT_TRUE(echo());
  expect("after the agent's restart", rule);
  EXPECT_TRUE(echo());
}

INSTANTIATE_TEST_SUITE_P(FastPath, NetpolE2E, ::testing::Values(false, true), [](const auto& info) {
  return info.param ? std::string("On") : std::string("Off");
});

}  // namespace
}  // namespace podnet::testing
