#include "fastpath/pod_attach.h"

#include <linux/bpf.h>

#include <cstring>

#include "fastpath/bpf_sys.h"
#include "fastpath/fastpath_abi.h"

namespace podnet::fastpath {
namespace {

static_assert(sizeof(pn_pod) == 12, "pn_pod is shared with the BPF program");

// An absent pin is nullopt, any other failure an error.
Result<std::optional<UniqueFd>> get_optional(const std::string& path) {
  auto fd = bpf_obj_get(path);
  if (fd) return std::optional<UniqueFd>(std::move(*fd));
  if (fd.error().code == ENOENT) return std::optional<UniqueFd>();
  return std::unexpected(fd.error());
}

}  // namespace

uint32_t ipv4_be32(const IpAddress& a) {
  const auto bytes = a.to_v4().to_bytes();
  uint32_t v;
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

Result<std::optional<PodPins>> open_pod_pins(const std::string& bpf_dir) {
  PODNET_TRY(pods, get_optional(bpf_dir + "/" + kPodsMap));
  if (!pods) return std::nullopt;
  return PodPins{std::move(*pods)};
}

Status add_pod(const PodPins& pins, int host_ifindex, const netlink::Mac& pod_mac,
               const std::vector<IpAddress>& ips, uint16_t flags) {
  pn_pod value{};
  value.flags = flags;
  value.ifindex = static_cast<__u32>(host_ifindex);
  std::memcpy(value.mac, pod_mac.data(), sizeof value.mac);
  for (const auto& ip : ips) {
    if (!ip.is_v4()) continue;
    const __u32 key = ipv4_be32(ip);
    if (auto s = map_update(pins.pods.get(), &key, &value, BPF_ANY); !s)
      return std::unexpected(wrap(s.error(), "add " + ip.to_string() + " to pn_pods"));
  }
  return {};
}

Status remove_pod(const std::string& bpf_dir, const std::vector<IpAddress>& ips) {
  bool any_v4 = false;
  for (const auto& ip : ips) any_v4 |= ip.is_v4();
  if (!any_v4) return {};
  PODNET_TRY(pods, get_optional(bpf_dir + "/" + kPodsMap));
  if (!pods) return {};
  for (const auto& ip : ips) {
    if (!ip.is_v4()) continue;
    const __u32 key = ipv4_be32(ip);
    if (auto s = map_delete(pods->get(), &key); !s)
      return std::unexpected(wrap(s.error(), "remove " + ip.to_string() + " from pn_pods"));
  }
  return {};
}

}  // namespace podnet::fastpath
