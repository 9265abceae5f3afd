// The byte layout of set elements, which must match what nft itself writes for the same keys.
#include "proxy/element_batch.h"

#include <gtest/gtest.h>

#include <cstring>

#include "proxy/builders.h"

namespace podnet::proxy {
namespace {

using namespace testing;

std::vector<uint8_t> bytes(const uint8_t* p, uint32_t n) {
  return {p, p + n};
}

TEST(EncodeElement, EndpointsKeyAndValuePaddedToRegisters) {
  ElementOp op;
  op.set = SetId::kEndpoints;
  op.key = {Ip::from(ip("10.96.0.1")), 6, 80};
  op.index = 3;
  op.backend = {Ip::from(ip("10.1.0.2")), 8080};
  auto b = encode_element(op);
  uint8_t index[4];
  uint32_t three = 3;
  std::memcpy(index, &three, 4);  // numgen writes its register in host order
  EXPECT_EQ(bytes(b.key, b.key_len), (std::vector<uint8_t>{10, 96, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0, index[0],
                                                           index[1], index[2], index[3]}));
  EXPECT_EQ(bytes(b.data, b.data_len), (std::vector<uint8_t>{10, 1, 0, 2, 0x1f, 0x90, 0, 0}));
}

TEST(EncodeElement, Ipv6HairpinKey) {
  ElementOp op;
  op.set = SetId::kHairpin;
  op.key.addr = Ip::from(ip("fd00::1"));
  auto b = encode_element(op);
  ASSERT_EQ(b.key_len, 32u);
  EXPECT_EQ(b.key[0], 0xfd);
  EXPECT_EQ(b.key[15], 1);
  EXPECT_EQ(b.key[16], 0xfd);
  EXPECT_EQ(b.data_len, 0u);
}

}  // namespace
}  // namespace podnet::proxy
