// The framing of a stream between the API server and a node agent once the agent answered an exec
// (or attach) request with 101: both sides send frames [channel: 1 byte][length: 4 bytes, big
// endian][payload]. The channels are v5.channel.k8s.io's, so the API server relays them to a
// WebSocket client one message per frame: 0 stdin, 1 stdout, 2 stderr, 3 error (one Status JSON,
// the last frame), 4 resize (a TTY size JSON), 255 close (payload: the channel the sender is done
// with, as v5's close signal). The decoder is fed untrusted bytes: it never throws and never holds
// more than one frame's worth past what it was fed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace podnet::streams {

inline constexpr uint8_t kStdin = 0, kStdout = 1, kStderr = 2, kError = 3, kResize = 4, kClose = 255;
inline constexpr size_t kFrameHeader = 5;
// Larger frames are a protocol error: the sides send reads of at most 32 KiB and WebSocket
// messages are capped below this.
inline constexpr size_t kMaxFramePayload = 1 << 20;

std::string encode_frame(uint8_t channel, std::string_view payload);

struct Frame {
  uint8_t channel = 0;
  std::string payload;
};

class FrameDecoder {
 public:
  // Appends bytes; false once the stream is malformed (a length over kMaxFramePayload); then every
  // later call fails too.
  bool feed(std::string_view bytes);
  // The next complete frame, if one is buffered.
  std::optional<Frame> next();
  bool bad() const { return bad_; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  bool check_header();
  std::string buf_;
  size_t pos_ = 0;
  bool bad_ = false;
};

}  // namespace podnet::streams
