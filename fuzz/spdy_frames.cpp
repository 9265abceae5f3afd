// kubectl port-forward's SPDY/3.1 session as the API server reads it (common/spdy.h): frames from
// untrusted bytes fed in pieces of varying size, every SYN_STREAM/SYN_REPLY/HEADERS header block
// inflated through one session-wide zlib context with SPDY's dictionary, the fixed-size control
// frames parsed. The same stream also goes, in the same pieces, through exec/attach's SPDY session
// (common/spdy_remote_command.h) with the streams the first byte's high bits ask for, answering the
// node's channels as it goes. Input: the first byte picks the piece size, the rest is the stream.
#include <string_view>

#include "common/spdy.h"
#include "common/spdy_remote_command.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace podnet::spdy;
  if (size < 1 || size > podnet::fuzz::kMaxInput) return 0;
  std::string_view in = podnet::fuzz::as_text(data, size);
  size_t piece = static_cast<unsigned char>(in[0]) % 64 + 1;
  in.remove_prefix(1);
  FrameDecoder decoder;
  HeaderCodec codec;
  unsigned bits = static_cast<unsigned char>(data[0]) >> 4;
  RemoteCommandStreams session({(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0});
  bool session_open = true;
  size_t session_out = 0;
  for (size_t i = 0; i < in.size(); i += piece) {
    if (session_open) {
      RemoteCommandStreams::Output out;
      session_open = session.feed(in.substr(i, piece), out);
      // What the session answers is bounded by what it was fed (a reply or reset per frame).
      session_out += out.to_client.size();
      for (const auto& m : out.to_node) {
        if (m.empty() || m.size() > kMaxDataPayload + 1) __builtin_trap();
        session_out += m.size();
      }
      if (session_out > 64 * (i + piece) + 4096) __builtin_trap();
      if (session.complete()) (void)session.from_node(std::string("\x01out", 4));
    }
    if (!decoder.feed(in.substr(i, piece))) break;
    while (auto f = decoder.next()) {
      if (!f->control) {
        if (f->payload.size() > kMaxDataPayload) __builtin_trap();
        continue;
      }
      auto type = static_cast<ControlType>(f->type);
      if (auto syn = parse_syn_stream(*f)) {
        if (auto h = codec.decode(syn->header_block)) {
          if (h->size() > kMaxHeaderPairs) __builtin_trap();
          (void)header_value(*h, "streamtype");
        }
      } else if ((type == ControlType::kSynReply || type == ControlType::kHeaders) &&
                 f->payload.size() >= 4) {
        (void)codec.decode(std::string_view(f->payload).substr(4));
      } else {
        (void)parse_words(*f);
      }
    }
  }
  return 0;
}
