#include "ipam/ipam.h"

#include <algorithm>

#include "ipam/owners.h"
#include "ipam/ranges.h"
#include "ipam/store.h"

namespace podnet::ipam {
namespace {

std::unexpected<IpamError> ipam_fail(ErrorKind kind, Error e) {
  return std::unexpected(IpamError{kind, std::move(e)});
}
std::unexpected<IpamError> ipam_fail(ErrorKind kind, std::string msg) {
  return ipam_fail(kind, Error{0, std::move(msg)});
}

// The attachment is written into line-oriented files, so line breaks (or any whitespace, which
// host-local trims) would corrupt or alias records.
Status check_attachment(const Attachment& who) {
  auto bad = [](const std::string& s) {
    return s.empty() || std::ranges::any_of(s, [](unsigned char c) { return c <= ' ' || c == 0x7f; });
  };
  if (bad(who.container_id))
    return fail_msg("container ID \"" + who.container_id + "\" is empty or contains whitespace");
  if (bad(who.ifname))
    return fail_msg("interface name \"" + who.ifname + "\" is empty or contains whitespace");
  return {};
}

// Reservations made by one allocate(); removed again (still under the lock) unless committed, so a
// failed call leaves nothing behind.
class Undo {
 public:
  explicit Undo(const Store& store) : store_(store) {}
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;
  ~Undo() {
    for (const auto& name : names_) (void)store_.remove_reservation(name);
  }
  void add(const IpAddress& ip) { names_.push_back(ip.to_string()); }
  void commit() { names_.clear(); }

 private:
  const Store& store_;
  std::vector<std::string> names_;
};

// Which range set each requested IP satisfies (host-local: the set containing it).
IpamResult<std::vector<std::optional<IpAddress>>> assign_requested(const std::vector<RangeSet>& sets,
                                                                   const std::vector<IpAddress>& requested) {
  std::vector<std::optional<IpAddress>> out(sets.size());
  for (const auto& ip : requested) {
    auto it = std::ranges::find_if(sets, [&](const RangeSet& s) { return range_for(s, ip) != nullptr; });
    if (it == sets.end()) {
      std::string all;
      for (const auto& s : sets) all += (all.empty() ? "" : "; ") + to_string(s);
      return ipam_fail(ErrorKind::kRequestedOutOfRange,
                       "requested IP address " + ip.to_string() + " is not in any range set (" + all + ")");
    }
    auto& slot = out[static_cast<size_t>(it - sets.begin())];
    if (slot)
      return ipam_fail(ErrorKind::kRequestedOutOfRange,
                       "requested IP addresses " + slot->to_string() + " and " + ip.to_string() +
                           " are both in range set " + to_string(*it) + ", which gives one address");
    slot = ip;
  }
  return out;
}

IpamResult<Allocation> take_requested(const Store& store, const RangeSet& set, const IpAddress& ip,
                                      const Attachment& who) {
  const Range* r = range_for(set, ip);
  if (const char* what = special_address(*r, ip))
    return ipam_fail(ErrorKind::kRequestedUnavailable,
                     "requested IP address " + ip.to_string() + " is " + what + " of range " + to_string(*r));
  auto ok = store.reserve(ip, who);
  if (!ok) return ipam_fail(ErrorKind::kIo, ok.error());
  if (!*ok)
    return ipam_fail(
        ErrorKind::kRequestedUnavailable,
        "requested IP address " + ip.to_string() + " is not available in range set " + to_string(set));
  return Allocation{{ip, r->subnet.len}, r->gateway};
}

IpamResult<Allocation> take_next(const Store& store, size_t index, const RangeSet& set,
                                 const Attachment& who) {
  Cursor cursor(set, store.last_reserved(index));
  while (auto c = cursor.next()) {
    auto ok = store.reserve(c->addr, who);
    if (!ok) return ipam_fail(ErrorKind::kIo, ok.error());
    if (*ok) return Allocation{{c->addr, c->range->subnet.len}, c->range->gateway};
  }
  return ipam_fail(ErrorKind::kExhausted, "no IP addresses available in range set: " + to_string(set));
}

IpamResult<void> check_not_allocated(const Store& store, const Attachment& who) {
  auto name = Store::index_name(who);
  auto rec = store.read_index(name);
  if (!rec) return ipam_fail(ErrorKind::kIo, rec.error());
  if (!*rec) return {};
  if ((*rec)->who != who)
    return ipam_fail(ErrorKind::kIo, "index " + store.dir() + "/by-id/" + name + " belongs to container " +
                                         (*rec)->who.container_id + " interface " + (*rec)->who.ifname);
  auto held = verified_owned(store, **rec);
  if (!held) return ipam_fail(ErrorKind::kIo, held.error());
  if (!held->empty())
    return ipam_fail(ErrorKind::kAlreadyAllocated, held->front() + " has been allocated to container " +
                                                       who.container_id + " interface " + who.ifname +
                                                       ", duplicate allocation is not allowed");
  // Nothing listed is still ours: a release died between freeing the addresses and the index.
  if (auto s = store.remove_index(name); !s) return ipam_fail(ErrorKind::kIo, s.error());
  return {};
}

}  // namespace

IpamResult<std::vector<Allocation>> allocate(const Config& cfg, const Attachment& who,
                                             const std::vector<IpAddress>& requested) {
  Config c = cfg;
  if (auto s = canonicalize(c); !s) return ipam_fail(ErrorKind::kInvalidConfig, s.error());
  if (auto s = check_attachment(who); !s) return ipam_fail(ErrorKind::kInvalidConfig, s.error());
  auto wanted = assign_requested(c.ranges, requested);
  if (!wanted) return std::unexpected(wanted.error());

  Store store(c);
  auto lock = store.lock(true);
  if (!lock) return ipam_fail(ErrorKind::kIo, lock.error());
  if (auto s = check_not_allocated(store, who); !s) return std::unexpected(s.error());

  Undo undo(store);
  std::vector<Allocation> out;
  IndexRecord rec{who, {}};
  for (size_t i = 0; i < c.ranges.size(); ++i) {
    const auto& want = (*wanted)[i];
    auto got = want ? take_requested(store, c.ranges[i], *want, who) : take_next(store, i, c.ranges[i], who);
    if (!got) return std::unexpected(got.error());
    undo.add(got->address.addr);
    rec.ips.push_back(got->address.addr);
    out.push_back(*got);
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (auto s = store.set_last_reserved(i, out[i].address.addr); !s)
      return ipam_fail(ErrorKind::kIo, s.error());
  // Last, so the index never lists an address that is not reserved yet.
  if (auto s = store.write_index(rec); !s) return ipam_fail(ErrorKind::kIo, s.error());
  undo.commit();
  return out;
}

Status release(const Config& cfg, const Attachment& who) {
  if (auto s = check_network(cfg); !s) return s;
  Store store(cfg);
  auto lock = store.lock(false);
  if (!lock) return std::unexpected(lock.error());
  if (!*lock) return {};

  auto name = Store::index_name(who);
  auto rec = store.read_index(name);
  if (!rec) return std::unexpected(rec.error());
  bool foreign_index = *rec && (*rec)->who != who;
  auto victims = *rec && !foreign_index ? verified_owned(store, **rec) : scan_owned(store, who);
  if (!victims) return std::unexpected(victims.error());

  Status result;
  for (const auto& v : *victims)
    if (auto s = store.remove_reservation(v); !s && result) result = s;
  // The index goes last and only when everything it covers is gone, so a failed or killed release
  // can be repeated from it.
  if (result && !foreign_index) result = store.remove_index(name);
  return result;
}

Result<std::vector<IpAddress>> addresses_of(const Config& cfg, const Attachment& who) {
  if (auto s = check_network(cfg); !s) return std::unexpected(s.error());
  Store store(cfg);
  auto rec = store.read_index(Store::index_name(who));
  if (!rec) return std::unexpected(rec.error());
  auto names = *rec && (*rec)->who == who ? verified_owned(store, **rec) : scan_owned(store, who);
  if (!names) return std::unexpected(names.error());
  std::vector<IpAddress> out;
  for (const auto& n : *names)
    if (auto ip = parse_ip(n)) out.push_back(*ip);
  return out;
}

Result<bool> has_free_addresses(const Config& cfg) {
  Config c = cfg;
  if (auto s = canonicalize(c); !s) return std::unexpected(s.error());
  Store store(c);
  for (size_t i = 0; i < c.ranges.size(); ++i) {
    Cursor cursor(c.ranges[i], store.last_reserved(i));
    bool free = false;
    while (auto cand = cursor.next()) {
      auto taken = store.is_reserved(cand->addr);
      if (!taken) return std::unexpected(taken.error());
      if (!*taken) {
        free = true;
        break;
      }
    }
    if (!free) return false;
  }
  return true;
}

}  // namespace podnet::ipam
