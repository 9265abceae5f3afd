// One epoll loop. Watches: UDP listeners (recvmmsg/sendmmsg in batches), TCP listeners and
// connections (RFC 7766 framing, pipelining, idle timeout), one connected UDP socket per
// forwarded query (a fresh kernel-chosen source port each time, RFC 5452) and an eventfd for
// stop(). Forwarded queries carry a random ID; an upstream reply counts only if it arrives on that
// socket (the kernel checks the source address of a connected socket) with that ID and the same
// question, otherwise it is dropped and counted.
#include "dns/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "dns/answer.h"
#include "dns/knot.h"

namespace podnet::dns {

std::string SocketAddress::str() const {
  return ip.is_v6() ? "[" + ip.to_string() + "]:" + std::to_string(port)
                    : ip.to_string() + ":" + std::to_string(port);
}

Result<SocketAddress> parse_socket_address(std::string_view text) {
  SocketAddress a;
  std::string host(text);
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail_msg("bad address \"" + std::string(text) + "\"");
    host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail_msg("bad address \"" + std::string(text) + "\"");
      int port = std::atoi(std::string(rest.substr(1)).c_str());
      if (port <= 0 || port > 65535) return fail_msg("bad port in \"" + std::string(text) + "\"");
      a.port = static_cast<uint16_t>(port);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    host = std::string(text.substr(0, colon));
    int port = std::atoi(std::string(text.substr(colon + 1)).c_str());
    if (port <= 0 || port > 65535) return fail_msg("bad port in \"" + std::string(text) + "\"");
    a.port = static_cast<uint16_t>(port);
  }
  PODNET_TRY(ip, parse_ip(host));
  a.ip = ip;
  return a;
}

std::vector<SocketAddress> resolv_conf_nameservers(std::string_view text) {
  std::vector<SocketAddress> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    constexpr std::string_view kw = "nameserver";
    if (line.substr(0, kw.size()) != kw) continue;
    line.remove_prefix(kw.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    auto end = line.find_first_of(" \t#;\r");
    if (auto ip = parse_ip(line.substr(0, end)); ip) out.push_back({*ip, 53});
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

socklen_t to_sockaddr(const SocketAddress& a, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.ip.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(a.port);
    auto b = a.ip.to_v4().to_bytes();
    std::memcpy(&s->sin_addr, b.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(a.port);
  auto b = a.ip.to_v6().to_bytes();
  std::memcpy(&s->sin6_addr, b.data(), 16);
  return sizeof(sockaddr_in6);
}

uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

// Length of the question section (name + type + class) at offset 12; 0 when there is none.
size_t question_length(std::span<const uint8_t> m) {
  if (m.size() < KNOT_WIRE_HEADER_SIZE || knot_wire_get_qdcount(m.data()) != 1) return 0;
  int n = knot_dname_wire_check(m.data() + KNOT_WIRE_HEADER_SIZE, m.data() + m.size(), nullptr);
  if (n <= 0 || KNOT_WIRE_HEADER_SIZE + static_cast<size_t>(n) + 4 > m.size()) return 0;
  return static_cast<size_t>(n) + 4;
}

bool same_question(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  size_t la = question_length(a), lb = question_length(b);
  if (la == 0 || la != lb) return false;
  for (size_t i = 0; i < la; ++i) {
    uint8_t x = a[KNOT_WIRE_HEADER_SIZE + i], y = b[KNOT_WIRE_HEADER_SIZE + i];
    if (x >= 'A' && x <= 'Z') x = static_cast<uint8_t>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<uint8_t>(y + 32);
    if (x != y) return false;
  }
  return true;
}

constexpr int kBatch = 64;
constexpr size_t kUdpSlot = 2048;  // >= kMaxUdpPayload and any query we accept over UDP
constexpr size_t kTcpMaxOut = 1 << 20;

}  // namespace

struct Server::Impl {
  enum class Kind { kUdp, kTcpListen, kTcp, kUpstream, kWake };
  struct Watch {
    Kind kind;
    int fd;
    uint64_t id = 0;  // kTcp: connection id; kUpstream: in-flight token
  };
  struct Conn {
    std::unique_ptr<Watch> watch;
    std::vector<uint8_t> in;
    std::string out;
    Clock::time_point last;
    bool want_write = false;
  };
  struct Client {
    int udp_fd = -1;  // UDP: the listener to answer from
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    uint64_t conn = 0;  // TCP: connection id
  };
  struct InFlight {
    std::unique_ptr<Watch> watch;
    std::vector<uint8_t> query;  // the client's query, sent with our ID
    uint16_t client_id = 0, our_id = 0;
    Client client;
    bool tcp = false;
    uint16_t udp_size = 512;
    std::string cache_key, loop_key;
    size_t upstream = 0, tries = 0;
    Clock::time_point started, deadline;
    // Over TCP (after a truncated UDP answer): the framed query still to send, the framed answer so far.
    bool over_tcp = false;
    size_t tcp_sent = 0;
    std::vector<uint8_t> tcp_in;
  };

  const RecordStore& store;
  DnsMetrics& metrics;
  ServerOptions opts;
  Responder responder;
  AnswerCache cache;
  int ep = -1, wake = -1;
  std::vector<std::unique_ptr<Watch>> listeners;
  std::vector<SocketAddress> bound;
  std::unordered_map<uint64_t, Conn> conns;
  uint64_t next_conn = 1, next_token = 1;
  std::unordered_map<uint64_t, InFlight> in_flight;
  std::unordered_set<std::string> in_flight_keys;  // our ID + question: a query of ours come back
  std::atomic<bool> stopping{false};
  // CoreDNS's `loop` check: a query for a random name sent upstream at start; seeing it arrive
  // here means the upstreams forward back to us (whatever IDs the hops in between pick).
  std::string probe_name;
  bool loop_detected = false;
  std::vector<uint8_t> big;  // one TCP-sized answer buffer
  bool loop_logged = false;

  Impl(const RecordStore& s, DnsMetrics& m, ServerOptions o)
      : store(s), metrics(m), opts(std::move(o)), responder(s), cache(opts.cache), big(kMaxMessage + 2) {}
  ~Impl() {
    for (auto& [_, c] : conns) ::close(c.watch->fd);
    for (auto& [_, f] : in_flight)
      if (f.watch) ::close(f.watch->fd);
    for (auto& l : listeners) ::close(l->fd);
    if (wake >= 0) ::close(wake);
    if (ep >= 0) ::close(ep);
  }

  Status add(Watch* w, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = w;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev) != 0) return fail("epoll_ctl add");
    return {};
  }

  Status open(const SocketAddress& a) {
    sockaddr_storage ss;
    socklen_t len = to_sockaddr(a, ss);
    int family = a.ip.is_v4() ? AF_INET : AF_INET6;
    int u = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u < 0) return fail("socket");
    listeners.push_back(std::make_unique<Watch>(Watch{Kind::kUdp, u}));
    int one = 1;
    ::setsockopt(u, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) ::setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int rcvbuf = 4 << 20;
    ::setsockopt(u, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (::bind(u, reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail("bind udp " + a.str());
    SocketAddress b = a;
    b.port = bound_port(u);
    // TCP on the same port as UDP (port 0: the one UDP got).
    SocketAddress tb = b;
    len = to_sockaddr(tb, ss);
    int t = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t < 0) return fail("socket");
    listeners.push_back(std::make_unique<Watch>(Watch{Kind::kTcpListen, t}));
    ::setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) ::setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(t, reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail("bind tcp " + tb.str());
    if (::listen(t, 128) != 0) return fail("listen " + tb.str());
    if (auto s = add(listeners[listeners.size() - 2].get(), EPOLLIN); !s) return s;
    if (auto s = add(listeners.back().get(), EPOLLIN); !s) return s;
    bound.push_back(b);
    return {};
  }

  void respond_udp(const Client& c, const uint8_t* data, size_t len) {
    if (c.udp_fd < 0) return;
    ::sendto(c.udp_fd, data, len, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&c.addr), c.addr_len);
  }

  void respond_tcp(uint64_t conn_id, const uint8_t* data, size_t len) {
    auto it = conns.find(conn_id);
    if (it == conns.end()) return;
    Conn& c = it->second;
    if (c.out.size() + len + 2 > kTcpMaxOut) return close_conn(conn_id);  // a client that does not read
    c.out.push_back(static_cast<char>(len >> 8));
    c.out.push_back(static_cast<char>(len & 0xff));
    c.out.append(reinterpret_cast<const char*>(data), len);
    flush(conn_id);
  }

  void flush(uint64_t conn_id) {
    auto it = conns.find(conn_id);
    if (it == conns.end()) return;
    Conn& c = it->second;
    while (!c.out.empty()) {
      ssize_t n = ::send(c.watch->fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return close_conn(conn_id);
      }
      c.out.erase(0, static_cast<size_t>(n));
    }
    bool want = !c.out.empty();
    if (want != c.want_write) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
      ev.data.ptr = c.watch.get();
      ::epoll_ctl(ep, EPOLL_CTL_MOD, c.watch->fd, &ev);
      c.want_write = want;
    }
  }

  void close_conn(uint64_t conn_id) {
    auto it = conns.find(conn_id);
    if (it == conns.end()) return;
    ::close(it->second.watch->fd);  // also leaves the epoll set
    conns.erase(it);
  }

  // Handles one query; the answer goes out through `reply` (UDP batches) or the TCP connection.
  template <class Reply>
  void handle(std::span<const uint8_t> q, bool tcp, bool v6, const Client& client, uint8_t* out,
              Reply&& reply) {
    auto t0 = Clock::now();
    Answered a = responder.answer(q, tcp, out);
    metrics.request(tcp, v6, a.question.type);
    if (a.verdict == Verdict::kDrop) {
      metrics.malformed();
      return;
    }
    if (a.verdict == Verdict::kAnswer) {
      if (a.rcode == KNOT_RCODE_FORMERR) metrics.malformed();
      reply(out, a.size);
      metrics.response(a.rcode, std::chrono::duration<double>(Clock::now() - t0).count());
      return;
    }
    forward(q, tcp, client, a.question, t0, out, reply);
  }

  template <class Reply>
  void forward(std::span<const uint8_t> q, bool tcp, const Client& client, const Question& qs,
               Clock::time_point t0, uint8_t* out, Reply&& reply) {
    auto answer_rcode = [&](uint8_t rcode) {
      size_t n = Responder::error_reply(q, rcode, out);
      if (n) reply(out, n);
      metrics.response(rcode, std::chrono::duration<double>(Clock::now() - t0).count());
    };
    // A query we sent upstream that reached us again: the upstream forwards to us.
    std::string loop_key(reinterpret_cast<const char*>(q.data()), 2);
    loop_key += AnswerCache::key(qs.name, qs.type, qs.klass, qs.edns);
    if (in_flight_keys.contains(loop_key)) {
      metrics.forwarding_loop();
      if (!loop_logged) {
        spdlog::error(
            "DNS forwarding loop: a query sent upstream came back to this server; check --dns-upstream");
        loop_logged = true;
      }
      return answer_rcode(KNOT_RCODE_SERVFAIL);
    }
    std::string key = AnswerCache::key(qs.name, qs.type, qs.klass, qs.edns);
    bool denial = false;
    if (size_t n = cache.get(key, t0, out, denial); n) {
      metrics.cache_hit(denial);
      knot_wire_set_id(out, knot_wire_get_id(q.data()));
      size_t ql = question_length(q);
      if (ql && question_length({out, n}) == ql)
        std::memcpy(out + 12, q.data() + 12, ql);  // the client's case
      n = fit(out, n, tcp ? kMaxMessage : qs.udp_size);
      reply(out, n);
      metrics.response(knot_wire_get_rcode(out), std::chrono::duration<double>(Clock::now() - t0).count());
      return;
    }
    metrics.cache_miss();
    if (opts.upstreams.empty() || in_flight.size() >= opts.max_in_flight)
      return answer_rcode(KNOT_RCODE_SERVFAIL);
    InFlight f;
    f.query.assign(q.begin(), q.end());
    f.client_id = knot_wire_get_id(q.data());
    f.client = client;
    f.tcp = tcp;
    f.udp_size = qs.udp_size;
    f.cache_key = std::move(key);
    f.started = t0;
    f.upstream = arc4random_uniform(static_cast<uint32_t>(opts.upstreams.size()));
    uint64_t token = next_token++;
    auto [it, _] = in_flight.emplace(token, std::move(f));
    if (!send_upstream(token, it->second)) {
      in_flight.erase(token);
      return answer_rcode(KNOT_RCODE_SERVFAIL);
    }
  }

  // Truncates an answer that does not fit the client's UDP size to its header and question, TC set.
  static size_t fit(uint8_t* m, size_t n, size_t limit) {
    if (n <= limit) return n;
    size_t ql = question_length({m, n});
    knot_wire_set_tc(m);
    knot_wire_set_ancount(m, 0);
    knot_wire_set_nscount(m, 0);
    knot_wire_set_arcount(m, 0);
    return KNOT_WIRE_HEADER_SIZE + ql;
  }

  bool send_upstream(uint64_t token, InFlight& f) {
    if (f.watch) {
      in_flight_keys.erase(f.loop_key);
      ::close(f.watch->fd);
      f.watch.reset();
    }
    const SocketAddress& up = opts.upstreams[f.upstream % opts.upstreams.size()];
    sockaddr_storage ss;
    socklen_t len = to_sockaddr(up, ss);
    int type = f.over_tcp ? SOCK_STREAM : SOCK_DGRAM;
    int fd = ::socket(up.ip.is_v4() ? AF_INET : AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    // connect(): a kernel-chosen (random) source port, and only this upstream's datagrams arrive.
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && !(f.over_tcp && errno == EINPROGRESS)) {
      ::close(fd);
      return false;
    }
    f.watch = std::make_unique<Watch>(Watch{Kind::kUpstream, fd, token});
    f.our_id = static_cast<uint16_t>(arc4random_uniform(65536));
    knot_wire_set_id(f.query.data(), f.our_id);
    f.loop_key.assign(reinterpret_cast<const char*>(f.query.data()), 2);
    f.loop_key += f.cache_key;
    in_flight_keys.insert(f.loop_key);
    f.deadline = Clock::now() + opts.upstream_timeout;
    ++f.tries;
    if (f.over_tcp) {  // sent once connected (EPOLLOUT), with its two-byte length (RFC 1035 4.2.2)
      f.tcp_sent = 0;
      f.tcp_in.clear();
      return static_cast<bool>(add(f.watch.get(), EPOLLIN | EPOLLOUT));
    }
    if (!add(f.watch.get(), EPOLLIN)) return false;
    if (::send(fd, f.query.data(), f.query.size(), MSG_DONTWAIT) < 0) return false;
    return true;
  }

  // An upstream TCP connection's event: writes the framed query, reads the framed answer; on an
  // error or EOF it waits for the deadline (then the next upstream, as for UDP).
  void on_upstream_tcp(Watch* w, InFlight& f, uint32_t events) {
    if ((events & EPOLLOUT) && f.tcp_sent < f.query.size() + 2) {
      uint8_t len[2] = {static_cast<uint8_t>(f.query.size() >> 8), static_cast<uint8_t>(f.query.size())};
      while (f.tcp_sent < f.query.size() + 2) {
        iovec iov[2];
        int n = 0;
        if (f.tcp_sent < 2) iov[n++] = {len + f.tcp_sent, 2 - f.tcp_sent};
        size_t off = f.tcp_sent < 2 ? 0 : f.tcp_sent - 2;
        iov[n++] = {f.query.data() + off, f.query.size() - off};
        msghdr mh{};
        mh.msg_iov = iov;
        mh.msg_iovlen = static_cast<size_t>(n);
        ssize_t sent = ::sendmsg(w->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) return;
          ::epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, nullptr);  // refused: wait for the deadline
          return;
        }
        f.tcp_sent += static_cast<size_t>(sent);
      }
      if (f.tcp_sent == f.query.size() + 2) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = w;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, w->fd, &ev);
      }
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    for (;;) {
      size_t want = f.tcp_in.size() < 2 ? 2 : 2 + ((size_t{f.tcp_in[0]} << 8) | f.tcp_in[1]);
      if (f.tcp_in.size() == want && want > 2) break;
      size_t have = f.tcp_in.size();
      f.tcp_in.resize(want);
      ssize_t n = ::recv(w->fd, f.tcp_in.data() + have, want - have, MSG_DONTWAIT);
      if (n <= 0) {
        f.tcp_in.resize(have);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {  // closed: stop watching it
          ::epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, nullptr);
        }
        return;
      }
      f.tcp_in.resize(have + static_cast<size_t>(n));
    }
    uint8_t* m = f.tcp_in.data() + 2;
    size_t n = f.tcp_in.size() - 2;
    std::span<const uint8_t> reply(m, n);
    if (n < KNOT_WIRE_HEADER_SIZE || !knot_wire_get_qr(m) || knot_wire_get_id(m) != f.our_id ||
        !same_question(reply, f.query)) {
      metrics.upstream_spoof();
      ::epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, nullptr);
      return;
    }
    if (!knot_wire_get_tc(m)) {
      cache.put(f.cache_key, reply, Clock::now());
      metrics.set_cache_entries(cache.size());
    }
    std::memcpy(big.data(), m, n);
    deliver(f, big.data(), n);
    finish_in_flight(w->id);
  }

  void finish_in_flight(uint64_t token) {
    auto it = in_flight.find(token);
    if (it == in_flight.end()) return;
    in_flight_keys.erase(it->second.loop_key);
    if (it->second.watch) ::close(it->second.watch->fd);  // none when the last send_upstream failed early
    in_flight.erase(it);
  }

  void deliver(InFlight& f, uint8_t* m, size_t n) {
    knot_wire_set_id(m, f.client_id);
    size_t ql = question_length({m, n});
    if (ql && ql == question_length(f.query)) std::memcpy(m + 12, f.query.data() + 12, ql);
    if (f.tcp) {
      respond_tcp(f.client.conn, m, n);
    } else {
      n = fit(m, n, f.udp_size);
      respond_udp(f.client, m, n);
    }
    metrics.response(knot_wire_get_rcode(m), std::chrono::duration<double>(Clock::now() - f.started).count());
  }

  void on_upstream(Watch* w, uint32_t events) {
    auto it = in_flight.find(w->id);
    if (it == in_flight.end()) return;
    InFlight& f = it->second;
    if (f.over_tcp) return on_upstream_tcp(w, f, events);
    uint8_t* m = big.data();
    for (;;) {
      ssize_t n = ::recv(w->fd, m, kMaxMessage, MSG_DONTWAIT);
      if (n < 0) return;  // EAGAIN, or ICMP refused: wait for the timeout and the next upstream
      std::span<const uint8_t> reply(m, static_cast<size_t>(n));
      if (reply.size() < KNOT_WIRE_HEADER_SIZE || !knot_wire_get_qr(m) || knot_wire_get_id(m) != f.our_id ||
          !same_question(reply, f.query)) {
        metrics.upstream_spoof();
        continue;
      }
      if (knot_wire_get_tc(m)) {
        // Truncated: a TCP client gets the whole answer, asked again over TCP; a UDP client gets
        // the truncated one and retries over TCP itself. Neither is cached.
        if (f.tcp) {
          f.over_tcp = true;
          if (send_upstream(w->id, f)) return;
        }
        deliver(f, m, reply.size());
        finish_in_flight(w->id);
        return;
      }
      cache.put(f.cache_key, reply, Clock::now());
      metrics.set_cache_entries(cache.size());
      deliver(f, m, reply.size());
      finish_in_flight(w->id);
      return;
    }
  }

  void expire(Clock::time_point now) {
    std::vector<uint64_t> done;
    for (auto& [token, f] : in_flight) {
      if (now < f.deadline) continue;
      if (f.tries < opts.upstreams.size() * 2) {
        ++f.upstream;
        if (send_upstream(token, f)) continue;
      }
      size_t n = Responder::error_reply(f.query, KNOT_RCODE_SERVFAIL, big.data());
      if (n) deliver(f, big.data(), n);
      done.push_back(token);
    }
    for (auto t : done) finish_in_flight(t);
    for (auto it = conns.begin(); it != conns.end();) {
      auto id = it->first;
      bool idle = now - it->second.last > opts.tcp_idle_timeout;
      ++it;
      if (idle) close_conn(id);
    }
  }

  void on_udp(Watch* w) {
    static thread_local std::vector<uint8_t> bufs(kBatch * kUdpSlot), outs(kBatch * kUdpSlot);
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    sockaddr_storage addrs[kBatch];
    mmsghdr replies[kBatch];
    iovec riov[kBatch];
    for (int rounds = 0; rounds < 8; ++rounds) {
      for (int i = 0; i < kBatch; ++i) {
        iov[i] = {bufs.data() + i * kUdpSlot, kUdpSlot};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
      }
      int got = ::recvmmsg(w->fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
      if (got <= 0) return;
      int nreply = 0;
      for (int i = 0; i < got; ++i) {
        // A datagram larger than the slot is cut (MSG_TRUNC): no query we answer is that large.
        if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
          metrics.malformed();
          continue;
        }
        Client c;
        c.udp_fd = w->fd;
        c.addr = addrs[i];
        c.addr_len = msgs[i].msg_hdr.msg_namelen;
        uint8_t* out = outs.data() + i * kUdpSlot;
        handle({bufs.data() + i * kUdpSlot, msgs[i].msg_len}, false, addrs[i].ss_family == AF_INET6, c, out,
               [&](const uint8_t* data, size_t len) {
                 riov[nreply] = {const_cast<uint8_t*>(data), len};
                 replies[nreply] = {};
                 replies[nreply].msg_hdr.msg_iov = &riov[nreply];
                 replies[nreply].msg_hdr.msg_iovlen = 1;
                 replies[nreply].msg_hdr.msg_name = &addrs[i];
                 replies[nreply].msg_hdr.msg_namelen = msgs[i].msg_hdr.msg_namelen;
                 ++nreply;
               });
      }
      for (int sent = 0; sent < nreply;) {
        int n = ::sendmmsg(w->fd, replies + sent, nreply - sent, MSG_DONTWAIT);
        if (n <= 0) break;  // a full socket buffer drops answers, as UDP may
        sent += n;
      }
      if (got < kBatch) return;
    }
  }

  void on_accept(Watch* w) {
    for (;;) {
      int fd = ::accept4(w->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      if (conns.size() >= opts.max_tcp_connections) {
        ::close(fd);
        continue;
      }
      uint64_t id = next_conn++;
      Conn c;
      c.watch = std::make_unique<Watch>(Watch{Kind::kTcp, fd, id});
      c.last = Clock::now();
      Watch* cw = c.watch.get();
      conns.emplace(id, std::move(c));
      if (!add(cw, EPOLLIN)) close_conn(id);
    }
  }

  void on_tcp(Watch* w, uint32_t events) {
    uint64_t id = w->id;
    auto it = conns.find(id);
    if (it == conns.end()) return;
    if (events & EPOLLOUT) flush(id);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    uint8_t chunk[16384];
    for (int rounds = 0; rounds < 16; ++rounds) {
      it = conns.find(id);
      if (it == conns.end()) return;
      Conn& c = it->second;
      ssize_t n = ::recv(w->fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n == 0) return close_conn(id);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        return close_conn(id);
      }
      c.last = Clock::now();
      c.in.insert(c.in.end(), chunk, chunk + n);
      // Every complete message; a partial one waits (bounded: 2 + 65535 bytes).
      size_t off = 0;
      while (c.in.size() - off >= 2) {
        size_t len = (static_cast<size_t>(c.in[off]) << 8) | c.in[off + 1];
        if (c.in.size() - off - 2 < len) break;
        std::vector<uint8_t> msg(c.in.begin() + off + 2, c.in.begin() + off + 2 + len);
        off += 2 + len;
        Client cl;
        cl.conn = id;
        handle(msg, true, false, cl, big.data(),
               [&](const uint8_t* data, size_t l) { respond_tcp(id, data, l); });
        if (!conns.contains(id)) return;
      }
      auto cit = conns.find(id);
      if (cit == conns.end()) return;
      cit->second.in.erase(cit->second.in.begin(), cit->second.in.begin() + off);
    }
  }

  void send_probe() {
    if (opts.upstreams.empty()) return;
    std::string text =
        std::to_string(arc4random()) + "." + std::to_string(arc4random()) + ".podnet-loop-check.";
    probe_name = to_wire(text);
    std::vector<uint8_t> q(KNOT_WIRE_HEADER_SIZE, 0);
    q[2] = 0x01;  // RD
    q[5] = 1;     // one question
    q.insert(q.end(), probe_name.begin(), probe_name.end());
    for (uint8_t b : std::initializer_list<uint8_t>{0, KNOT_RRTYPE_HINFO, 0, KNOT_CLASS_IN}) q.push_back(b);
    const std::string name = probe_name;
    Question qs;
    qs.name = name;
    qs.type = KNOT_RRTYPE_HINFO;
    qs.klass = KNOT_CLASS_IN;
    Client nobody;  // the answer goes nowhere
    std::vector<uint8_t> out(kUdpSlot);
    auto t0 = Clock::now();
    probe_name.clear();  // not a loop while we send it ourselves
    forward(q, false, nobody, qs, t0, out.data(), [](const uint8_t*, size_t) {});
    probe_name = name;
  }

  void run() {
    send_probe();
    auto next_sweep = Clock::now();
    epoll_event evs[64];
    while (!stopping.load()) {
      int timeout = in_flight.empty() ? 1000 : 50;
      int n = ::epoll_wait(ep, evs, 64, timeout);
      if (n < 0 && errno != EINTR) {
        spdlog::error("DNS server: epoll_wait: {}", std::strerror(errno));
        return;
      }
      for (int i = 0; i < n; ++i) {
        auto* w = static_cast<Watch*>(evs[i].data.ptr);
        switch (w->kind) {
          case Kind::kUdp:
            on_udp(w);
            break;
          case Kind::kTcpListen:
            on_accept(w);
            break;
          case Kind::kTcp:
            on_tcp(w, evs[i].events);
            break;
          case Kind::kUpstream:
            on_upstream(w, evs[i].events);
            break;
          case Kind::kWake:
            return;
        }
      }
      auto now = Clock::now();
      if (now >= next_sweep || !in_flight.empty()) {
        expire(now);
        next_sweep = now + std::chrono::milliseconds(500);
      }
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::create(const RecordStore& store, DnsMetrics& metrics,
                                               ServerOptions options) {
  for (const auto& u : options.upstreams)
    for (const auto& l : options.listen)
      if (u == l)
        return fail_msg("DNS upstream " + u.str() + " is this server's own address (a forwarding loop)");
  auto impl = std::make_unique<Impl>(store, metrics, std::move(options));
  impl->ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (impl->ep < 0) return fail("epoll_create1");
  impl->wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wake < 0) return fail("eventfd");
  impl->listeners.push_back(std::make_unique<Impl::Watch>(Impl::Watch{Impl::Kind::kWake, impl->wake}));
  if (auto s = impl->add(impl->listeners.back().get(), EPOLLIN); !s) return std::unexpected(s.error());
  // The wake watch owns `wake` through `listeners`: do not close it twice.
  impl->wake = -1;
  for (const auto& a : impl->opts.listen)
    if (auto s = impl->open(a); !s) return std::unexpected(wrap(s.error(), "DNS server"));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::run() {
  impl_->run();
}

void Server::stop() {
  impl_->stopping.store(true);
  uint64_t one = 1;
  for (auto& l : impl_->listeners)
    if (l->kind == Impl::Kind::kWake) (void)!::write(l->fd, &one, sizeof one);
}

const std::vector<SocketAddress>& Server::addresses() const {
  return impl_->bound;
}

}  // namespace podnet::dns
