// SPDY/3.1 framing (the protocol kubectl's port-forward speaks, tunnelled in a WebSocket or over a
// plain HTTP upgrade): a decoder for untrusted bytes, encoders for the frames a server sends, and
// the header blocks, zlib-compressed with SPDY/3's dictionary, one compression context per
// direction for the whole session. Transport-agnostic: bytes in, frames out. Every size is
// bounded: a frame's payload, a header block after inflation, the pairs in it. Never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace podnet::spdy {

inline constexpr uint16_t kVersion = 3;
enum class ControlType : uint16_t {
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};
inline constexpr uint8_t kFlagFin = 0x01;
// RST_STREAM status codes used here.
inline constexpr uint32_t kProtocolError = 1, kInvalidStream = 2, kRefusedStream = 3, kCancel = 5;

inline constexpr size_t kFrameHeader = 8;
// Larger frames end the session: clients send reads of 32 KiB; a control frame is a few hundred
// bytes; a header block inflates to at most kMaxHeaderBlock with at most kMaxHeaderPairs pairs.
inline constexpr size_t kMaxDataPayload = 1 << 20;
inline constexpr size_t kMaxControlPayload = 64 * 1024;
inline constexpr size_t kMaxHeaderBlock = 64 * 1024;
inline constexpr size_t kMaxHeaderPairs = 64;

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Frame {
  bool control = false;
  uint16_t type = 0;  // control frames
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // data frames; SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE
  std::string payload;     // data: the data; control: the frame's payload after the header
};

// Splits a byte stream into frames. feed() is false once the stream is malformed (a length over
// the bounds, a control frame of another version); then every later call fails too.
class FrameDecoder {
 public:
  bool feed(std::string_view bytes);
  std::optional<Frame> next();
  bool bad() const { return bad_; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  bool check_header();
  std::string buf_;
  size_t pos_ = 0;
  bool bad_ = false;
};

// The session's header compression contexts (zlib with SPDY/3's dictionary).
class HeaderCodec {
 public:
  HeaderCodec();
  ~HeaderCodec();
  HeaderCodec(const HeaderCodec&) = delete;
  HeaderCodec& operator=(const HeaderCodec&) = delete;
  bool ok() const { return ok_; }
  // The header block of a received frame: nullopt if it does not inflate, inflates past
  // kMaxHeaderBlock, or is not a well-formed pair list. Names come back lower-cased. After a
  // failure the inflate context is unusable (SPDY: a session error).
  std::optional<Headers> decode(std::string_view compressed);
  std::string encode(const Headers& headers);

 private:
  struct Zlib;
  std::unique_ptr<Zlib> z_;
  bool ok_ = false;
};

// A received SYN_STREAM's fields; nullopt if it is too short or its stream id is 0.
struct SynStream {
  uint32_t stream_id = 0, associated = 0;
  std::string_view header_block;
};
std::optional<SynStream> parse_syn_stream(const Frame& f);
// RST_STREAM, PING, GOAWAY, WINDOW_UPDATE: their first and (where present) second 32-bit word.
std::optional<std::pair<uint32_t, uint32_t>> parse_words(const Frame& f);

std::string encode_data(uint32_t stream_id, uint8_t flags, std::string_view data);
std::string encode_control(ControlType type, uint8_t flags, std::string_view payload);
std::string encode_syn_reply(HeaderCodec& codec, uint32_t stream_id, uint8_t flags, const Headers& headers);
std::string encode_rst_stream(uint32_t stream_id, uint32_t status);
std::string encode_ping(uint32_t id);
std::string encode_goaway(uint32_t last_good_stream, uint32_t status);

// The first value of `name` (lower case); empty if absent.
std::string header_value(const Headers& headers, std::string_view name);

}  // namespace podnet::spdy
