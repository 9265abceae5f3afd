// podnet-cni: the CNI plugin binary. Reads the network config from stdin and CNI_* from the
// environment, writes the result or the spec's error JSON to stdout.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cni/bridge_plugin.h"

int main() {
  std::string in;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  std::string out;
  int rc = podnet::cni::run_plugin(podnet::cni::current_environment(), in, out);
  if (!out.empty()) {
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return rc;
}
