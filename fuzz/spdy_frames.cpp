// kubectl port-forward's SPDY/3.1 session as the API server reads it (common/spdy.h): frames from
// untrusted bytes fed in pieces of varying size, every SYN_STREAM/SYN_REPLY/HEADERS header block
// inflated through one session-wide zlib context with SPDY's dictionary, the fixed-size control
// frames parsed. Input: the first byte picks the piece size, the rest is the stream.
#include <string_view>

#include "common/spdy.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace podnet::spdy;
  if (size < 1 || size > podnet::fuzz::kMaxInput) return 0;
  std::string_view in = podnet::fuzz::as_text(data, size);
  size_t piece = static_cast<unsigned char>(in[0]) % 64 + 1;
  in.remove_prefix(1);
  FrameDecoder decoder;
  HeaderCodec codec;
  for (size_t i = 0; i < in.size(); i += piece) {
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
