// Protocol Buffers encodings written out by hand for the tests' expected values, independent of
// the server's WireWriter: a varint, a length-delimited field, a varint field.
#pragma once

#include <cstdint>
#include <string>

namespace podnet::apiserver::hand_encoded {

inline std::string varint(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out += static_cast<char>(v ? b | 0x80 : b);
  } while (v);
  return out;
}
inline std::string bytes(int field, const std::string& data) {
  return varint(field << 3 | 2) + varint(data.size()) + data;
}
inline std::string number(int field, uint64_t v) {
  return varint(field << 3) + varint(v);
}

}  // namespace podnet::apiserver::hand_encoded
