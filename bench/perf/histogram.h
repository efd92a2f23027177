// A latency histogram in the manner of HdrHistogram: values in nanoseconds from 1 µs
// to 60 s are kept to 3 significant decimal digits (any recorded value is reported
// within 0.1 % of itself), in a fixed array of counts, so recording is a few shifts
// and an increment and memory does not grow with the number of values.
//
// Values below 1 µs share the first bucket (resolution 512 ns); values above 60 s are
// counted in the top bucket and in overflow(), never dropped.
//
// Not thread-safe: one histogram per recording thread, merged afterwards.
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

namespace pricing::perf {

class LatencyHistogram {
 public:
  static constexpr int64_t kLowestNs = 1'000;            // 1 µs
  static constexpr int64_t kHighestNs = 60'000'000'000;  // 60 s
  static constexpr int kSignificantDigits = 3;

  LatencyHistogram();

  void Record(int64_t value_ns);
  void Merge(const LatencyHistogram& other);
  void Reset();

  int64_t count() const { return total_; }
  int64_t overflow() const { return overflow_; }
  // Exact extremes of what was recorded (clamped to [0, kHighestNs]); 0 when empty.
  int64_t min() const { return total_ ? min_ : 0; }
  int64_t max() const { return max_; }
  double mean() const;
  double stddev() const;

  // The value at or below which `percentile` % of the recorded values fall, as the
  // highest value equivalent to its bucket (HdrHistogram's convention): never below
  // the exact value, never more than 0.1 % above it. 0 when empty.
  int64_t ValueAtPercentile(double percentile) const;

  // HdrHistogram's percentile distribution text (the .hgrm format that its plotter
  // reads), values divided by `unit_ns` (1000: microseconds).
  void WriteHgrm(std::ostream& out, double unit_ns = 1000.0) const;

  // Values that share a bucket with `v` (exposed for tests).
  int64_t LowestEquivalent(int64_t v) const;
  int64_t HighestEquivalent(int64_t v) const;

  std::size_t bucket_count() const { return static_cast<std::size_t>(bucket_count_); }
  std::size_t sub_bucket_count() const { return static_cast<std::size_t>(sub_bucket_count_); }

 private:
  int CountsIndex(int64_t v) const;
  int64_t ValueAtIndex(int index) const;
  int64_t SizeOfEquivalentRange(int64_t v) const;
  int BucketIndex(int64_t v) const;

  int unit_magnitude_;
  int sub_bucket_half_count_magnitude_;
  int64_t sub_bucket_count_;
  int64_t sub_bucket_half_count_;
  int64_t sub_bucket_mask_;
  int bucket_count_;
  std::vector<int64_t> counts_;
  int64_t total_ = 0;
  int64_t overflow_ = 0;
  int64_t min_ = INT64_MAX;
  int64_t max_ = 0;
  double sum_ = 0;  // exact mean and deviation, not bucket midpoints
  double sum_sq_ = 0;
};

}  // namespace pricing::perf
