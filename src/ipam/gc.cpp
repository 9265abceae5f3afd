// garbage_collect(): the one operation that scans the whole network directory, so it also repairs
// what crashes leave behind (half-written reservations, stale or missing index files).
#include <algorithm>
#include <map>

#include "ipam/ipam.h"
#include "ipam/store.h"

namespace podnet::ipam {
namespace {

// A legacy reservation (container ID only) stays while any interface of that container is valid.
bool is_valid(const Attachment& owner, const std::set<Attachment>& valid) {
  if (!owner.ifname.empty()) return valid.contains(owner);
  auto it = valid.lower_bound(owner);
  return it != valid.end() && it->container_id == owner.container_id;
}

bool same_addresses(std::vector<IpAddress> a, std::vector<IpAddress> b) {
  auto less = [](const IpAddress& x, const IpAddress& y) { return ip_compare(x, y) < 0; };
  std::ranges::sort(a, less);
  std::ranges::sort(b, less);
  return a == b;
}

using Holdings = std::map<Attachment, std::vector<IpAddress>>;

// Removes reservations of attachments not in `valid`; returns what the valid ones hold.
Result<Holdings> sweep_reservations(const Store& store, const std::set<Attachment>& valid,
                                    std::set<Attachment>& released) {
  auto names = store.reservations();
  if (!names) return std::unexpected(names.error());
  Holdings held;
  for (const auto& name : *names) {
    auto content = store.read_reservation(name);
    if (!content) return std::unexpected(content.error());
    if (!*content) continue;
    // nullopt: empty, i.e. killed between the O_EXCL create and the write.
    auto owner = parse_owner(**content);
    if (owner && is_valid(*owner, valid)) {
      held[*owner].push_back(*parse_ip(name));
      continue;
    }
    if (auto s = store.remove_reservation(name); !s) return std::unexpected(s.error());
    if (owner) released.insert(*owner);
  }
  return held;
}

// Makes by-id match `held` exactly: drops indexes of released attachments, torn temporaries and
// stale entries; writes the indexes a crash (or host-local) never wrote.
Status rebuild_index(const Store& store, const Holdings& held) {
  auto names = store.index_files();
  if (!names) return std::unexpected(names.error());
  std::set<Attachment> indexed;
  for (const auto& name : *names) {
    auto rec = store.read_index(name);
    if (!rec) return std::unexpected(rec.error());
    auto it = *rec ? held.find((*rec)->who) : held.end();
    // A name mismatch is a write_file_atomic temporary left by kill -9.
    if (it == held.end() || Store::index_name(it->first) != name) {
      if (auto s = store.remove_index(name); !s) return s;
      continue;
    }
    indexed.insert(it->first);
    if (!same_addresses((*rec)->ips, it->second))
      if (auto s = store.write_index({it->first, it->second}); !s) return s;
  }
  for (const auto& [who, ips] : held)
    if (!indexed.contains(who))
      if (auto s = store.write_index({who, ips}); !s) return s;
  return {};
}

}  // namespace

Result<std::vector<Attachment>> garbage_collect(const Config& cfg, const std::set<Attachment>& valid) {
  if (auto s = check_network(cfg); !s) return std::unexpected(s.error());
  Store store(cfg);
  auto lock = store.lock(false);
  if (!lock) return std::unexpected(lock.error());
  if (!*lock) return std::vector<Attachment>{};

  std::set<Attachment> released;
  auto held = sweep_reservations(store, valid, released);
  if (!held) return std::unexpected(held.error());
  for (auto& [who, ips] : *held)
    std::ranges::sort(ips, [](auto& x, auto& y) { return ip_compare(x, y) < 0; });
  if (auto s = rebuild_index(store, *held); !s) return std::unexpected(s.error());
  return std::vector<Attachment>(released.begin(), released.end());
}

}  // namespace podnet::ipam
