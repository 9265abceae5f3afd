// The agent's log server (:10250) on raw request bytes: one server on 127.0.0.1 for the process,
// each input sent on a fresh connection (then half-closed) and the reply read to the end. A
// parser that throws or aborts in the connection thread takes the process down, which is the
// crash the fuzzer reports. When the request parser becomes a pure function, call it directly here.
#include "runtime/log_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_target.h"

using namespace podnet::runtime;

namespace {

struct Server {
  std::string log_path;
  std::unique_ptr<LogServer> server;

  Server() {
    // The log file lives on only as an open descriptor, so a crashing run leaves nothing behind.
    char tmpl[] = "/tmp/podnet-fuzz-logs-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    std::string path = std::string(tmpl) + "/c.log";
    std::ofstream(path) << "2026-01-01T00:00:00.000000001Z stdout F hello\n"
                           "2026-01-01T00:00:01.5Z stderr P part\n"
                           "2026-01-01T00:00:02Z stderr F ial\n";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::filesystem::remove_all(tmpl);
    if (fd < 0) std::abort();
    log_path = "/proc/self/fd/" + std::to_string(fd);
    auto s = LogServer::start(
        "127.0.0.1", 0, nullptr,
        [this](const std::string&, const std::string& pod, const std::string&) -> std::optional<LogSource> {
          if (pod != "web") return std::nullopt;
          return LogSource{log_path, [] { return false; }};
        });
    if (!s) {
      std::fprintf(stderr, "log server: %s\n", s.error().message().c_str());
      std::abort();
    }
    server = std::move(*s);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  static Server s;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(s.server->port());
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) std::abort();
  for (size_t off = 0; off < size;) {
    ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) break;
  }
  ::close(fd);
  return 0;
}
