// `podnet down`: everything `podnet up` made in a state dir goes, from the record it wrote first.
// Signals are blocked for the duration so Ctrl-C cannot leave a half-removed cluster.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "cli/cluster_cmds.h"
#include "cluster/teardown.h"

namespace podnet::cli {

int run_down(const StateDirOptions& opts) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "podnet down: needs root\n");
    return 1;
  }
  namespace fs = std::filesystem;
  std::string dir = fs::absolute(opts.state_dir).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  auto record = cluster::load_record(dir);
  if (!record) {
    std::fprintf(stderr, "podnet down: %s\n", record.error().message().c_str());
    return 1;
  }
  if (!*record) {
    // `up` writes the record before it makes anything, so without one there is nothing to remove
    // but perhaps the empty directory a crashed `up` left.
    std::error_code ec;
    if (fs::is_directory(dir, ec) && fs::is_empty(dir, ec)) fs::remove(dir, ec);
    std::printf("podnet down: no cluster in %s\n", dir.c_str());
    return 0;
  }
  // The record names its own directory; a copied or moved state dir must not tear down another.
  (*record)->state_dir = dir;
  sigset_t block;
  sigemptyset(&block);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, s);
  sigprocmask(SIG_BLOCK, &block, nullptr);

  cluster::Layout layout(**record);
  std::printf("podnet down: cluster %s in %s\n", layout.spec().cid.c_str(), dir.c_str());
  auto s = cluster::tear_down(layout, [](const std::string& line) {
    std::printf("* %s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!s) {
    std::fprintf(stderr, "podnet down: %s\n", s.error().message().c_str());
    return 1;
  }
  std::printf("podnet down: done\n");
  return 0;
}

}  // namespace podnet::cli
