// kube's remotecommand over plain SPDY/3.1 as the server translates it (common/spdy_remote_command.h):
// the client's streams as kubectl opens them, each answered; stdin and its FIN, resize lines split
// anywhere, the node's channels onto the right streams; and what ends the session.
#include "common/spdy_remote_command.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/stream_frames.h"

namespace podnet::spdy {
namespace {

// A client as kubectl's spdystream: its own header compression context for SYN_STREAMs.
class Client {
 public:
  // In call order (the header blocks share a compression context): one statement per call.
  std::string syn(uint32_t id, const std::string& type) {
    std::string p;
    put32(p, id);
    put32(p, 0);
    p += std::string("\0\0", 2);  // priority, slot
    p += codec_.encode({{"streamtype", type}});
    return encode_control(ControlType::kSynStream, 0, p);
  }
  // Frames the server sent, decoded; header blocks through the client's inflate context.
  std::vector<Frame> read(std::string_view bytes) {
    std::vector<Frame> out;
    EXPECT_TRUE(decoder_.feed(bytes));
    while (auto f = decoder_.next()) {
      if (f->control && f->type == static_cast<uint16_t>(ControlType::kSynReply))
        EXPECT_TRUE(reply_codec_.decode(std::string_view(f->payload).substr(4)));
      out.push_back(std::move(*f));
    }
    return out;
  }

 private:
  static void put32(std::string& s, uint32_t v) {
    for (int shift : {24, 16, 8, 0}) s += static_cast<char>(v >> shift & 0xff);
  }
  HeaderCodec codec_, reply_codec_;
  FrameDecoder decoder_;
};

std::string msg(uint8_t channel, std::string_view payload) {
  return std::string(1, static_cast<char>(channel)) + std::string(payload);
}

TEST(SpdyRemoteCommand, ExecWithStdinOpensStreamsAsKubectlAndRelaysBothWays) {
  RemoteCommandStreams s({.stdin = true, .stdout = true, .stderr = true, .tty = false});
  Client c;
  RemoteCommandStreams::Output out;
  // kubectl's order: error, stdin, stdout, stderr; each waits for its SYN_REPLY.
  const std::vector<std::pair<uint32_t, std::string>> opens{
      {1, "error"}, {3, "stdin"}, {5, "stdout"}, {7, "stderr"}};
  for (const auto& [id, type] : opens) {
    EXPECT_FALSE(s.complete());
    ASSERT_TRUE(s.feed(c.syn(id, type), out));
    auto frames = c.read(out.to_client);
    out.to_client.clear();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].type, static_cast<uint16_t>(ControlType::kSynReply));
    EXPECT_EQ(frames[0].stream_id, id);
  }
  EXPECT_TRUE(s.complete());
  // stdin, byte by byte through the decoder, then its FIN: the node's close of stdin.
  std::string wire = encode_data(3, 0, "hello ") + encode_data(3, kFlagFin, "world");
  for (char ch : wire) ASSERT_TRUE(s.feed(std::string(1, ch), out));
  EXPECT_EQ(out.to_node,
            (std::vector<std::string>{msg(streams::kStdin, "hello "), msg(streams::kStdin, "world"),
                                      msg(streams::kClose, std::string(1, '\0'))}));
  out.to_node.clear();
  ASSERT_TRUE(s.feed(encode_data(3, 0, "late"), out));  // after the FIN: dropped
  EXPECT_TRUE(out.to_node.empty());
  // The node's channels onto the streams; the Status on the error stream; then FIN on each.
  auto frames = c.read(s.from_node(msg(streams::kStdout, "out")) + s.from_node(msg(streams::kStderr, "err")) +
                       s.from_node(msg(streams::kError, R"({"status":"Success"})")) + s.finish());
  ASSERT_EQ(frames.size(), 7u);
  EXPECT_EQ(frames[0].stream_id, 5u);
  EXPECT_EQ(frames[0].payload, "out");
  EXPECT_EQ(frames[1].stream_id, 7u);
  EXPECT_EQ(frames[2].stream_id, 1u);
  EXPECT_EQ(frames[2].payload, R"({"status":"Success"})");
  for (size_t i = 3; i < 7; ++i) {
    EXPECT_FALSE(frames[i].control);
    EXPECT_EQ(frames[i].flags, kFlagFin);
    EXPECT_TRUE(frames[i].payload.empty());
  }
  // Nothing for a channel without a stream, nor for the node's close signals.
  EXPECT_TRUE(s.from_node(msg(streams::kResize, "x")).empty());
  EXPECT_TRUE(s.from_node(msg(streams::kStdout, "")).empty());
}

TEST(SpdyRemoteCommand, TtyHasAResizeStreamAndNoStderr) {
  RemoteCommandStreams s({.stdin = true, .stdout = true, .stderr = true, .tty = true});
  Client c;
  RemoteCommandStreams::Output out;
  std::string opens = c.syn(1, "error");
  opens += c.syn(3, "stdin");
  opens += c.syn(5, "stdout");
  ASSERT_TRUE(s.feed(opens, out));
  EXPECT_FALSE(s.complete());
  ASSERT_TRUE(s.feed(c.syn(7, "stderr"), out));  // no stderr with a tty: refused, the session goes on
  ASSERT_TRUE(s.feed(c.syn(9, "resize"), out));
  EXPECT_TRUE(s.complete());
  auto frames = c.read(out.to_client);
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(frames[3].type, static_cast<uint16_t>(ControlType::kRstStream));
  EXPECT_EQ(frames[4].type, static_cast<uint16_t>(ControlType::kSynReply));
  // Go's json.Encoder: one object a line, split anywhere by the frames.
  ASSERT_TRUE(s.feed(encode_data(9, 0,
                                 R"({"Width":101,"Height":33})"
                                 "\n"
                                 R"({"Width":1)"),
                     out));
  ASSERT_TRUE(s.feed(encode_data(9, 0,
                                 R"(20,"Height":40})"
                                 "\n"),
                     out));
  EXPECT_EQ(out.to_node, (std::vector<std::string>{msg(streams::kResize, R"({"Width":101,"Height":33})"),
                                                   msg(streams::kResize, R"({"Width":120,"Height":40})")}));
  // A line without an end is bounded.
  EXPECT_FALSE(s.feed(encode_data(9, 0, std::string(kMaxResizeLine + 1, 'x')), out));
  EXPECT_EQ(c.read(out.to_client.substr(out.to_client.size() - 16)).back().type,
            static_cast<uint16_t>(ControlType::kGoAway));
}

TEST(SpdyRemoteCommand, WhatEndsTheSessionAndWhatDoesNot) {
  Client c;
  {
    RemoteCommandStreams s({.stdout = true});
    RemoteCommandStreams::Output out;
    // A stream type twice, one not asked for, and an unknown one: each refused alone.
    std::string opens = c.syn(1, "error");
    opens += c.syn(3, "error");
    opens += c.syn(5, "stdin");
    opens += c.syn(7, "nope");
    ASSERT_TRUE(s.feed(opens, out));
    ASSERT_TRUE(s.feed(encode_control(ControlType::kPing, 0, std::string("\0\0\0\x07", 4)), out));
    auto frames = c.read(out.to_client);
    ASSERT_EQ(frames.size(), 5u);
    for (size_t i : {1u, 2u, 3u}) EXPECT_EQ(frames[i].type, static_cast<uint16_t>(ControlType::kRstStream));
    EXPECT_EQ(frames[4].type, static_cast<uint16_t>(ControlType::kPing));
    ASSERT_TRUE(s.feed(c.syn(9, "stdout"), out));
    EXPECT_TRUE(s.complete());
    // The client's reset of its stdout: the command's session ends.
    EXPECT_FALSE(
        s.feed(encode_control(ControlType::kRstStream, 0, std::string("\0\0\0\x09\0\0\0\x05", 8)), out));
    EXPECT_FALSE(s.feed(c.syn(11, "stdin"), out)) << "nothing after the end";
  }
  {
    RemoteCommandStreams s({.stdout = true});
    RemoteCommandStreams::Output out;
    Client c2;
    ASSERT_TRUE(s.feed(c2.syn(3, "error"), out));
    EXPECT_FALSE(s.feed(c2.syn(1, "stdout"), out)) << "stream ids only grow";
  }
  {
    RemoteCommandStreams s({.stdout = true});
    RemoteCommandStreams::Output out;
    EXPECT_FALSE(s.feed(std::string("\x80\x02\x00\x01\x00\x00\x00\x00", 8), out)) << "SPDY/2";
    EXPECT_EQ(out.to_client.size(), 16u) << "one GOAWAY";
  }
  {
    RemoteCommandStreams s({.stdout = true});
    RemoteCommandStreams::Output out;
    EXPECT_FALSE(s.feed(encode_control(ControlType::kGoAway, 0, std::string(8, '\0')), out));
    EXPECT_TRUE(out.to_client.empty());
  }
}

}  // namespace
}  // namespace podnet::spdy
