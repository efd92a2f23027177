#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <vector>

#include "perf/histogram.h"

namespace pricing::perf {
namespace {

// The exact value at `p` percent of a sorted sample, by the same rank rule.
int64_t ExactPercentile(const std::vector<int64_t>& sorted, double p) {
  const auto n = static_cast<int64_t>(sorted.size());
  const int64_t rank = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(n))), 1, n);
  return sorted[static_cast<std::size_t>(rank - 1)];
}

// Within 3 significant digits: never below the exact value, at most 0.1 % above it
// (or one 512 ns unit for values under a microsecond).
void ExpectClose(int64_t got, int64_t exact, double p) {
  EXPECT_GE(got, exact) << "p" << p;
  EXPECT_LE(got, exact + std::max<int64_t>(exact / 1000, 512)) << "p" << p;
}

TEST(LatencyHistogram, PercentilesMatchASortedArrayToThreeDigits) {
  std::mt19937_64 rng(7);
  // Latencies spread over six decades, as a mix of fast and very slow messages.
  std::lognormal_distribution<double> dist(std::log(200'000.0), 2.0);
  std::vector<int64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200'000; ++i) {
    const auto v =
        std::clamp<int64_t>(static_cast<int64_t>(dist(rng)), 0, LatencyHistogram::kHighestNs);
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0})
    ExpectClose(h.ValueAtPercentile(p), ExactPercentile(values, p), p);
  EXPECT_EQ(h.count(), 200'000);
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.ValueAtPercentile(100), values.back());
}

TEST(LatencyHistogram, EveryValueSharesABucketOnlyWithinAThousandth) {
  LatencyHistogram h;
  for (int64_t v = 1'000; v < LatencyHistogram::kHighestNs; v = v * 11 / 10 + 7) {
    EXPECT_LE(h.LowestEquivalent(v), v);
    EXPECT_GE(h.HighestEquivalent(v), v);
    EXPECT_LE(h.HighestEquivalent(v) - h.LowestEquivalent(v), std::max<int64_t>(v / 1000, 512))
        << v;
  }
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (int64_t i = 1; i <= 10'000; ++i) {
    const int64_t v = i * 37'000;
    ((i % 3) ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 99.0, 99.9, 100.0})
    EXPECT_EQ(a.ValueAtPercentile(p), all.ValueAtPercentile(p));
}

TEST(LatencyHistogram, BoundsClampAndCountOverflow) {
  LatencyHistogram h;
  EXPECT_EQ(h.ValueAtPercentile(50), 0);  // empty
  EXPECT_EQ(h.count(), 0);
  h.Record(-5);                                // a clock step backwards: counted as 0
  h.Record(300);                               // under the 1 µs floor: first bucket
  h.Record(LatencyHistogram::kHighestNs * 2);  // over 60 s: top, and counted
  EXPECT_EQ(h.count(), 3);
  EXPECT_EQ(h.overflow(), 1);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), LatencyHistogram::kHighestNs);
  EXPECT_LT(h.ValueAtPercentile(10), 1'000);
  EXPECT_EQ(h.ValueAtPercentile(100), LatencyHistogram::kHighestNs);
}

TEST(LatencyHistogram, MeanAndDeviationAreExact) {
  LatencyHistogram h;
  for (int64_t v : {2'000, 4'000, 4'000, 4'000, 5'000, 5'000, 7'000, 9'000}) h.Record(v);
  EXPECT_DOUBLE_EQ(h.mean(), 5'000.0);
  EXPECT_NEAR(h.stddev(), 2'000.0, 1e-6);
}

TEST(LatencyHistogram, HgrmIsHdrHistogramsPercentileFormat) {
  LatencyHistogram h;
  for (int64_t i = 1; i <= 1000; ++i) h.Record(i * 1'000);  // 1 µs .. 1 ms
  std::ostringstream out;
  h.WriteHgrm(out);
  std::istringstream in(out.str());
  std::string line;
  std::getline(in, line);
  EXPECT_NE(line.find("Value"), std::string::npos);
  EXPECT_NE(line.find("Percentile"), std::string::npos);
  EXPECT_NE(line.find("TotalCount"), std::string::npos);
  double last_value = -1, last_pct = -1;
  int64_t last_count = -1;
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') break;
    std::istringstream row(line);
    double value = 0, pct = 0;
    int64_t count = 0;
    ASSERT_TRUE(row >> value >> pct >> count) << line;
    EXPECT_GE(value, last_value);
    EXPECT_GT(pct, last_pct);
    EXPECT_GE(count, last_count);
    last_value = value;
    last_pct = pct;
    last_count = count;
    ++rows;
  }
  EXPECT_GT(rows, 20);
  EXPECT_DOUBLE_EQ(last_pct, 1.0);
  EXPECT_EQ(last_count, 1000);
  EXPECT_NEAR(last_value, 1000.0, 1.0);  // microseconds
  EXPECT_NE(out.str().find("#[Max     ="), std::string::npos);
  EXPECT_NE(out.str().find("Total count    =         1000]"), std::string::npos);
}

}  // namespace
}  // namespace pricing::perf
