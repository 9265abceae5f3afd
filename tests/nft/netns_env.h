// Test scaffolding for the nft tests: throw-away network namespaces (never the root one), entering
// one on the test thread for in-process library calls, and background servers killed by PID.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pntest {

// Runs a /bin/sh command; returns its exit status (-1 when it did not exit normally).
int sh(const std::string& cmd);
// Runs a /bin/sh command and returns its stdout without the trailing newline.
std::string sh_out(const std::string& cmd);

// A named namespace ("ip netns add"), deleted with its interfaces when destroyed.
class Netns {
 public:
  explicit Netns(std::string name);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // Shell command prefixed with "ip netns exec <name>".
  std::string in(const std::string& cmd) const { return "ip netns exec " + name_ + " " + cmd; }
  int run(const std::string& cmd) const { return sh(in(cmd)); }
  std::string out(const std::string& cmd) const { return sh_out(in(cmd)); }

 private:
  std::string name_;
  bool ok_ = false;
};

// Moves the calling thread into a namespace and back on destruction.
class EnterNetns {
 public:
  explicit EnterNetns(const std::string& name);
  ~EnterNetns();
  EnterNetns(const EnterNetns&) = delete;
  EnterNetns& operator=(const EnterNetns&) = delete;
  bool ok() const { return ok_; }

 private:
  int orig_ = -1;
  bool ok_ = false;
};

// A command started in its own process group inside a namespace; the group is killed on
// destruction (socat's forked children included), nothing else.
class Background {
 public:
  Background(const Netns& ns, std::vector<std::string> argv);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Names unique to this process and call: "pn<tag>-<pid>-<n>".
std::string unique_name(const std::string& tag);

// Waits until `ss -Hn <flags>` shows a socket on the port inside ns (flags e.g. "-lt4"); false
// after ~5 s.
bool wait_listening(const Netns& ns, int port, const std::string& ss_flags);

}  // namespace pntest
