// Test helpers for the eBPF fast path without the agent: a private bpffs mount and the objects the
// agent would pin there (a trivial tc program as pn_from_pod, a pn_pods-shaped hash map), made with
// raw bpf(2) so the tests need neither clang nor libbpf.
//
//   podnet::testing::BpfFs fs;              // bpffs at /var/tmp/pn-bpftest-XXXXXX, unmounted at scope exit
//   auto prog = load_pass_program();        // SCHED_CLS "return TC_ACT_OK"
//   auto map = create_pods_map();           // hash __u32 -> struct pn_pod
//   pin(prog.get(), fs.path() + "/pn_from_pod");
#pragma once

#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/fd.h"
#include "fastpath/fastpath_abi.h"

namespace podnet::testing {

inline int sys_bpf(int cmd, union bpf_attr& attr) {
  return static_cast<int>(::syscall(__NR_bpf, cmd, &attr, sizeof attr));
}

// A bpffs of our own, so pins never meet the agent's or another test's.
class BpfFs {
 public:
  BpfFs() {
    std::string tmpl = "/var/tmp/pn-bpftest-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
      return;
    }
    path_ = tmpl;
    if (::mount("bpf", path_.c_str(), "bpf", 0, "mode=0700") != 0) {
      ADD_FAILURE() << "mount bpffs at " << path_ << ": " << std::strerror(errno);
      ::rmdir(path_.c_str());
      path_.clear();
      return;
    }
  }
  ~BpfFs() {
    if (path_.empty()) return;
    if (::umount2(path_.c_str(), MNT_DETACH) != 0)
      ADD_FAILURE() << "umount " << path_ << ": " << std::strerror(errno);
    if (::rmdir(path_.c_str()) != 0) ADD_FAILURE() << "rmdir " << path_ << ": " << std::strerror(errno);
  }
  BpfFs(const BpfFs&) = delete;
  BpfFs& operator=(const BpfFs&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// r0 = TC_ACT_OK (0); exit. A tc (SCHED_CLS) program, like the agent's pn_from_pod.
inline UniqueFd load_pass_program() {
  struct bpf_insn insns[2];
  std::memset(insns, 0, sizeof insns);
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  static const char license[] = "GPL";
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
  attr.insns = reinterpret_cast<uintptr_t>(insns);
  attr.insn_cnt = 2;
  attr.license = reinterpret_cast<uintptr_t>(license);
  std::strncpy(attr.prog_name, "pn_test_pass", sizeof attr.prog_name - 1);
  int fd = sys_bpf(BPF_PROG_LOAD, attr);
  EXPECT_GE(fd, 0) << "BPF_PROG_LOAD: " << std::strerror(errno);
  return UniqueFd(fd);
}

// A map shaped like pn_pods: hash, IPv4 key -> struct pn_pod.
inline UniqueFd create_pods_map() {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_HASH;
  attr.key_size = sizeof(__u32);
  attr.value_size = sizeof(struct pn_pod);
  attr.max_entries = 64;
  std::strncpy(attr.map_name, "pn_test_pods", sizeof attr.map_name - 1);
  int fd = sys_bpf(BPF_MAP_CREATE, attr);
  EXPECT_GE(fd, 0) << "BPF_MAP_CREATE: " << std::strerror(errno);
  return UniqueFd(fd);
}

inline bool pin(int fd, const std::string& path) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.pathname = reinterpret_cast<uintptr_t>(path.c_str());
  attr.bpf_fd = static_cast<uint32_t>(fd);
  int rc = sys_bpf(BPF_OBJ_PIN, attr);
  EXPECT_EQ(rc, 0) << "BPF_OBJ_PIN " << path << ": " << std::strerror(errno);
  return rc == 0;
}

// A bpffs with pn_from_pod and pn_pods pinned, as the agent leaves it.
struct PinnedFastPath {
  BpfFs fs;
  UniqueFd prog = load_pass_program();
  UniqueFd pods = create_pods_map();
  bool pinned = fs.ok() && prog.valid() && pods.valid() && pin(prog.get(), fs.path() + "/pn_from_pod") &&
                pin(pods.get(), fs.path() + "/pn_pods");
};

}  // namespace podnet::testing
