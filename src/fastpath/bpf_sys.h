// Thin wrappers over the bpf(2) system call for the few commands podnet-cni needs: open pinned
// objects, read program ids, and read/write map elements. No libbpf: podnet-cni is
// linked statically and exec'd for every pod, so it speaks the syscall directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"

namespace podnet::fastpath {

// Opens a pinned map or program (BPF_OBJ_GET). ENOENT when nothing is pinned at `path`.
Result<UniqueFd> bpf_obj_get(const std::string& path);

// The kernel's id of a loaded program.
Result<uint32_t> prog_id(int prog_fd);

// Map elements; key and value sizes must be the map's. `flags`: BPF_ANY, BPF_NOEXIST, BPF_EXIST.
Status map_update(int map_fd, const void* key, const void* value, uint64_t flags = 0);
// An absent key counts as success.
Status map_delete(int map_fd, const void* key);
// false when the key is absent; `value` is written only when found.
Result<bool> map_lookup(int map_fd, const void* key, void* value);

}  // namespace podnet::fastpath
