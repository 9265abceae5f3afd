// exec's, attach's, port-forward's and the pod proxy's untrusted inputs on the node: the request
// target of `/exec/...`, `/attach/...`, `/portForward/...` and `/podProxy/...` (parse_exec_request,
// parse_attach_request, parse_portforward_request, parse_pod_proxy_request), a resize frame's JSON
// (attach_resize_payload) and the stream frames that follow the 101 (FrameDecoder), fed in pieces of varying
// size. Input: the target, a newline, then the stream bytes (their first byte picks the piece size).
#include <string_view>

#include "common/stream_frames.h"
#include "fuzz_target.h"
#include "runtime/attach_session.h"
#include "runtime/exec_session.h"
#include "runtime/pod_proxy_session.h"
#include "runtime/portforward_session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  std::string_view in = podnet::fuzz::as_text(data, size);
  size_t nl = in.find('\n');
  (void)podnet::runtime::parse_exec_request(in.substr(0, nl));
  (void)podnet::runtime::parse_portforward_request(in.substr(0, nl));
  (void)podnet::runtime::parse_pod_proxy_request(in.substr(0, nl));
  (void)podnet::runtime::parse_attach_request(in.substr(0, nl));
  if (auto size = podnet::runtime::attach_resize_payload(in.substr(0, nl)); size && size->size() != 4)
    __builtin_trap();
  if (nl == std::string_view::npos) return 0;
  std::string_view stream = in.substr(nl + 1);
  if (stream.empty()) return 0;
  size_t piece = static_cast<unsigned char>(stream[0]) % 64 + 1;
  stream.remove_prefix(1);
  podnet::streams::FrameDecoder decoder;
  size_t total = 0;
  for (size_t i = 0; i < stream.size(); i += piece) {
    if (!decoder.feed(stream.substr(i, piece))) break;
    while (auto f = decoder.next()) total += f->payload.size() + 1;
  }
  if (total > size) __builtin_trap();  // frames never hold more than was fed
  return 0;
}
