// kube's remotecommand protocol over plain SPDY/3.1 (kubectl exec and attach's fallback when a
// server refuses the WebSocket upgrade, and their transport with
// KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false), as the server side sees it, negotiated as
// v4.channel.k8s.io: the client opens one SPDY stream per `streamtype` header (error, stdin,
// stdout, stderr, resize), each answered with a SYN_REPLY; stdin's data and FIN, and the resize
// stream's TTY sizes (JSON objects, one a line, as Go's json.Encoder writes them) become messages
// of the node's stream framing (common/stream_frames.h: a channel byte, then the payload); the
// node's stdout, stderr and error (the Status) messages become data frames of the matching
// streams. Pure: bytes in, bytes and messages out; no I/O, no threads. Fed untrusted bytes: bounded
// (common/spdy.h's limits, at most one stream of each type, 4 KiB of an unfinished resize line);
// never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/spdy.h"

namespace podnet::spdy {

// The protocol this server speaks for remotecommand over SPDY.
inline constexpr std::string_view kRemoteCommandProtocol = "v4.channel.k8s.io";
// An unfinished resize line longer than this ends the session.
inline constexpr size_t kMaxResizeLine = 4096;

// The streams the request's query asked for (exec's and attach's stdin, stdout, stderr, tty). With
// a tty there is no stderr stream (kubelet drops it, kubectl does not open it) and there is a
// resize stream.
struct StreamsWanted {
  bool stdin = false, stdout = false, stderr = false, tty = false;
};

class RemoteCommandStreams {
 public:
  explicit RemoteCommandStreams(StreamsWanted wanted) : wanted_(wanted) {}

  struct Output {
    std::string to_client;             // SPDY frames for the client, in order
    std::vector<std::string> to_node;  // node messages: a channel byte, then the payload
  };
  // The client's bytes. False once the session ends: a malformed session (a GOAWAY is in
  // to_client), the client's GOAWAY, or its reset of a stream the command needs.
  bool feed(std::string_view bytes, Output& out);
  // Every stream the request asked for is open: the node's side may start.
  bool complete() const;
  // A node message (channel byte + payload) as a data frame on its stream; empty if that stream
  // is not open or the payload is empty (the node's close signals are not forwarded).
  std::string from_node(std::string_view message) const;
  // The end of the command (after the node's Status): a FIN on every open stream.
  std::string finish() const;
  // The GOAWAY a server sends when it ends the session on its own.
  std::string goaway() const { return encode_goaway(last_stream_id_, 0); }

 private:
  bool control(const Frame& f, Output& out);
  bool syn_stream(const Frame& f, Output& out);
  void data(const Frame& f, Output& out);
  bool session_error(Output& out);

  const StreamsWanted wanted_;
  FrameDecoder decoder_;
  HeaderCodec codec_;
  uint32_t error_id_ = 0, stdin_id_ = 0, stdout_id_ = 0, stderr_id_ = 0, resize_id_ = 0;
  uint32_t last_stream_id_ = 0;
  std::string resize_line_;
  bool stdin_fin_ = false, ended_ = false;
};

}  // namespace podnet::spdy
