// Architecture and OS are the binary's, as kubelet reports Go's GOARCH and GOOS (an amd64 agent on
// an arm64 kernel under emulation still says amd64); the kernel version is the running kernel's.
#include "agent/system_info.h"

#include <sys/utsname.h>

#include "common/files.h"
#include "common/version.h"

namespace podnet::agent {
namespace {

constexpr const char* kArchitecture =
#if defined(__x86_64__)
    "amd64";
#elif defined(__aarch64__)
    "arm64";
#elif defined(__arm__)
    "arm";
#elif defined(__i386__)
    "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    "ppc64le";
#elif defined(__s390x__)
    "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    "riscv64";
#else
    "unknown";
#endif

std::string trimmed(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// The first of `paths` (under root) that reads, trimmed; "" when none does.
std::string first_file(const std::string& root, std::initializer_list<const char*> paths) {
  for (const char* p : paths)
    if (auto text = read_file(root + p)) return trimmed(*text);
  return {};
}

// An os-release value: shell-style, either bare or in single or double quotes (where a backslash
// escapes the next character).
std::string unquote(std::string_view v) {
  if (v.size() < 2 || (v.front() != '"' && v.front() != '\'') || v.back() != v.front()) return std::string(v);
  const char quote = v.front();
  v = v.substr(1, v.size() - 2);
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (quote == '"' && v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

}  // namespace

std::string os_image_of(std::string_view os_release) {
  std::string image;
  while (!os_release.empty()) {
    size_t nl = os_release.find('\n');
    std::string line = trimmed(os_release.substr(0, nl));
    os_release = nl == std::string_view::npos ? std::string_view() : os_release.substr(nl + 1);
    if (line.starts_with("PRETTY_NAME=")) image = unquote(line.substr(12));
  }
  return image.empty() ? "Linux" : image;
}

NodeSystemInfo read_node_system_info(bool with_proxy, const std::string& root) {
  NodeSystemInfo info;
  info.machine_id = first_file(root, {"/etc/machine-id", "/var/lib/dbus/machine-id"});
  info.system_uuid = first_file(root, {"/sys/class/dmi/id/product_uuid"});
  info.boot_id = first_file(root, {"/proc/sys/kernel/random/boot_id"});
  struct utsname u {};
  if (::uname(&u) == 0) info.kernel_version = u.release;
  std::string os_release;
  for (const char* p : {"/etc/os-release", "/usr/lib/os-release"})
    if (auto text = read_file(root + p)) {
      os_release = *text;
      break;
    }
  info.os_image = os_image_of(os_release);
  info.container_runtime_version = "podnet://" + std::string(kPodnetVersion);
  info.kubelet_version = kNodeAgentVersion;
  if (with_proxy) info.kube_proxy_version = kNodeAgentVersion;
  info.operating_system = "linux";
  info.architecture = kArchitecture;
  return info;
}

}  // namespace podnet::agent
