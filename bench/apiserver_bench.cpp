// API server benchmarks against an in-process ApiServer over real HTTPS with keep-alive connections:
// creates/s from 16 clients, LIST of 10,000 Services, write -> 100 watchers delay, and the process's
// RSS with 10,000 Services + 10,000 Pods. Usage: apiserver_bench [dir] (default /var/tmp).
// `apiserver_bench --adversarial PODNET [dir]` instead starts PODNET's `server` as a child process
// and reports the server's CPU time (from /proc) for each of issue 13's adversarial requests: a body
// with 80,000 keys, deeply nested bodies and annotations, JSON patch copy amplification.
// The data directory (DIR/pn-apiserver-*-<pid>) and the child server are removed at the end, on a
// failure and at once on SIGINT/SIGTERM/SIGHUP (bench/stop_signal.h).
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/api_server.h"
#include "common/files.h"
#include "stop_signal.h"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 16;
constexpr int kObjects = 10000;
constexpr int kWatchers = 100;

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()))];
}

long rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return 0;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "apiserver_bench: %s\n", what.c_str());
  podnet::bench::StopSignal::fail_exit(1);
}

struct Credentials {
  uint16_t port = 0;
  std::string ca, cert, key;
};

// One TLS connection reused for every request (HTTP/1.1 keep-alive), as client-go does.
class Connection {
 public:
  explicit Connection(const Credentials& c) : ctx_(ssl::context::tls_client) {
    ctx_.add_certificate_authority(net::buffer(c.ca));
    ctx_.set_verify_mode(ssl::verify_peer);
    ctx_.use_certificate_chain(net::buffer(c.cert));
    ctx_.use_private_key(net::buffer(c.key), ssl::context::pem);
    stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, ctx_);
    beast::get_lowest_layer(*stream_).connect(
        net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), c.port));
    stream_->handshake(ssl::stream_base::client);
  }

  int request(http::verb method, const std::string& target, const std::string& body,
              std::string* out = nullptr) {
    return request_typed(method, target, body, "application/json", out);
  }

  int request_typed(http::verb method, const std::string& target, const std::string& body,
                    const std::string& content_type, std::string* out = nullptr) {
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    http::write(*stream_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    parser.header_limit(std::numeric_limits<std::uint32_t>::max());  // a server may send many warnings
    http::read(*stream_, buffer_, parser);
    if (out) *out = std::move(parser.get().body());
    return parser.get().result_int();
  }

  // Sends a watch request and then calls `on_data` with each piece of the (chunked) body as it comes.
  template <class F>
  void stream(const std::string& target, F on_data, const std::atomic<bool>& stop) {
    http::request<http::empty_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::accept, "application/json");
    http::write(*stream_, req);
    char buf[16384];
    beast::error_code ec;
    while (!stop) {
      size_t n = stream_->read_some(net::buffer(buf), ec);
      if (ec) return;
      on_data(std::string_view(buf, n), Clock::now());
    }
  }

  void close() { beast::get_lowest_layer(*stream_).socket().shutdown(net::ip::tcp::socket::shutdown_both); }

 private:
  net::io_context ioc_;
  ssl::context ctx_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

std::string service_json(const std::string& name) {
  return json::serialize(
      json::object{{"apiVersion", "v1"},
                   {"kind", "Service"},
                   {"metadata", {{"name", name}, {"labels", {{"app", "bench"}}}}},
                   {"spec",
                    {{"selector", {{"app", name}}},
                     {"ports", json::array{{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}});
}

std::string pod_json(const std::string& name) {
  json::object port{{"containerPort", 8080}, {"name", "http"}};
  json::object container{{"name", "c"}, {"image", "nginx:1.27"}, {"ports", json::array{port}}};
  json::object obj{{"apiVersion", "v1"}, {"kind", "Pod"}};
  obj["metadata"] = json::object{{"name", name}, {"labels", {{"app", "bench"}}}};
  obj["spec"] = json::object{{"containers", json::array{container}}};
  return json::serialize(obj);
}

// `total` POSTs to `collection` from kClients keep-alive connections; prints the rate.
void parallel_creates(const Credentials& creds, const std::string& what, const std::string& collection,
                      const std::string& prefix, int total, std::string (*body)(const std::string&)) {
  std::vector<std::vector<double>> lat(kClients);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int t = 0; t < kClients; ++t)
    threads.emplace_back([&, t] {
      Connection conn(creds);
      for (int i = t; i < total; i += kClients) {
        auto t0 = Clock::now();
        std::string out;
        int status = conn.request(http::verb::post, collection, body(prefix + std::to_string(i)), &out);
        if (status != 201) die(what + " create: " + std::to_string(status) + " " + out);
        lat[t].push_back(ms(Clock::now() - t0));
      }
    });
  for (auto& th : threads) th.join();
  double wall = ms(Clock::now() - start);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::printf("| create %-8s | %d clients, %d objects | %.0f /s | p50 %.2f ms, p99 %.2f ms |\n", what.c_str(),
              kClients, total, total / (wall / 1000.0), percentile(all, 50), percentile(all, 99));
}

void list(const Credentials& creds) {
  Connection conn(creds);
  std::vector<double> times;
  size_t bytes = 0, items = 0;
  for (int run = 0; run < 20; ++run) {
    std::string out;
    auto t0 = Clock::now();
    int status = conn.request(http::verb::get, "/api/v1/namespaces/default/services", "", &out);
    times.push_back(ms(Clock::now() - t0));
    if (status != 200) die("list: " + std::to_string(status));
    bytes = out.size();
    if (run == 0) items = json::parse(out).at("items").as_array().size();
  }
  std::printf("| LIST services     | %zu items, %.1f MB JSON | p50 %.1f ms | p95 %.1f ms |\n", items,
              bytes / 1e6, percentile(times, 50), percentile(times, 95));
}

void watchers(const Credentials& creds, int writes) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<Clock::time_point>> seen(kWatchers, std::vector<Clock::time_point>(writes));
  std::atomic<int> ready{0};
  std::vector<std::unique_ptr<Connection>> conns;
  for (int w = 0; w < kWatchers; ++w) conns.push_back(std::make_unique<Connection>(creds));
  std::vector<std::thread> threads;
  for (int w = 0; w < kWatchers; ++w)
    threads.emplace_back([&, w] {
      std::string carry;
      bool counted = false;
      conns[w]->stream(
          "/api/v1/namespaces/watch/services?watch=true",
          [&](std::string_view data, Clock::time_point at) {
            if (!counted) {
              counted = true;
              ready++;
            }
            carry.append(data);
            // Each event names its object once: "name":"w-<k>".
            size_t pos = 0;
            while ((pos = carry.find("\"name\":\"w-", pos)) != std::string::npos) {
              size_t end = carry.find('"', pos + 10);
              if (end == std::string::npos) break;
              int k = std::stoi(carry.substr(pos + 10, end - pos - 10));
              if (k >= 0 && k < writes && seen[w][k] == Clock::time_point{}) seen[w][k] = at;
              pos = end;
            }
            if (carry.size() > 4096) carry.erase(0, carry.size() - 256);
          },
          stop);
    });
  // A watch answers its headers at once; wait for all before writing.
  for (int i = 0; i < 500 && ready < kWatchers; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  Connection writer(creds);
  std::vector<Clock::time_point> sent(writes);
  for (int k = 0; k < writes; ++k) {
    sent[k] = Clock::now();
    std::string out;
    if (int s = writer.request(http::verb::post, "/api/v1/namespaces/watch/services",
                               service_json("w-" + std::to_string(k)), &out);
        s != 201)
      die("watch write: " + out);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  for (auto& c : conns) c->close();
  for (auto& th : threads) th.join();
  std::vector<double> delays;
  size_t missing = 0;
  for (int w = 0; w < kWatchers; ++w)
    for (int k = 0; k < writes; ++k) {
      if (seen[w][k] == Clock::time_point{})
        ++missing;
      else
        delays.push_back(ms(seen[w][k] - sent[k]));
    }
  std::printf("| write -> watchers  | %d watchers x %d writes (%zu missed) | p50 %.1f ms | p99 %.1f ms |\n",
              kWatchers, writes, missing, percentile(delays, 50), percentile(delays, 99));
}

// utime + stime of `pid` in milliseconds.
double cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = text.rfind(')');
  if (at == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::string f;
  for (char c : text.substr(at + 2)) {
    if (c == ' ') {
      fields.push_back(f);
      f.clear();
    } else {
      f += c;
    }
  }
  if (fields.size() < 13) return 0;
  return (std::stod(fields[11]) + std::stod(fields[12])) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string nested(int levels) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += "{\"a\":";
  s += "\"x\"";
  for (int i = 0; i < levels; ++i) s += "}";
  return s;
}

// The server as a child process: only its own CPU time is counted.
int adversarial(const std::string& podnet, const std::string& root) {
  std::filesystem::remove_all(root);
  podnet::bench::StopSignal::track_path(root);
  podnet::bench::StopSignal::track_path(root + ".log");
  pid_t pid = podnet::bench::StopSignal::fork_child();
  if (pid < 0) die(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    int fd = ::open((root + ".log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(podnet.c_str(), podnet.c_str(), "server", "--data-dir", root.c_str(), "--port", "0", nullptr);
    _exit(127);
  }
  Credentials creds;
  for (int i = 0; i < 800 && creds.port == 0; ++i) {
    if (auto text = podnet::read_file(root + "/admin.kubeconfig")) {
      auto at = text->find("server: https://127.0.0.1:");
      if (at != std::string::npos) creds.port = static_cast<uint16_t>(std::stoi(text->substr(at + 26)));
    }
    if (creds.port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (creds.port == 0) {
    podnet::bench::StopSignal::untrack_path(root + ".log");
    die("server did not start; see " + root + ".log");
  }
  creds.ca = podnet::read_file(root + "/pki/ca.crt").value();
  creds.cert = podnet::read_file(root + "/pki/admin.crt").value();
  creds.key = podnet::read_file(root + "/pki/admin.key").value();
  Connection conn(creds);
  if (conn.request(http::verb::post, "/api/v1/nodes",
                   R"({"metadata":{"name":"n1","annotations":{"a":"b"}}})") != 201)
    die("node");

  std::string many_keys = R"({"metadata":{"name":"many-keys"})";
  for (int i = 0; i < 80000; ++i) many_keys += ",\"k" + std::to_string(i) + "\":1";
  many_keys += "}";
  std::string deep_body = nested(100000);
  std::string deep_annotation =
      R"([{"op":"add","path":"/metadata/annotations/deep","value":)" + nested(60) + "}]";
  // Into an annotation: kept where the server took object-valued annotations (unknown fields are dropped).
  std::string amplify =
      R"([{"op":"add","path":"/metadata/annotations/amp","value":{"x":")" + std::string(1000, 'x') + R"("}})";
  for (int i = 0; i < 14; ++i)
    amplify += R"(,{"op":"copy","from":"/metadata/annotations/amp","path":"/metadata/annotations/amp/c)" +
               std::to_string(i) + R"("})";
  amplify += "]";
  struct Case {
    const char* what;
    http::verb method;
    std::string target, body, type;
  };
  std::vector<Case> cases{
      {"80,000-key body (POST namespace)", http::verb::post, "/api/v1/namespaces", many_keys,
       "application/json"},
      {"100,000-deep body (POST namespace)", http::verb::post, "/api/v1/namespaces", deep_body,
       "application/json"},
      {"1.2 KB copy amplification (JSON patch)", http::verb::patch, "/api/v1/nodes/n1", amplify,
       "application/json-patch+json"},
      // Last: where it is stored, the node can no longer be read.
      {"60-deep annotation (JSON patch)", http::verb::patch, "/api/v1/nodes/n1", deep_annotation,
       "application/json-patch+json"},
  };
  std::printf("| adversarial request | body | status | server CPU | object after |\n|---|---|---|---|---|\n");
  for (const auto& c : cases) {
    double before = cpu_ms(pid);
    std::string out;
    int status = conn.request_typed(c.method, c.target, c.body, c.type, &out);
    double used = cpu_ms(pid) - before;
    std::string node;
    conn.request(http::verb::get, "/api/v1/nodes/n1", "", &node);
    std::printf("| %s | %zu bytes | %d | %.0f ms | node %zu bytes |\n", c.what, c.body.size(), status, used,
                node.size());
    std::fflush(stdout);
    // Undo what got through, so each case starts from the same node.
    conn.request_typed(http::verb::patch, "/api/v1/nodes/n1",
                       R"({"metadata":{"annotations":{"amp":null,"deep":null}}})",
                       "application/merge-patch+json", &out);
    conn.request(http::verb::delete_, "/api/v1/namespaces/many-keys", "");
  }
  conn.close();
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  podnet::bench::StopSignal::reaped(pid);
  std::filesystem::remove_all(root);
  podnet::bench::StopSignal::untrack_path(root);
  std::filesystem::remove(root + ".log");  // kept only when the server failed (die() names it)
  podnet::bench::StopSignal::untrack_path(root + ".log");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/var/tmp", podnet;
  CLI::App app{
      "apiserver_bench: the API server over HTTPS (keep-alive), in process: creates/s from 16 clients, "
      "LIST of 10,000 Services, write -> 100 watchers delay, RSS with 10,000 Services + 10,000 Pods"};
  app.add_option("dir", dir, "Where the data directory is made")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_option("--adversarial", podnet,
                 "Instead: start PODNET's `server` as a child process and report its CPU time for each "
                 "of issue 13's adversarial requests")
      ->check(CLI::ExistingFile)
      ->option_text("PODNET");
  CLI11_PARSE(app, argc, argv);
  // Nothing here can be unwound from another thread: a signal removes everything at once.
  podnet::bench::StopSignal stop("apiserver_bench", std::chrono::milliseconds(0));
  if (!podnet.empty())
    return adversarial(podnet, dir + "/pn-apiserver-adversarial-" + std::to_string(getpid()));
  std::string root = dir + "/pn-apiserver-bench-" + std::to_string(getpid());
  std::filesystem::remove_all(root);
  podnet::bench::StopSignal::track_path(root);
  long rss_start = rss_kb();
  podnet::apiserver::ApiServerOptions options;
  options.data_dir = root;
  options.port = 0;
  options.compaction_interval = std::chrono::milliseconds(0);
  auto server = podnet::apiserver::ApiServer::start(options);
  if (!server) die("start: " + server.error().message());
  Credentials creds;
  creds.port = (*server)->port();
  creds.ca = podnet::read_file((*server)->pki_dir() + "/ca.crt").value();
  creds.cert = podnet::read_file((*server)->pki_dir() + "/admin.crt").value();
  creds.key = podnet::read_file((*server)->pki_dir() + "/admin.key").value();
  long rss_empty = rss_kb();

  std::printf("| what | setup | result | latency |\n|---|---|---|---|\n");
  parallel_creates(creds, "Service", "/api/v1/namespaces/default/services", "svc-", kObjects, service_json);
  list(creds);
  parallel_creates(creds, "Pod", "/api/v1/namespaces/default/pods", "pod-", kObjects, pod_json);
  long rss_full = rss_kb();
  // What the allocator keeps of freed memory (per-thread arenas after 16 clients' LIST buffers) is
  // not the server's: report RSS after handing it back too.
  malloc_trim(0);
  long rss_trimmed = rss_kb();
  std::printf(
      "| RSS (in process)  | empty -> 10,000 Services + 10,000 Pods | %.1f MB -> %.1f MB (%.1f MB after "
      "malloc_trim) | bench binary alone %.1f MB |\n",
      rss_empty / 1024.0, rss_full / 1024.0, rss_trimmed / 1024.0, rss_start / 1024.0);
  {
    Connection c(creds);
    if (c.request(http::verb::post, "/api/v1/namespaces",
                  R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"watch"}})") != 201)
      die("namespace");
  }
  watchers(creds, 100);
  server->reset();
  std::filesystem::remove_all(root);
  podnet::bench::StopSignal::untrack_path(root);
  return 0;
}
