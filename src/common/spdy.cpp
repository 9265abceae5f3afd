#include "common/spdy.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "common/spdy_dictionary.h"

namespace podnet::spdy {
namespace {

uint32_t be32(const char* p) {
  auto u = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}

void put32(std::string& out, uint32_t v) {
  out += static_cast<char>(v >> 24);
  out += static_cast<char>(v >> 16);
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v);
}

}  // namespace

bool FrameDecoder::check_header() {
  const char* h = buf_.data() + pos_;
  bool control = static_cast<unsigned char>(h[0]) & 0x80;
  uint32_t length = be32(h + 4) & 0xffffff;
  if (control) {
    uint16_t version = static_cast<uint16_t>((static_cast<unsigned char>(h[0]) & 0x7f) << 8 |
                                             static_cast<unsigned char>(h[1]));
    if (version != kVersion || length > kMaxControlPayload) return false;
  } else if (length > kMaxDataPayload) {
    return false;
  }
  return true;
}

bool FrameDecoder::feed(std::string_view bytes) {
  if (bad_) return false;
  // Keep the buffer from growing with consumed bytes.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
  if (buffered() >= kFrameHeader && !check_header()) bad_ = true;
  return !bad_;
}

std::optional<Frame> FrameDecoder::next() {
  if (bad_ || buffered() < kFrameHeader) return std::nullopt;
  if (!check_header()) {
    bad_ = true;
    return std::nullopt;
  }
  const char* h = buf_.data() + pos_;
  uint32_t length = be32(h + 4) & 0xffffff;
  if (buffered() < kFrameHeader + length) return std::nullopt;
  Frame f;
  f.control = static_cast<unsigned char>(h[0]) & 0x80;
  f.flags = static_cast<uint8_t>(h[4]);
  if (f.control) {
    f.type = static_cast<uint16_t>(static_cast<unsigned char>(h[2]) << 8 | static_cast<unsigned char>(h[3]));
    f.payload.assign(h + kFrameHeader, length);
    auto t = static_cast<ControlType>(f.type);
    if ((t == ControlType::kSynStream || t == ControlType::kSynReply || t == ControlType::kRstStream ||
         t == ControlType::kHeaders || t == ControlType::kWindowUpdate) &&
        length >= 4)
      f.stream_id = be32(f.payload.data()) & 0x7fffffff;
  } else {
    f.stream_id = be32(h) & 0x7fffffff;
    f.payload.assign(h + kFrameHeader, length);
  }
  pos_ += kFrameHeader + length;
  if (buffered() >= kFrameHeader && !check_header()) bad_ = true;
  return f;
}

struct HeaderCodec::Zlib {
  z_stream in{}, out{};
  bool in_ok = false, out_ok = false;
  ~Zlib() {
    if (in_ok) inflateEnd(&in);
    if (out_ok) deflateEnd(&out);
  }
};

HeaderCodec::HeaderCodec() : z_(std::make_unique<Zlib>()) {
  z_->in_ok = inflateInit(&z_->in) == Z_OK;
  z_->out_ok = deflateInit(&z_->out, Z_DEFAULT_COMPRESSION) == Z_OK &&
               deflateSetDictionary(&z_->out, kHeaderDictionary, sizeof kHeaderDictionary) == Z_OK;
  ok_ = z_->in_ok && z_->out_ok;
}

HeaderCodec::~HeaderCodec() = default;

std::optional<Headers> HeaderCodec::decode(std::string_view compressed) {
  if (!ok_) return std::nullopt;
  z_stream& s = z_->in;
  std::string plain(kMaxHeaderBlock, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  s.avail_in = static_cast<uInt>(compressed.size());
  s.next_out = reinterpret_cast<Bytef*>(plain.data());
  s.avail_out = static_cast<uInt>(plain.size());
  while (s.avail_in > 0) {
    int rc = inflate(&s, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      if (inflateSetDictionary(&s, kHeaderDictionary, sizeof kHeaderDictionary) != Z_OK)
        return ok_ = false, std::nullopt;
      continue;
    }
    if (rc == Z_BUF_ERROR && s.avail_out > 0) break;  // no progress possible: input used up
    if (rc != Z_OK) return ok_ = false, std::nullopt;
    if (s.avail_out == 0) return ok_ = false, std::nullopt;  // inflates past the bound
  }
  plain.resize(plain.size() - s.avail_out);
  // [count][len name][len value]... (32-bit big-endian lengths)
  std::string_view p = plain;
  auto take32 = [&](uint32_t& v) {
    if (p.size() < 4) return false;
    v = be32(p.data());
    p.remove_prefix(4);
    return true;
  };
  uint32_t count = 0;
  if (!take32(count) || count > kMaxHeaderPairs) return std::nullopt;
  Headers h;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t n = 0, v = 0;
    if (!take32(n) || n == 0 || n > p.size()) return std::nullopt;
    std::string name(p.substr(0, n));
    p.remove_prefix(n);
    if (!take32(v) || v > p.size()) return std::nullopt;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    h.emplace_back(std::move(name), std::string(p.substr(0, v)));
    p.remove_prefix(v);
  }
  if (!p.empty()) return std::nullopt;
  return h;
}

std::string HeaderCodec::encode(const Headers& headers) {
  std::string plain;
  put32(plain, static_cast<uint32_t>(headers.size()));
  for (const auto& [n, v] : headers) {
    put32(plain, static_cast<uint32_t>(n.size()));
    plain += n;
    put32(plain, static_cast<uint32_t>(v.size()));
    plain += v;
  }
  std::string out;
  if (!z_->out_ok) return out;
  z_stream& s = z_->out;
  s.next_in = reinterpret_cast<Bytef*>(plain.data());
  s.avail_in = static_cast<uInt>(plain.size());
  char chunk[1024];
  do {
    s.next_out = reinterpret_cast<Bytef*>(chunk);
    s.avail_out = sizeof chunk;
    if (deflate(&s, Z_SYNC_FLUSH) == Z_STREAM_ERROR) return {};
    out.append(chunk, sizeof chunk - s.avail_out);
  } while (s.avail_out == 0);
  return out;
}

std::optional<SynStream> parse_syn_stream(const Frame& f) {
  if (!f.control || f.type != static_cast<uint16_t>(ControlType::kSynStream) || f.payload.size() < 10)
    return std::nullopt;
  SynStream s;
  s.stream_id = be32(f.payload.data()) & 0x7fffffff;
  s.associated = be32(f.payload.data() + 4) & 0x7fffffff;
  s.header_block = std::string_view(f.payload).substr(10);
  if (s.stream_id == 0) return std::nullopt;
  return s;
}

std::optional<std::pair<uint32_t, uint32_t>> parse_words(const Frame& f) {
  if (f.payload.size() < 4) return std::nullopt;
  uint32_t a = be32(f.payload.data()), b = f.payload.size() >= 8 ? be32(f.payload.data() + 4) : 0;
  return std::pair{a, b};
}

std::string encode_data(uint32_t stream_id, uint8_t flags, std::string_view data) {
  std::string out;
  out.reserve(kFrameHeader + data.size());
  put32(out, stream_id & 0x7fffffff);
  put32(out, static_cast<uint32_t>(flags) << 24 | static_cast<uint32_t>(data.size()));
  out += data;
  return out;
}

std::string encode_control(ControlType type, uint8_t flags, std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeader + payload.size());
  put32(out, 0x80000000u | static_cast<uint32_t>(kVersion) << 16 | static_cast<uint16_t>(type));
  put32(out, static_cast<uint32_t>(flags) << 24 | static_cast<uint32_t>(payload.size()));
  out += payload;
  return out;
}

std::string encode_syn_reply(HeaderCodec& codec, uint32_t stream_id, uint8_t flags, const Headers& headers) {
  std::string p;
  put32(p, stream_id & 0x7fffffff);
  p += codec.encode(headers);
  return encode_control(ControlType::kSynReply, flags, p);
}

std::string encode_rst_stream(uint32_t stream_id, uint32_t status) {
  std::string p;
  put32(p, stream_id & 0x7fffffff);
  put32(p, status);
  return encode_control(ControlType::kRstStream, 0, p);
}

std::string encode_ping(uint32_t id) {
  std::string p;
  put32(p, id);
  return encode_control(ControlType::kPing, 0, p);
}

std::string encode_goaway(uint32_t last_good_stream, uint32_t status) {
  std::string p;
  put32(p, last_good_stream & 0x7fffffff);
  put32(p, status);
  return encode_control(ControlType::kGoAway, 0, p);
}

std::string header_value(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (n == name) return v.substr(0, v.find('\0'));
  return {};
}

}  // namespace podnet::spdy
