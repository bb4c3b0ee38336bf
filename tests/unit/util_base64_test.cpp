// util/base64: RFC 4648 vectors, every byte value, and the refusal of
// anything but canonical padded text (the control channel's peer may be
// hostile).
#include <gtest/gtest.h>

#include <string>

#include "util/base64.hpp"

namespace hvrun {
namespace {

TEST(Base64, EncodesTheRfc4648TestVectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  for (const char* t : {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"}) {
    auto back = base64_decode(t);
    ASSERT_TRUE(back) << t;
    EXPECT_EQ(base64_encode(*back), t);
  }
}

TEST(Base64, EveryByteValueAndEveryLengthRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(char(i));
  for (size_t len = 0; len <= all.size(); ++len) {
    std::string in = all.substr(256 - len);
    auto back = base64_decode(base64_encode(in));
    ASSERT_TRUE(back) << len;
    EXPECT_EQ(*back, in) << len;
  }
  EXPECT_EQ(base64_encode(std::string("\xfb\xff", 2)), "+/8=");
}

TEST(Base64, RefusesTextThatIsNotCanonicalPaddedBase64) {
  for (const char* bad : {"Zg", "Zg=", "Zm9", "Z===", "Zg=a", "Zm=v", "Zg==Zg==", "Zh==", "Zm9=", "Zm9v\n",
                          "Zm 9", "Zm-_", "====", "Zm9v=", "\xc3\xa9\xc3\xa9"}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

TEST(Hex, EncodesLowercaseAndEveryByteRoundTrips) {
  EXPECT_EQ(hex_encode(""), "");
  EXPECT_EQ(hex_encode(std::string("\x00\x0f\xa5\xff", 4)), "000fa5ff");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(char(i));
  auto back = hex_decode(hex_encode(all));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, all);
}

TEST(Hex, RefusesAnOddLengthAndAnythingButLowercaseHexDigits) {
  for (const char* bad : {"0", "abc", "0g", "AB", " 00", "00\n", "--"}) EXPECT_FALSE(hex_decode(bad)) << bad;
}

}  // namespace
}  // namespace hvrun
