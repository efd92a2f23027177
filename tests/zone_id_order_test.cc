#include "common/zone_id_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace pricing {
namespace {

TEST(ZoneIdOrder, IntegersCompareAsNumbers) {
  EXPECT_TRUE(ZoneIdLess("9", "10"));
  EXPECT_FALSE(ZoneIdLess("10", "9"));
  EXPECT_TRUE(ZoneIdLess("-3", "2"));
}

TEST(ZoneIdOrder, StringsCompareAsBytes) {
  EXPECT_TRUE(ZoneIdLess("b10", "b9"));
  EXPECT_TRUE(ZoneIdLess("Alpha", "alpha"));
}

TEST(ZoneIdOrder, IntegersSortBeforeNonIntegersSoTheOrderIsTotal) {
  // The spec's pairwise rule alone would cycle: 2 < 10 (numbers), "10" < "1a" and
  // "1a" < "2" (strings). Integers first keeps sorting well defined.
  EXPECT_TRUE(ZoneIdLess("2", "10"));
  EXPECT_TRUE(ZoneIdLess("10", "1a"));
  EXPECT_TRUE(ZoneIdLess("2", "1a"));
  EXPECT_FALSE(ZoneIdLess("1a", "2"));
  std::vector<std::string> ids = {"1a", "10", "2", "b", "+5", "007", "7"};
  std::sort(ids.begin(), ids.end(), ZoneIdLess);
  EXPECT_EQ(ids, (std::vector<std::string>{"2", "007", "7", "10", "+5", "1a", "b"}));
}

TEST(ZoneIdOrder, IsIrreflexive) {
  for (const char* id : {"1", "a", "007", ""}) EXPECT_FALSE(ZoneIdLess(id, id)) << id;
}

}  // namespace
}  // namespace pricing
