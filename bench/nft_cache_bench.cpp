// nft_cache_bench: what one libnftables command costs a process when the ruleset has many tables,
// as a node's has (the proxy's shards, policy, the agent's own): libnftables refills its cache
// before every command once the kernel's generation moved (any write, its own included) and gives
// each table four 8192-bucket hash tables. Four cases, each in a child process of its own (malloc
// settings are per process) with a private network namespace that dies with it (root):
//   fresh   a new nft::Nft per command          kept   one nft::Nft for all commands
//   glibc   glibc's malloc defaults              heap   the agent's setting (cli/agent_cmd.cpp):
//                                                       M_MMAP_THRESHOLD 1 MiB, M_TRIM_THRESHOLD 32 MiB
// Every command adds one element to a set, like a pod's policy or port-mapping write. Reports CPU
// (user + system) and minor page faults per command: median and range over --runs interleaved runs.
//
//   nft_cache_bench [--tables 40] [--commands 100] [--runs 5]
#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "nft/nft.h"

namespace {

using podnet::Status;
using podnet::nft::Nft;

struct Sample {
  double cpu_ms = 0, faults = 0;
};

struct Case {
  const char* name;
  bool kept, heap;
};

double cpu_seconds(const rusage& r) {
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

// In the child: returns 0 and writes a Sample to `fd`, or prints why not and returns 1.
int run_case(const Case& c, int tables, int commands, int fd) {
  if (c.heap) {
    ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 32 << 20);
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (needs root)");
    return 1;
  }
  auto setup = Nft::open();
  if (!setup) {
    std::fprintf(stderr, "%s\n", setup.error().message().c_str());
    return 1;
  }
  std::string cmds;
  for (int i = 0; i < tables; ++i) {
    std::string t = "ip pn-bench-t" + std::to_string(i);
    cmds += "add table " + t + "\nadd chain " + t + " c\nadd set " + t + " s { type ipv4_addr; }\n";
  }
  cmds += "add table ip pn-bench\nadd set ip pn-bench pods { type ipv4_addr; }\n";
  if (auto s = setup->run(cmds); !s) {
    std::fprintf(stderr, "setup: %s\n", s.error().message().c_str());
    return 1;
  }
  std::optional<Nft> kept;
  if (c.kept) kept.emplace(std::move(*Nft::open()));
  rusage r0{}, r1{};
  ::getrusage(RUSAGE_SELF, &r0);
  for (int k = 0; k < commands; ++k) {
    std::string cmd = "add element ip pn-bench pods { 10.1." + std::to_string(k / 250) + "." +
                      std::to_string(k % 250 + 1) + " }\n";
    Status s;
    if (c.kept) {
      s = kept->run(cmd);
    } else {
      auto fresh = Nft::open();
      s = fresh ? fresh->run(cmd) : Status(std::unexpected(fresh.error()));
    }
    if (!s) {
      std::fprintf(stderr, "command: %s\n", s.error().message().c_str());
      return 1;
    }
  }
  ::getrusage(RUSAGE_SELF, &r1);
  Sample out{1000 * (cpu_seconds(r1) - cpu_seconds(r0)) / commands,
             double(r1.ru_minflt - r0.ru_minflt) / commands};
  return ::write(fd, &out, sizeof out) == sizeof out ? 0 : 1;
}

std::optional<Sample> run_child(const Case& c, int tables, int commands) {
  int p[2];
  if (::pipe(p) != 0) return std::nullopt;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    ::_exit(run_case(c, tables, commands, p[1]));
  }
  ::close(p[1]);
  Sample s;
  bool ok = pid > 0 && ::read(p[0], &s, sizeof s) == sizeof s;
  ::close(p[0]);
  int status = 0;
  if (pid > 0) ::waitpid(pid, &status, 0);
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return s;
}

std::string spread(std::vector<double> v, const char* fmt) {
  std::sort(v.begin(), v.end());
  char buf[96];
  std::snprintf(buf, sizeof buf, fmt, v[v.size() / 2], v.front(), v.back());
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int tables = 40, commands = 100, runs = 5;
  CLI::App app{"nft_cache_bench: CPU and page faults per libnftables command with many tables"};
  app.add_option("--tables", tables, "tables in the namespace besides the bench's own")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app.add_option("--commands", commands, "commands per run")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--runs", runs, "interleaved runs of every case")
      ->capture_default_str()
      ->check(CLI::Range(1, 50));
  CLI11_PARSE(app, argc, argv);

  const std::vector<Case> cases = {{"fresh, glibc", false, false},
                                   {"kept, glibc", true, false},
                                   {"fresh, heap", false, true},
                                   {"kept, heap", true, true}};
  std::vector<std::vector<Sample>> samples(cases.size());
  for (int r = 0; r < runs; ++r)
    for (size_t i = 0; i < cases.size(); ++i) {
      auto s = run_child(cases[i], tables, commands);
      if (!s) {
        std::fprintf(stderr, "case \"%s\" failed\n", cases[i].name);
        return 1;
      }
      samples[i].push_back(*s);
    }
  std::printf("%d tables, %d commands per run, %d interleaved runs; median (min-max) per command\n", tables,
              commands, runs);
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<double> cpu, faults;
    for (const auto& s : samples[i]) {
      cpu.push_back(s.cpu_ms);
      faults.push_back(s.faults);
    }
    std::printf("  %-13s CPU %s   minor faults %s\n", cases[i].name,
                spread(cpu, "%.2f ms (%.2f-%.2f)").c_str(), spread(faults, "%.0f (%.0f-%.0f)").c_str());
  }
  return 0;
}
