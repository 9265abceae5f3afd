// Built-in IP address management with host-local's configuration and semantics: range sets of
// subnets with optional start/end/gateway, one address per range set (dual-stack), requested IPs,
// routes. State lives in files under dataDir/NETWORK and is safe against concurrent plugin runs
// (an exclusive file lock) and against kill -9 at any point (a reservation is an O_EXCL file created
// before anything refers to it, so an address is never handed out twice; GC reclaims orphans).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/ip.h"

namespace podnet::ipam {

struct Range {
  IpPrefix subnet;                       // network form, e.g. 10.22.0.0/16
  std::optional<IpAddress> range_start;  // default: subnet's network + 1
  std::optional<IpAddress> range_end;    // default: last usable (broadcast - 1 for IPv4)
  std::optional<IpAddress> gateway;      // default: network + 1

  // Fills defaults and checks that start/end/gateway lie in the subnet. Errors name the field.
  Status canonicalize();
  IpAddress first() const;  // range_start or default
  IpAddress last() const;   // range_end or default
  bool contains(const IpAddress& a) const;
};

// Alternative ranges of one family; one address is allocated per RangeSet.
using RangeSet = std::vector<Range>;

struct RouteEntry {
  IpPrefix dst;
  std::optional<IpAddress> gw;
};

struct Config {
  std::string network;  // CNI network name: the state directory below data_dir
  std::vector<RangeSet> ranges;
  std::vector<RouteEntry> routes;
  std::string data_dir = "/var/lib/cni/networks";
};

// Canonicalizes every range and checks the whole configuration like host-local: each range set is
// non-empty and of one family, no two ranges overlap (within or across sets), and the network name
// is usable as a directory name. allocate() and has_free_addresses() run it on a copy themselves;
// the CNI layer may call it early to report config errors.
Status canonicalize(Config& cfg);

// One allocated address: `address` carries the subnet's prefix length (10.22.0.5/16).
struct Allocation {
  IpPrefix address;
  std::optional<IpAddress> gateway;
};

struct Attachment {
  std::string container_id;
  std::string ifname;
  auto operator<=>(const Attachment&) const = default;
};

// kInvalidConfig: the Config (or attachment) is unusable, see canonicalize().
enum class ErrorKind {
  kNone,
  kExhausted,
  kRequestedUnavailable,
  kRequestedOutOfRange,
  kAlreadyAllocated,
  kIo,
  kInvalidConfig
};

// Error with a kind, so the CNI layer can map it to a spec code.
struct IpamError {
  ErrorKind kind = ErrorKind::kIo;
  Error error;
};
template <class T>
using IpamResult = std::expected<T, IpamError>;

// Allocates one address per range set for (container, ifname). `requested` lists specific IPs
// (each must fall into one range set; the rest get the next free address, scanning round-robin
// from the last reservation like host-local). A second allocation for the same attachment is
// kAlreadyAllocated. On any failure, nothing stays reserved.
IpamResult<std::vector<Allocation>> allocate(const Config& cfg, const Attachment& who,
                                             const std::vector<IpAddress>& requested);
// Releases every address held by the attachment. Idempotent; cost independent of the number of
// reservations, except for an attachment without an index file (never allocated, allocated by
// host-local, or killed mid-ADD), which is looked up by a directory scan.
Status release(const Config& cfg, const Attachment& who);
// Addresses currently held by the attachment (for CHECK).
Result<std::vector<IpAddress>> addresses_of(const Config& cfg, const Attachment& who);
// Releases every reservation whose attachment is not in `valid` (including half-written ones left
// by a crash) and repairs the index. Returns the attachments released; host-local's legacy
// reservations (container ID only) appear with an empty ifname and are kept while any interface of
// their container is valid.
Result<std::vector<Attachment>> garbage_collect(const Config& cfg, const std::set<Attachment>& valid);
// True when every range set still has a free address (STATUS).
Result<bool> has_free_addresses(const Config& cfg);

}  // namespace podnet::ipam
