// Coverage for AFL++ from GCC's own -fsanitize-coverage=trace-pc, for when AFL++'s GCC plugin
// cannot load: Debian 12's afl++ 4.04c plugin was built against gcc 12.2.0-14 and refuses the
// 12.2.0-14+deb12u1 compiler ("GCC and plugin have incompatible versions"). GCC calls this hook
// at the start of every basic block; it records the edge (previous block, this block) in AFL's
// shared map exactly as AFL's classic instrumentation does. afl-compiler-rt.o supplies the map,
// the fork server and persistent mode. This file itself is built without instrumentation.
#include <cstdint>

extern "C" {
extern uint8_t* __afl_area_ptr;

__attribute__((no_sanitize("address", "undefined"))) void __sanitizer_cov_trace_pc() {
  static thread_local uintptr_t previous;
  auto pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  // 16 bits of a multiplicative hash: AFL's default map is 64 KiB.
  uintptr_t current = (pc * 0x9E3779B97F4A7C15ull) >> 48;
  __afl_area_ptr[(current ^ previous) & 0xFFFF]++;
  previous = current >> 1;
}
}
