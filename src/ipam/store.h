// Internal to podnet_ipam: the on-disk state of one network, data_dir/NETWORK/:
//   lock                  flock'ed for every mutation, so plugin processes serialize
//   <ip>                  one file per reserved address (host-local's format): "containerID\r\nifname".
//                         Created O_CREAT|O_EXCL: the creation *is* the reservation.
//   last_reserved_ip.<N>  where range set N's round-robin walk resumes (host-local's format)
//   by-id/<id>:<ifname>   index, "containerID\r\nifname\r\n" then one "<ip>\r\n" per address; written
//                         (atomically) after the reservations it lists, so it may be stale or missing
//                         but never claims an address: readers check the <ip> file's owner.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/files.h"
#include "ipam/ipam.h"

namespace podnet::ipam {

// The network name becomes a directory below data_dir: no '/', "." or "..".
Status check_network(const Config& cfg);

// The reservation file content for an attachment.
std::string owner_record(const Attachment& who);
// Parses reservation content; host-local's legacy form (container ID only) yields an empty ifname.
// nullopt for an empty (half-written) file.
std::optional<Attachment> parse_owner(std::string_view content);

struct IndexRecord {
  Attachment who;
  std::vector<IpAddress> ips;
};

class Store {
 public:
  explicit Store(const Config& cfg);

  const std::string& dir() const { return dir_; }
  // Takes the network lock. With !create, a missing network directory yields nullopt (nothing to do).
  Result<std::optional<FileLock>> lock(bool create) const;

  // false when the address is already taken.
  Result<bool> reserve(const IpAddress& ip, const Attachment& who) const;
  Result<bool> is_reserved(const IpAddress& ip) const;
  // Content of the reservation file `name` (an IP), nullopt if there is none.
  Result<std::optional<std::string>> read_reservation(const std::string& name) const;
  Status remove_reservation(const std::string& name) const;
  // Reservation file names (IP addresses) in the network directory: the slow path.
  Result<std::vector<std::string>> reservations() const;

  std::optional<IpAddress> last_reserved(size_t range_set) const;
  Status set_last_reserved(size_t range_set, const IpAddress& ip) const;

  // Index file name for an attachment: both parts %-escaped and joined by ':', hashed when too long.
  static std::string index_name(const Attachment& who);
  // nullopt when there is no index file or it does not parse.
  Result<std::optional<IndexRecord>> read_index(const std::string& name) const;
  Status write_index(const IndexRecord& rec) const;
  Status remove_index(const std::string& name) const;
  Result<std::vector<std::string>> index_files() const;

 private:
  std::string path(std::string_view name) const { return dir_ + "/" + std::string(name); }
  std::string index_path(std::string_view name) const { return index_dir_ + "/" + std::string(name); }

  std::string dir_;
  std::string index_dir_;
};

}  // namespace podnet::ipam
