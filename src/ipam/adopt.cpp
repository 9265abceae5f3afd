#include "ipam/adopt.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <system_error>

#include "common/fd.h"
#include "common/files.h"
#include "common/ip.h"

namespace podnet::ipam {
namespace {

namespace fs = std::filesystem;

std::unexpected<Error> fail_ec(const std::string& what, const std::error_code& ec) {
  return fail(what, ec.value());
}

// Creates `to` with `content` unless it exists (O_EXCL, as a reservation is made). false: it existed.
Result<bool> create_excl(const std::string& to, const std::string& content, fs::perms mode) {
  UniqueFd fd(
      ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<unsigned>(mode) & 07777));
  if (!fd.valid()) {
    if (errno == EEXIST) return false;
    return fail("create " + to);
  }
  for (size_t done = 0; done < content.size();) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write " + to);
    done += static_cast<size_t>(n);
  }
  return true;
}

// Moves the tree `from` into `to`, file by file; what `to` already has stays.
Status merge_tree(const fs::path& from, const fs::path& to, AdoptStats& stats, bool leases) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return fail_ec("create " + to.string(), ec);
  // An IPAM network directory: hold its lock in both places while its leases move.
  std::optional<FileLock> old_lock, new_lock;
  if (leases && fs::exists(from / "lock", ec)) {
    auto a = FileLock::acquire((from / "lock").string());
    if (!a) return std::unexpected(a.error());
    old_lock.emplace(std::move(*a));
    auto b = FileLock::acquire((to / "lock").string());
    if (!b) return std::unexpected(b.error());
    new_lock.emplace(std::move(*b));
  }
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& src = it->path();
    auto dst = to / src.filename();
    auto st = it->symlink_status(ec);
    if (ec) return fail_ec("stat " + src.string(), ec);
    if (fs::is_directory(st)) {
      if (auto s = merge_tree(src, dst, stats, leases); !s) return s;
      continue;
    }
    if (src.filename() == "lock") continue;
    auto content = read_file(src.string());
    if (!content) return std::unexpected(content.error());
    auto made = create_excl(dst.string(), *content, st.permissions());
    if (!made) return std::unexpected(made.error());
    bool lease = leases && parse_ip(src.filename().string()).has_value();
    if (lease && *made) ++stats.reservations;
    if (lease && !*made) {
      auto there = read_file(dst.string());
      if (!there || *there != *content) ++stats.conflicts;
    }
  }
  if (ec) return fail_ec("list " + from.string(), ec);
  return {};
}

}  // namespace

Result<AdoptStats> adopt_dir(const std::string& old_dir, const std::string& new_dir) {
  AdoptStats stats;
  std::error_code ec;
  const std::string aside = old_dir + ".adopting";
  auto st = fs::symlink_status(old_dir, ec);
  if (fs::is_directory(st)) {
    if (fs::exists(fs::symlink_status(aside, ec))) {
      // A crash between the two renames' worth of work: merge this one too, below.
      if (auto s = merge_tree(old_dir, new_dir, stats, true); !s) return std::unexpected(s.error());
      fs::remove_all(old_dir, ec);
      if (ec) return fail_ec("remove " + old_dir, ec);
    } else {
      fs::rename(old_dir, aside, ec);
      if (ec) return fail_ec("rename " + old_dir, ec);
    }
  } else if (fs::is_symlink(st)) {
    if (fs::read_symlink(old_dir, ec) != fs::path(new_dir)) {
      fs::remove(old_dir, ec);  // pointing elsewhere (another run dir): repointed below
      if (ec) return fail_ec("remove " + old_dir, ec);
    }
  } else if (!fs::exists(fs::symlink_status(aside, ec))) {
    return stats;  // nothing here: a fresh node (no link made: nothing uses the old path)
  }
  fs::create_directories(new_dir, ec);
  if (ec) return fail_ec("create " + new_dir, ec);
  if (!fs::is_symlink(fs::symlink_status(old_dir, ec))) {
    fs::create_directory_symlink(new_dir, old_dir, ec);
    if (ec) return fail_ec("symlink " + old_dir, ec);
  }
  if (fs::is_directory(fs::symlink_status(aside, ec))) {
    if (auto s = merge_tree(aside, new_dir, stats, true); !s) return std::unexpected(s.error());
    fs::remove_all(aside, ec);
    if (ec) return fail_ec("remove " + aside, ec);
  }
  return stats;
}

}  // namespace podnet::ipam
