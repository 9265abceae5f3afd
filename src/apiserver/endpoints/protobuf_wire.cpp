// Varints are little-endian base-128; a tag is (field number << 3 | wire type); length-delimited
// values carry their size as a varint. Doubles are fixed64 in the host's IEEE 754 little-endian form.
#include "apiserver/endpoints/protobuf_wire.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace podnet::apiserver::protobuf {

static_assert(std::endian::native == std::endian::little, "fixed64 is written in host byte order");

std::optional<WireField> WireReader::next() {
  auto key = varint();
  if (!key) return std::nullopt;
  WireField f;
  f.number = static_cast<uint32_t>(*key >> 3);
  f.wire_type = static_cast<uint32_t>(*key & 7);
  switch (f.wire_type) {
    case kVarint: {
      auto v = varint();
      if (!v) return std::nullopt;
      f.varint = *v;
      return f;
    }
    case kFixed64:
      return skip(8) ? std::optional<WireField>(f) : std::nullopt;
    case kFixed32:
      return skip(4) ? std::optional<WireField>(f) : std::nullopt;
    case kLengthDelimited: {
      auto len = varint();
      if (!len || *len > data_.size() - pos_) {
        failed_ = true;
        return std::nullopt;
      }
      f.bytes = data_.substr(pos_, *len);
      pos_ += *len;
      return f;
    }
    default:  // groups (3, 4) are not used by Kubernetes
      failed_ = true;
      return std::nullopt;
  }
}

bool WireReader::skip(size_t n) {
  if (n > data_.size() - pos_) {
    failed_ = true;
    return false;
  }
  pos_ += n;
  return true;
}

std::optional<uint64_t> WireReader::varint() {
  uint64_t out = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) break;
    auto byte = static_cast<uint8_t>(data_[pos_++]);
    out |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return out;
  }
  failed_ = true;
  return std::nullopt;
}

void WireWriter::raw_varint(uint64_t value) {
  while (value >= 0x80) {
    out_ += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out_ += static_cast<char>(value);
}

void WireWriter::tag(uint32_t number, WireType type) {
  raw_varint(static_cast<uint64_t>(number) << 3 | type);
}

void WireWriter::string(uint32_t number, std::string_view value) {
  if (!value.empty()) message(number, value);
}

void WireWriter::uint64(uint32_t number, uint64_t value) {
  if (value == 0) return;
  tag(number, kVarint);
  raw_varint(value);
}

// int64 is the two's complement as a varint (negative values take ten bytes), not zigzag.
void WireWriter::int64(uint32_t number, int64_t value) {
  uint64(number, static_cast<uint64_t>(value));
}

void WireWriter::boolean(uint32_t number, bool value) {
  if (value) present_bool(number, true);
}

void WireWriter::present_bool(uint32_t number, bool value) {
  tag(number, kVarint);
  raw_varint(value ? 1 : 0);
}

void WireWriter::float64(uint32_t number, double value) {
  if (value == 0.0 && !std::signbit(value)) return;
  tag(number, kFixed64);
  char buf[8];
  std::memcpy(buf, &value, sizeof buf);
  out_.append(buf, sizeof buf);
}

void WireWriter::message(uint32_t number, std::string_view encoded) {
  tag(number, kLengthDelimited);
  raw_varint(encoded.size());
  out_.append(encoded);
}

}  // namespace podnet::apiserver::protobuf
