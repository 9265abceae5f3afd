#include "fastpath/bpf_sys.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace podnet::fastpath {
namespace {

uint64_t ptr(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// Returns the syscall's result, or -errno.
int sys_bpf(int cmd, union bpf_attr& attr) {
  int rc = static_cast<int>(::syscall(__NR_bpf, cmd, &attr, sizeof attr));
  return rc < 0 ? -errno : rc;
}

}  // namespace

Result<UniqueFd> bpf_obj_get(const std::string& path) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.pathname = ptr(path.c_str());
  int fd = sys_bpf(BPF_OBJ_GET, attr);
  if (fd < 0) return fail("open pinned bpf object " + path, -fd);
  return UniqueFd(fd);
}

Result<uint32_t> prog_id(int prog_fd) {
  struct bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.info.info_len = sizeof info;
  attr.info.info = ptr(&info);
  if (int rc = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, attr); rc != 0)
    return fail("get info of bpf program fd " + std::to_string(prog_fd), -rc);
  return info.id;
}

Status map_update(int map_fd, const void* key, const void* value, uint64_t flags) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.map_fd = static_cast<uint32_t>(map_fd);
  attr.key = ptr(key);
  attr.value = ptr(value);
  attr.flags = flags;
  if (int rc = sys_bpf(BPF_MAP_UPDATE_ELEM, attr); rc != 0)
    return fail("update element of bpf map fd " + std::to_string(map_fd), -rc);
  return {};
}

Status map_delete(int map_fd, const void* key) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.map_fd = static_cast<uint32_t>(map_fd);
  attr.key = ptr(key);
  int rc = sys_bpf(BPF_MAP_DELETE_ELEM, attr);
  if (rc == 0 || rc == -ENOENT) return {};
  return fail("delete element of bpf map fd " + std::to_string(map_fd), -rc);
}

Result<bool> map_lookup(int map_fd, const void* key, void* value) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.map_fd = static_cast<uint32_t>(map_fd);
  attr.key = ptr(key);
  attr.value = ptr(value);
  int rc = sys_bpf(BPF_MAP_LOOKUP_ELEM, attr);
  if (rc == 0) return true;
  if (rc == -ENOENT) return false;
  return fail("look up element of bpf map fd " + std::to_string(map_fd), -rc);
}

}  // namespace podnet::fastpath
