#include "common/stream_frames.h"

namespace podnet::streams {

std::string encode_frame(uint8_t channel, std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeader + payload.size());
  uint32_t n = static_cast<uint32_t>(payload.size());
  out += static_cast<char>(channel);
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  out.append(payload);
  return out;
}

bool FrameDecoder::check_header() {
  if (buffered() < kFrameHeader) return true;
  uint32_t n = 0;
  for (size_t i = 1; i < kFrameHeader; ++i) n = (n << 8) | static_cast<unsigned char>(buf_[pos_ + i]);
  if (n > kMaxFramePayload) bad_ = true;
  return !bad_;
}

bool FrameDecoder::feed(std::string_view bytes) {
  if (bad_) return false;
  // Compact before growing: what was consumed is dropped once it is most of the buffer.
  if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
  return check_header();
}

std::optional<Frame> FrameDecoder::next() {
  if (bad_ || buffered() < kFrameHeader) return std::nullopt;
  if (!check_header()) return std::nullopt;
  uint32_t n = 0;
  for (size_t i = 1; i < kFrameHeader; ++i) n = (n << 8) | static_cast<unsigned char>(buf_[pos_ + i]);
  if (buffered() < kFrameHeader + n) return std::nullopt;
  Frame f{static_cast<uint8_t>(buf_[pos_]), buf_.substr(pos_ + kFrameHeader, n)};
  pos_ += kFrameHeader + n;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else {
    check_header();
  }
  return f;
}

}  // namespace podnet::streams
