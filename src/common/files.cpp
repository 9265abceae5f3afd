#include "common/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace podnet {

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return fail("open " + path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {
// All of content, retrying short writes and EINTR; false with errno set on failure.
bool write_whole(int fd, std::string_view content) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}
}  // namespace

Status write_file_atomic(const std::string& path, std::string_view content, unsigned mode, bool sync) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return fail("create " + tmp);
  if (!write_whole(fd.get(), content)) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail("write " + tmp, e);
  }
  if (sync && ::fsync(fd.get()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail("sync " + tmp, e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail("rename " + tmp + " to " + path, e);
  }
  return {};
}

Status write_file_exchange(const std::string& path, std::string_view content, unsigned mode) {
  std::string prev = path + ".prev";
  UniqueFd fd(::open(prev.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return fail("open " + prev);
  if (!write_whole(fd.get(), content)) return fail("write " + prev);
  fd.reset();
  if (::renameat2(AT_FDCWD, prev.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) == 0) return {};
  // ENOENT: the first write (no path yet); EINVAL: no RENAME_EXCHANGE on this file system.
  if (errno != ENOENT && errno != EINVAL) return fail("exchange " + prev + " and " + path);
  if (::rename(prev.c_str(), path.c_str()) != 0) return fail("rename " + prev + " to " + path);
  return {};
}

Status make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return {};
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty() || cur == "/") continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return fail("mkdir " + cur);
  }
  return {};
}

Result<FileLock> FileLock::acquire(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return fail("open lock " + path);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return fail("lock " + path);
  }
  return FileLock(std::move(fd));
}

}  // namespace podnet
