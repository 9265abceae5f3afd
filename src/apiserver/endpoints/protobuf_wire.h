// The Protocol Buffers wire format without a schema: a reader of tagged fields (request bodies)
// and a writer of them (the OpenAPI v2 document). Callers know their messages' field numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace podnet::apiserver::protobuf {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

struct WireField {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;     // kVarint (fixed-width values are skipped, unused by the callers)
  std::string_view bytes;  // kLengthDelimited: strings, bytes and embedded messages
};

// Fields of one message in order. Bounds-checked: malformed input ends the walk with failed().
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }
  bool failed() const { return failed_; }
  std::optional<WireField> next();

 private:
  std::optional<uint64_t> varint();
  bool skip(size_t n);

  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Calls on(field) for each field of `data`; false on malformed input.
template <class F>
bool each_field(std::string_view data, F on) {
  WireReader r(data);
  while (!r.done()) {
    auto f = r.next();
    if (!f) return false;
    on(*f);
  }
  return !r.failed();
}

// Appends fields to one message. Like proto3 serializers, the scalar helpers leave out default
// values (empty strings, zero, false); message() and present_bool() always write, as a set
// submessage or oneof member must be written even when empty or false.
class WireWriter {
 public:
  void string(uint32_t number, std::string_view value);
  void uint64(uint32_t number, uint64_t value);
  void int64(uint32_t number, int64_t value);
  void boolean(uint32_t number, bool value);
  void present_bool(uint32_t number, bool value);
  void float64(uint32_t number, double value);
  void message(uint32_t number, std::string_view encoded);

  const std::string& bytes() const& { return out_; }
  std::string bytes() && { return std::move(out_); }

 private:
  void tag(uint32_t number, WireType type);
  void raw_varint(uint64_t value);

  std::string out_;
};

}  // namespace podnet::apiserver::protobuf
