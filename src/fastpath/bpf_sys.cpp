#include "fastpath/bpf_sys.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace podnet::fastpath {
namespace {

// tcx (kernel 6.6) is newer than the 6.1 uapi headers we build against. The values are ABI:
// enum bpf_attach_type in include/uapi/linux/bpf.h of 6.6+. For tcx, the PROG_ATTACH/DETACH/QUERY
// member target_fd holds an ifindex (newer headers name it target_ifindex).
constexpr uint32_t kTcxIngress = 46;  // BPF_TCX_INGRESS

uint64_t ptr(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// Returns the syscall's result, or -errno.
int sys_bpf(int cmd, union bpf_attr& attr) {
  int rc = static_cast<int>(::syscall(__NR_bpf, cmd, &attr, sizeof attr));
  return rc < 0 ? -errno : rc;
}

std::string at(int ifindex) {
  return "tcx ingress of ifindex " + std::to_string(ifindex);
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

Status tcx_attach(int ifindex, int prog_fd) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(ifindex);
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = kTcxIngress;
  int rc = sys_bpf(BPF_PROG_ATTACH, attr);
  if (rc == 0 || rc == -EEXIST) return {};
  return fail("attach bpf program to " + at(ifindex), -rc);
}

Status tcx_detach(int ifindex, int prog_fd) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(ifindex);
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = kTcxIngress;
  int rc = sys_bpf(BPF_PROG_DETACH, attr);
  if (rc == 0 || rc == -ENOENT) return {};
  return fail("detach bpf program from " + at(ifindex), -rc);
}

Result<std::vector<uint32_t>> tcx_query(int ifindex) {
  std::vector<uint32_t> ids(8);
  for (;;) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.query.target_fd = static_cast<uint32_t>(ifindex);
    attr.query.attach_type = kTcxIngress;
    attr.query.prog_ids = ptr(ids.data());
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    int rc = sys_bpf(BPF_PROG_QUERY, attr);
    if (rc == 0) {
      ids.resize(attr.query.prog_cnt);
      return ids;
    }
    // ENOSPC: more programs than room; prog_cnt now says how many.
    if (rc == -ENOSPC && attr.query.prog_cnt > ids.size()) {
      ids.resize(attr.query.prog_cnt);
      continue;
    }
    return fail("query programs at " + at(ifindex), -rc);
  }
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
