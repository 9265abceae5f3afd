// Error values for everything that talks to the kernel, files or the network.
// An Error carries the errno (0 when none applies) and what was being done, so a message reads
// "create veth pn1234 in /var/run/netns/x: File exists".
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace podnet {

struct Error {
  int code = 0;         // errno value, 0 when the failure is not a system error
  std::string context;  // what was being done, e.g. "open netns /var/run/netns/pod1"

  std::string message() const;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

// Builds an unexpected Error from the current errno (or an explicit one).
inline std::unexpected<Error> fail(std::string context, int code = errno) {
  return std::unexpected(Error{code, std::move(context)});
}
// An error that is not a system call failure (bad input, protocol violation...).
inline std::unexpected<Error> fail_msg(std::string context) {
  return std::unexpected(Error{0, std::move(context)});
}

// Prepends what the caller was doing: "add pod address: <inner context>".
inline Error wrap(Error e, std::string_view outer) {
  e.context = std::string(outer) + ": " + e.context;
  return e;
}

}  // namespace podnet

// Unwraps an expected into `var`, or returns its error from the enclosing function.
#define PODNET_TRY(var, expr)                                                 \
  auto var##_result = (expr);                                                 \
  if (!var##_result) return std::unexpected(std::move(var##_result.error())); \
  auto var = std::move(*var##_result)
