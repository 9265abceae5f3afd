#include "ipam/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>

namespace podnet::ipam {
namespace {

constexpr std::string_view kLineBreak = "\r\n";  // host-local's separator
constexpr std::string_view kLastReservedPrefix = "last_reserved_ip.";
// Leaves room under NAME_MAX (255) for write_file_atomic's ".tmp-<pid>" suffix.
constexpr size_t kMaxIndexName = 200;

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n\v\f";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void escape_into(std::string_view s, std::string& out) {
  constexpr char hex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '_' || c == '.';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
}

// FNV-1a: stable across builds, unlike std::hash, because the name is persisted.
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

std::optional<IndexRecord> parse_index(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  if (lines.size() < 2 || lines[0].empty()) return std::nullopt;
  IndexRecord rec{{std::string(lines[0]), std::string(lines[1])}, {}};
  for (size_t i = 2; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    auto ip = parse_ip(lines[i]);
    if (!ip) return std::nullopt;
    rec.ips.push_back(*ip);
  }
  return rec;
}

// Regular-file names in a directory; a missing directory has none.
Result<std::vector<std::string>> list_files(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  std::vector<std::string> out;
  if (!d) {
    if (errno == ENOENT) return out;
    return fail("open directory " + dir);
  }
  errno = 0;
  while (auto* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    if (e->d_type == DT_DIR || name == "." || name == "..") continue;
    out.emplace_back(e->d_name);
  }
  if (errno != 0) return fail("read directory " + dir);
  return out;
}

Status unlink_if_present(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail("remove " + path);
  return {};
}

}  // namespace

Status check_network(const Config& cfg) {
  const auto& name = cfg.network;
  if (name.empty()) return fail_msg("name: network name is empty");
  if (name == "." || name == ".." || name.find_first_of(std::string_view("/\0", 2)) != std::string::npos)
    return fail_msg("name: network name \"" + name + "\" cannot be used as a directory name");
  return {};
}

std::string owner_record(const Attachment& who) {
  return std::string(trim(who.container_id)) + std::string(kLineBreak) + who.ifname;
}

std::optional<Attachment> parse_owner(std::string_view content) {
  content = trim(content);
  if (content.empty()) return std::nullopt;
  auto br = content.find(kLineBreak);
  if (br == std::string_view::npos) return Attachment{std::string(content), ""};
  return Attachment{std::string(content.substr(0, br)), std::string(content.substr(br + kLineBreak.size()))};
}

Store::Store(const Config& cfg)
    : dir_((cfg.data_dir.empty() ? std::string("/var/lib/cni/networks") : cfg.data_dir) + "/" + cfg.network),
      index_dir_(dir_ + "/by-id") {}

Result<std::optional<FileLock>> Store::lock(bool create) const {
  auto lock_path = path("lock");
  auto lock = FileLock::acquire(lock_path);
  if (!lock && lock.error().code == ENOENT) {
    if (!create) return std::nullopt;
    // Only the first allocation in a network pays for mkdir -p.
    if (auto s = make_dirs(index_dir_); !s) return std::unexpected(s.error());
    lock = FileLock::acquire(lock_path);
  }
  if (!lock) return std::unexpected(lock.error());
  return std::optional<FileLock>(std::move(*lock));
}

Result<bool> Store::reserve(const IpAddress& ip, const Attachment& who) const {
  auto p = path(ip.to_string());
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    if (errno == EEXIST) return false;
    return fail("reserve " + p);
  }
  if (!write_all(fd.get(), owner_record(who))) {
    int e = errno;
    ::unlink(p.c_str());
    return fail("write " + p, e);
  }
  return true;
}

Result<bool> Store::is_reserved(const IpAddress& ip) const {
  auto p = path(ip.to_string());
  if (::access(p.c_str(), F_OK) == 0) return true;
  if (errno == ENOENT) return false;
  return fail("check " + p);
}

Result<std::optional<std::string>> Store::read_reservation(const std::string& name) const {
  auto content = read_file(path(name));
  if (content) return std::optional<std::string>(std::move(*content));
  if (content.error().code == ENOENT) return std::nullopt;
  return std::unexpected(content.error());
}

Status Store::remove_reservation(const std::string& name) const {
  return unlink_if_present(path(name));
}

Result<std::vector<std::string>> Store::reservations() const {
  auto names = list_files(dir_);
  if (!names) return names;
  std::erase_if(*names, [](const std::string& n) { return !parse_ip(n); });
  return names;
}

std::optional<IpAddress> Store::last_reserved(size_t range_set) const {
  // Unreadable or torn (kill -9 mid-write) only costs round-robin order once, as in host-local.
  auto content = read_file(path(std::string(kLastReservedPrefix) + std::to_string(range_set)));
  if (!content) return std::nullopt;
  auto ip = parse_ip(trim(*content));
  if (!ip) return std::nullopt;
  return *ip;
}

Status Store::set_last_reserved(size_t range_set, const IpAddress& ip) const {
  // Overwritten in place: O_TRUNC would free and reallocate the data block on every allocation,
  // and a torn file is harmless (see last_reserved).
  auto p = path(std::string(kLastReservedPrefix) + std::to_string(range_set));
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return fail("open " + p);
  auto text = ip.to_string();
  if (::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    return fail("write " + p);
  if (::ftruncate(fd.get(), static_cast<off_t>(text.size())) != 0) return fail("truncate " + p);
  return {};
}

std::string Store::index_name(const Attachment& who) {
  std::string name;
  escape_into(who.container_id, name);
  name += ':';
  escape_into(who.ifname, name);
  if (name.size() <= kMaxIndexName) return name;
  // A collision is detected by read_index's caller: the record names its attachment.
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(name)));
  return name.substr(0, kMaxIndexName - 17) + "~" + hash;
}

Result<std::optional<IndexRecord>> Store::read_index(const std::string& name) const {
  auto content = read_file(index_path(name));
  if (!content) {
    if (content.error().code == ENOENT) return std::nullopt;
    return std::unexpected(content.error());
  }
  return parse_index(*content);
}

Status Store::write_index(const IndexRecord& rec) const {
  std::string text = owner_record(rec.who) + std::string(kLineBreak);
  for (const auto& ip : rec.ips) text += ip.to_string() + std::string(kLineBreak);
  auto p = index_path(index_name(rec.who));
  // Written in place, in one write() under the network's lock: a kill -9 leaves the file either
  // whole or empty (a write of less than a page stops, if at all, before its first byte), and an
  // empty or torn index reads as none, which makes release() scan the reservations instead. A
  // temporary file and a rename would cost an inode allocation and a rename on every ADD.
  auto open_index = [&] {
    return UniqueFd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  };
  UniqueFd fd = open_index();
  // A network directory made by host-local (or an older podnet) has no by-id yet.
  if (!fd.valid() && errno == ENOENT) {
    if (auto m = make_dirs(index_dir_); !m) return m;
    fd = open_index();
  }
  if (!fd.valid()) return fail("open " + p);
  if (!write_all(fd.get(), text)) {
    int e = errno;
    ::unlink(p.c_str());
    return fail("write " + p, e);
  }
  return {};
}

Status Store::remove_index(const std::string& name) const {
  return unlink_if_present(index_path(name));
}

Result<std::vector<std::string>> Store::index_files() const {
  return list_files(index_dir_);
}

}  // namespace podnet::ipam
