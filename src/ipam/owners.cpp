#include "ipam/owners.h"

namespace podnet::ipam {

Result<std::vector<std::string>> verified_owned(const Store& store, const IndexRecord& rec) {
  std::vector<std::string> out;
  for (const auto& ip : rec.ips) {
    auto name = ip.to_string();
    auto content = store.read_reservation(name);
    if (!content) return std::unexpected(content.error());
    if (*content && parse_owner(**content) == rec.who) out.push_back(std::move(name));
  }
  return out;
}

Result<std::vector<std::string>> scan_owned(const Store& store, const Attachment& who) {
  auto names = store.reservations();
  if (!names) return names;
  std::vector<std::string> exact, legacy;
  for (auto& name : *names) {
    auto content = store.read_reservation(name);
    if (!content) return std::unexpected(content.error());
    if (!*content) continue;  // released meanwhile
    auto owner = parse_owner(**content);
    if (!owner) continue;
    if (*owner == who)
      exact.push_back(std::move(name));
    else if (owner->ifname.empty() && owner->container_id == who.container_id)
      legacy.push_back(std::move(name));
  }
  return exact.empty() ? legacy : exact;
}

}  // namespace podnet::ipam
