#include "common/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace pricing {
namespace {

TEST(JsonWriter, PlacesCommasInNestedContainers) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("a")
      .Int(1)
      .Key("b")
      .BeginArray()
      .Int(2)
      .String("x")
      .BeginObject()
      .EndObject();
  w.EndArray().Key("c").Bool(false).Key("d").Null().EndObject();
  EXPECT_EQ(out, R"({"a":1,"b":[2,"x",{}],"c":false,"d":null})");
}

TEST(JsonWriter, EscapesStrings) {
  std::string out;
  JsonWriter(&out).String("a\"b\\c\nd\x01");
  EXPECT_EQ(out, R"("a\"b\\c\nd\u0001")");
}

TEST(JsonWriter, DoublesRoundTripAndNonFiniteBecomesNull) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray().Double(0.1).Double(1.2).Double(1.0).Double(NAN).Double(INFINITY).EndArray();
  EXPECT_EQ(out, "[0.1,1.2,1,null,null]");
}

}  // namespace
}  // namespace pricing
