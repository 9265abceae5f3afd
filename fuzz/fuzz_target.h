// The one entry point every harness in fuzz/ defines: libFuzzer's signature, so the same file
// builds as a corpus replayer (replay_main.cpp, plain g++, a ctest) and as an AFL++ target (AFL's
// libAFLDriver calls it in persistent mode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace podnet::fuzz {

// Inputs past this are ignored: the targets bound their own sizes elsewhere (the HTTP body limit,
// stdin), and big inputs only slow the search down.
inline constexpr size_t kMaxInput = 64 * 1024;

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace podnet::fuzz
