// SPDY/3.1 framing (common/spdy.h): frames split at any byte, bounds, and header blocks that
// another zlib deflater compressed with SPDY/3's dictionary (Python's zlib, generated once), two
// blocks in one compression context as a client sends them.
#include "common/spdy.h"

#include <gtest/gtest.h>

#include <string>

namespace podnet::spdy {
namespace {

// Python: zlib.compressobj(9, DEFLATED, 15, 9, zdict=<SPDY/3 dictionary>); each block flushed with
// Z_SYNC_FLUSH: {streamtype: error, port: 8080, requestid: 0}, then the same with streamtype data.
const std::string kBlock1(
    "\x78\xf9\xe3\xc6\xa7\xc2\x02\x25\x3a\x70\x3a\x2b\x29\x4a\x4d\xcc\x85\x16\x25\xac\xa9\xa0\x80\x86\x14\xcb"
    "\x45\xe0\x1c\x60\x61\x60\x61\x00\xa4\x39\x8b\x20\xd1\x98\x09\x4a\xde\x8c\x06\x00\x00\x00\x00\xff\xff",
    51);
const std::string kBlock2("\xc2\xaa\x19\x54\x0e\x25\x12\xd6\x0b\x00\x00\x00\xff\xff", 14);

TEST(Spdy, DecodesHeaderBlocksOfAnotherDeflaterWithTheDictionary) {
  HeaderCodec codec;
  ASSERT_TRUE(codec.ok());
  auto h1 = codec.decode(kBlock1);
  ASSERT_TRUE(h1);
  EXPECT_EQ(header_value(*h1, "streamtype"), "error");
  EXPECT_EQ(header_value(*h1, "port"), "8080");
  EXPECT_EQ(header_value(*h1, "requestid"), "0");
  auto h2 = codec.decode(kBlock2);  // same context: back-references into the first block
  ASSERT_TRUE(h2);
  EXPECT_EQ(header_value(*h2, "streamtype"), "data");
  // A block out of order (the context is not where it was compressed) is a session error.
  HeaderCodec fresh;
  EXPECT_FALSE(fresh.decode(kBlock2));
}

TEST(Spdy, HeaderBlocksRoundTripAndFramesSplitAnywhere) {
  // One statement per frame: the header blocks share a compression context, so their order counts.
  HeaderCodec a;
  std::string wire = encode_syn_reply(a, 1, 0, {{"streamtype", "data"}});
  wire += encode_data(3, kFlagFin, "hello");
  wire += encode_ping(7);
  wire += encode_syn_reply(a, 5, kFlagFin, {{"x", std::string(3000, 'y')}});
  for (size_t piece : {1u, 3u, 8u, 1000u}) {
    FrameDecoder d;
    HeaderCodec c;
    std::vector<Frame> got;
    for (size_t i = 0; i < wire.size(); i += piece) {
      ASSERT_TRUE(d.feed(std::string_view(wire).substr(i, piece)));
      while (auto f = d.next()) got.push_back(std::move(*f));
    }
    ASSERT_EQ(got.size(), 4u);
    EXPECT_TRUE(got[0].control);
    EXPECT_EQ(got[0].type, static_cast<uint16_t>(ControlType::kSynReply));
    EXPECT_EQ(got[0].stream_id, 1u);
    auto h = c.decode(std::string_view(got[0].payload).substr(4));
    ASSERT_TRUE(h);
    EXPECT_EQ(header_value(*h, "streamtype"), "data");
    EXPECT_FALSE(got[1].control);
    EXPECT_EQ(got[1].stream_id, 3u);
    EXPECT_EQ(got[1].flags, kFlagFin);
    EXPECT_EQ(got[1].payload, "hello");
    EXPECT_EQ(parse_words(got[2])->first, 7u);
    EXPECT_EQ(got[3].flags, kFlagFin);
    auto h3 = c.decode(std::string_view(got[3].payload).substr(4));
    ASSERT_TRUE(h3);
    EXPECT_EQ(header_value(*h3, "x"), std::string(3000, 'y'));
  }
}

TEST(Spdy, RefusesOversizedFramesOtherVersionsAndHeaderBombs) {
  {
    FrameDecoder d;  // a data frame of 1 MiB + 1
    EXPECT_FALSE(d.feed(std::string("\x00\x00\x00\x01\x00\x10\x00\x01", 8)));
    EXPECT_FALSE(d.feed("x"));
  }
  {
    FrameDecoder d;  // SPDY/2 control frame
    EXPECT_FALSE(d.feed(std::string("\x80\x02\x00\x01\x00\x00\x00\x00", 8)));
  }
  {
    FrameDecoder d;  // a control frame over 64 KiB
    EXPECT_FALSE(d.feed(std::string("\x80\x03\x00\x01\x00\x01\x00\x01", 8)));
  }
  {
    // A header block that inflates past 64 KiB (one value of 1 MB of zeros).
    HeaderCodec enc, dec;
    std::string block = enc.encode({{"a", std::string(1 << 20, '\0')}});
    EXPECT_LT(block.size(), 8000u);
    EXPECT_FALSE(dec.decode(block));
  }
  {
    // Too many pairs, and lengths past the block's end.
    HeaderCodec enc, dec;
    Headers many;
    for (int i = 0; i < 65; ++i) many.emplace_back("h" + std::to_string(i), "v");
    EXPECT_FALSE(dec.decode(enc.encode(many)));
  }
  {
    Frame f;  // a SYN_STREAM too short to hold its fields, and one for stream 0
    f.control = true;
    f.type = static_cast<uint16_t>(ControlType::kSynStream);
    f.payload = std::string(9, '\0');
    EXPECT_FALSE(parse_syn_stream(f));
    f.payload = std::string(10, '\0');
    EXPECT_FALSE(parse_syn_stream(f));
  }
}

}  // namespace
}  // namespace podnet::spdy
