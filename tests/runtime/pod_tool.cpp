// A tiny program for pod tests (containers see the node's filesystem, so tests run it as a
// container's command):
//   pod_tool serve PORT TEXT [TERM_MARKER]  TCP server on 0.0.0.0:PORT answering TEXT (as an HTTP
//                                           200 to a GET); on SIGTERM writes TERM_MARKER, exits 0
//   pod_tool fetch HOST PORT                connects once, prints what the server sent, exit 0/1
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

const char* g_marker = nullptr;

void on_term(int) {
  if (g_marker) {
    FILE* f = std::fopen(g_marker, "w");
    if (f) {
      std::fputs("SIGTERM\n", f);
      std::fclose(f);
    }
  }
  const char msg[] = "got SIGTERM\n";
  (void)!::write(1, msg, sizeof msg - 1);
  ::_exit(0);
}

int serve(int port, const std::string& text) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 16) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  std::printf("serving on port %d\n", port);
  std::fflush(stdout);
  for (;;) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    char buf[1024];
    pollfd p{c, POLLIN, 0};
    ssize_t n = ::poll(&p, 1, 100) > 0 ? ::recv(c, buf, sizeof buf, 0) : 0;
    std::string out = text;
    if (n >= 3 && std::memcmp(buf, "GET", 3) == 0)
      out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(text.size()) +
            "\r\nConnection: close\r\n\r\n" + text;
    (void)!::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    ::close(c);
  }
}

int fetch(const char* host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host, &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return 1;
  (void)!::send(fd, "x", 1, MSG_NOSIGNAL);
  std::string got;
  char buf[1024];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
  std::printf("fetched: %s\n", got.c_str());
  return got.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve" && argc >= 4) {
    if (argc >= 5) g_marker = argv[4];
    ::signal(SIGTERM, on_term);
    return serve(std::atoi(argv[2]), argv[3]);
  }
  if (mode == "fetch" && argc >= 4) return fetch(argv[2], std::atoi(argv[3]));
  std::fprintf(stderr, "usage: pod_tool serve PORT TEXT [MARKER] | fetch HOST PORT\n");
  return 2;
}
