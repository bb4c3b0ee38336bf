// Presentation of images: sizes, ages, the images table.
#include <gtest/gtest.h>

#include "image/present.hpp"

using namespace hvrun::image;

TEST(ImagePresent, HumanSizeUsesDecimalUnitsLikeDocker) {
  EXPECT_EQ(human_size(0), "0B");
  EXPECT_EQ(human_size(999), "999B");
  EXPECT_EQ(human_size(1982256), "1.98MB");
  EXPECT_EQ(human_size(5000000000ull), "5GB");
}

TEST(ImagePresent, HumanAgeCountsBackFromNowInDockersWords) {
  std::time_t now = 1700000000;  // 2023-11-14T22:13:20Z
  EXPECT_EQ(human_age("2023-11-14T22:13:20.5Z", now), "Less than a second ago");
  EXPECT_EQ(human_age("2023-11-14T22:13:19Z", now), "1 second ago");
  EXPECT_EQ(human_age("2023-11-14T22:12:10Z", now), "About a minute ago");
  EXPECT_EQ(human_age("2023-11-14T22:08:20Z", now), "5 minutes ago");
  EXPECT_EQ(human_age("2023-11-14T21:13:20Z", now), "About an hour ago");
  EXPECT_EQ(human_age("2023-11-14T20:43:20Z", now), "2 hours ago") << "hours are rounded, as go-units does";
  EXPECT_EQ(human_age("2023-11-11T22:13:20Z", now), "3 days ago");
  EXPECT_EQ(human_age("2023-10-24T22:13:20Z", now), "3 weeks ago");
  EXPECT_EQ(human_age("2023-05-14T22:13:20Z", now), "6 months ago");
  EXPECT_EQ(human_age("2020-11-14T22:13:20Z", now), "3 years ago");
  EXPECT_EQ(human_age("garbage", now), "unknown");
}

TEST(ImagePresent, TableHasOneRowPerTagAndNoneForUntagged) {
  ImageRecord a;
  a.id = std::string(64, 'a');
  a.tags = {"zeta:1", "alpha/x:latest"};
  a.created = "2023-11-14T22:08:20Z";
  a.size = 1000;
  ImageRecord b;
  b.id = std::string(64, 'b');
  b.created = "2023-11-14T22:08:20Z";
  std::string t = images_table({a, b}, 1700000000);
  EXPECT_EQ(t.substr(0, t.find('\n')).find("REPOSITORY"), 0u);
  // Docker's columns: the widest cell plus 3, at least 10 wide.
  EXPECT_NE(t.find("alpha/x      latest    aaaaaaaaaaaa   5 minutes ago   1kB"), std::string::npos) << t;
  EXPECT_NE(t.find("zeta         1         aaaaaaaaaaaa"), std::string::npos) << t;
  EXPECT_NE(t.find("<none>       <none>    bbbbbbbbbbbb"), std::string::npos) << t;
  EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 4);
}
