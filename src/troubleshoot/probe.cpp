#include "troubleshoot/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <thread>

#include "common/fd.h"

namespace podnet::troubleshoot {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

Result<ProbeTarget> parse_target(std::string_view spec) {
  ProbeTarget t;
  size_t eq = spec.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return fail_msg("target \"" + std::string(spec) + "\": want key=host:port");
  t.key = spec.substr(0, eq);
  std::string_view rest = spec.substr(eq + 1);
  if (rest.ends_with('!')) {
    t.expect_fail = true;
    rest.remove_suffix(1);
  }
  if (rest.starts_with("dns:")) {
    t.resolve = true;
    rest.remove_prefix(4);
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail_msg("target \"" + std::string(spec) + "\": no port");
  std::string_view port = rest.substr(colon + 1);
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    return fail_msg("target \"" + std::string(spec) + "\": bad port");
  t.port = static_cast<uint16_t>(p);
  t.host = rest.substr(0, colon);
  if (!t.resolve) {
    in_addr a{};
    if (::inet_pton(AF_INET, t.host.c_str(), &a) != 1)
      return fail_msg("target \"" + std::string(spec) + "\": not an IPv4 address (use dns:NAME for a name)");
  }
  return t;
}

std::string format_target(const ProbeTarget& t) {
  return t.key + "=" + (t.resolve ? "dns:" : "") + t.host + ":" + std::to_string(t.port) +
         (t.expect_fail ? "!" : "");
}

namespace {

int remaining_ms(Clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

std::string peer_of(const sockaddr_in& sa) {
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf);
  return buf;
}

// One connection: the answer's first line, or an error naming the step that failed.
Result<std::string> attempt(const sockaddr_in& to, std::chrono::milliseconds limit) {
  const auto until = Clock::now() + limit;
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fail("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)
    return fail("connect");
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, remaining_ms(until)) == 0) return fail_msg("connect: timed out (dropped?)");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return fail("connect", err);
  std::string line;
  char buf[256];
  while (line.find('\n') == std::string::npos && line.size() < 512) {
    p = {fd.get(), POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(until)) == 0) return fail_msg("connected, but no answer in time");
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("read answer");
    if (n == 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  if (line.empty()) return fail_msg("connected, but the connection closed without an answer");
  if (size_t nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  return line;
}

Result<sockaddr_in> resolve(const ProbeTarget& t) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(t.port);
  if (!t.resolve) {
    ::inet_pton(AF_INET, t.host.c_str(), &sa.sin_addr);
    return sa;
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(t.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) return fail_msg("resolve " + t.host + ": " + ::gai_strerror(rc));
  sa.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
  ::freeaddrinfo(res);
  return sa;
}

}  // namespace

ProbeResult probe(const ProbeTarget& t, const ProbeTiming& timing) {
  ProbeResult r;
  r.key = t.key;
  const auto deadline = Clock::now() + timing.deadline;
  for (;;) {
    ++r.attempts;
    const auto start = Clock::now();
    auto to = resolve(t);
    Result<std::string> got =
        to ? attempt(*to, timing.attempt) : Result<std::string>(std::unexpected(to.error()));
    r.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    r.address = to ? peer_of(*to) : "";
    if (got) {
      r.answer = *got;
      r.error.clear();
    } else {
      r.answer.clear();
      r.error = got.error().message();
    }
    r.ok = t.expect_fail ? !got.has_value() : got.has_value();
    if (r.ok || Clock::now() + timing.pause >= deadline) return r;
    std::this_thread::sleep_for(timing.pause);
  }
}

std::string to_json_line(const ProbeResult& r) {
  json::object o{{"key", r.key},
                 {"ok", r.ok},
                 {"answer", r.answer},
                 {"address", r.address},
                 {"latencyUs", r.latency_us},
                 {"attempts", r.attempts},
                 {"error", r.error}};
  return json::serialize(o);
}

Result<ProbeResult> parse_result_line(std::string_view line) {
  if (line.size() > 4096) return fail_msg("result line too long");
  json::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) return fail_msg("not a result line");
  const json::object& o = v.get_object();
  ProbeResult r;
  auto str = [&](const char* k, std::string& out) {
    const json::value* f = o.if_contains(k);
    if (!f || !f->is_string()) return false;
    out = f->get_string();
    return true;
  };
  auto num = [&](const char* k, int64_t& out) {
    const json::value* f = o.if_contains(k);
    if (!f || !f->is_int64()) return false;
    out = f->get_int64();
    return true;
  };
  const json::value* ok = o.if_contains("ok");
  int64_t attempts = 0;
  if (!str("key", r.key) || r.key.empty() || !ok || !ok->is_bool() || !str("answer", r.answer) ||
      !str("address", r.address) || !num("latencyUs", r.latency_us) || !num("attempts", attempts) ||
      !str("error", r.error) || attempts < 0 || attempts > 1000000 || r.latency_us < 0)
    return fail_msg("not a result line");
  r.ok = ok->get_bool();
  r.attempts = static_cast<int>(attempts);
  return r;
}

std::vector<ProbeResult> parse_results(std::string_view log, size_t max) {
  std::vector<ProbeResult> out;
  while (!log.empty() && out.size() < max) {
    size_t nl = log.find('\n');
    std::string_view line = log.substr(0, nl);
    log = nl == std::string_view::npos ? std::string_view() : log.substr(nl + 1);
    if (auto r = parse_result_line(line)) out.push_back(std::move(*r));
  }
  return out;
}

Status serve(const std::string& name, const std::string& bind, const std::vector<uint16_t>& ports,
             const std::atomic<bool>& stop, std::function<void(uint16_t)> on_listening) {
  std::vector<UniqueFd> listeners;
  std::vector<pollfd> polls;
  for (uint16_t port : ports) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (::inet_pton(AF_INET, bind.c_str(), &sa.sin_addr) != 1) return fail_msg("bind address " + bind);
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fail("socket");
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      return fail("bind " + bind + ":" + std::to_string(port));
    if (::listen(fd.get(), 512) != 0) return fail("listen");
    socklen_t len = sizeof sa;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    if (on_listening) on_listening(ntohs(sa.sin_port));
    polls.push_back({fd.get(), POLLIN, 0});
    listeners.push_back(std::move(fd));
  }
  while (!stop.load()) {
    if (::poll(polls.data(), polls.size(), 100) <= 0) continue;
    for (auto& p : polls) {
      if (!(p.revents & POLLIN)) continue;
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      UniqueFd c(::accept4(p.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!c.valid()) continue;
      std::string line = name + " " + peer_of(peer) + "\n";
      (void)!::write(c.get(), line.data(), line.size());  // a full buffer on a new socket: never
      ::shutdown(c.get(), SHUT_WR);
    }
  }
  return {};
}

int probe_main(const std::vector<std::string>& specs, const ProbeTiming& timing) {
  std::vector<ProbeTarget> targets;
  for (const auto& s : specs) {
    auto t = parse_target(s);
    if (!t) {
      std::fprintf(stderr, "podnet check-agent: %s\n", t.error().message().c_str());
      return 2;
    }
    targets.push_back(std::move(*t));
  }
  std::vector<ProbeResult> results(targets.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < targets.size(); ++i)
    threads.emplace_back([&, i] { results[i] = probe(targets[i], timing); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) std::printf("%s\n", to_json_line(r).c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace podnet::troubleshoot
