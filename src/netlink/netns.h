// Network namespaces: an RAII handle opened by path, and running code inside one on the calling
// thread. The thread always returns to the namespace it came from, even when the code fails.
#pragma once

#include <string>
#include <utility>

#include "common/error.h"
#include "common/fd.h"

namespace podnet::netlink {

class NetNs {
 public:
  // Opens a namespace by path: /var/run/netns/NAME, /proc/PID/ns/net... Anything else (a FIFO,
  // a regular file, a directory, another kind of namespace) fails with EINVAL and says what it
  // is, without blocking and without opening it for reading.
  static Result<NetNs> open(const std::string& path);
  // The calling thread's current namespace.
  static Result<NetNs> current();

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

  // Switches the calling thread into this namespace for the duration of fn(), then back.
  // fn returns Result<T> or Status; a failure to enter is returned as that type's error.
  template <class F>
  auto run(F&& fn) const -> decltype(fn());

 private:
  NetNs(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Status enter() const;
  UniqueFd fd_;
  std::string path_;
};

// Creates a named namespace bound at /var/run/netns/NAME (like `ip netns add`), and deletes it.
Result<NetNs> create_named_netns(const std::string& name);
Status delete_named_netns(const std::string& name);

template <class F>
auto NetNs::run(F&& fn) const -> decltype(fn()) {
  auto origin = current();
  if (!origin) return std::unexpected(origin.error());
  if (auto s = enter(); !s) return std::unexpected(s.error());
  struct Restore {
    const NetNs& ns;
    ~Restore() { (void)ns.enter(); }
  } restore{*origin};
  return fn();
}

}  // namespace podnet::netlink
