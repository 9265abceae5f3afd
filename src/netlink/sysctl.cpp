// Sysctls of the calling thread's network namespace: /proc/sys/net resolves against the namespace of
// the thread that opens the file, so these work inside NetNs::run().
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "common/fd.h"
#include "common/files.h"
#include "netlink/link.h"

namespace podnet::netlink {
namespace {

Result<std::string> sysctl_path(const std::string& key) {
  std::string rel = key;
  if (rel.starts_with("/proc/sys/"))
    rel.erase(0, 10);
  else if (rel.find('/') == std::string::npos)
    std::replace(rel.begin(), rel.end(), '.', '/');
  // Slash-separated keys are taken as they are, since interface names may contain dots.
  size_t start = 0;
  do {
    size_t end = rel.find('/', start);
    std::string part = rel.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty() || part == "." || part == "..")
      return fail("invalid sysctl key \"" + key + "\"", EINVAL);
    start = end == std::string::npos ? end : end + 1;
  } while (start != std::string::npos);
  return "/proc/sys/" + rel;
}

}  // namespace

Status set_sysctl(const std::string& key, const std::string& value) {
  auto path = sysctl_path(key);
  if (!path) return std::unexpected(path.error());
  UniqueFd fd(::open(path->c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return fail("open sysctl " + *path);
  // One write: sysctl handlers parse each write from the start of the value.
  ssize_t n;
  do n = ::write(fd.get(), value.data(), value.size());
  while (n < 0 && errno == EINTR);
  if (n < 0) return fail("write \"" + value + "\" to sysctl " + *path);
  if (static_cast<size_t>(n) != value.size()) return fail("short write to sysctl " + *path, EIO);
  return {};
}

Result<std::string> get_sysctl(const std::string& key) {
  auto path = sysctl_path(key);
  if (!path) return std::unexpected(path.error());
  auto text = read_file(*path);
  if (!text) return std::unexpected(wrap(text.error(), "read sysctl"));
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  return text;
}

}  // namespace podnet::netlink
