#include "perf/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace pricing::perf {

LatencyHistogram::LatencyHistogram() {
  // 3 significant digits: single-unit resolution up to 2 * 10^3 within a bucket.
  const int64_t single_unit_resolution = 2 * 1000;
  const int sub_bucket_count_magnitude =
      static_cast<int>(std::ceil(std::log2(static_cast<double>(single_unit_resolution))));
  sub_bucket_half_count_magnitude_ = sub_bucket_count_magnitude - 1;
  unit_magnitude_ = static_cast<int>(std::floor(std::log2(static_cast<double>(kLowestNs))));
  sub_bucket_count_ = int64_t{1} << sub_bucket_count_magnitude;
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = (sub_bucket_count_ - 1) << unit_magnitude_;
  // Buckets double their range: enough of them that kHighestNs is trackable.
  int64_t smallest_untrackable = sub_bucket_count_ << unit_magnitude_;
  bucket_count_ = 1;
  while (smallest_untrackable <= kHighestNs) {
    smallest_untrackable <<= 1;
    ++bucket_count_;
  }
  counts_.assign(static_cast<std::size_t>((bucket_count_ + 1) * sub_bucket_half_count_), 0);
}

int LatencyHistogram::BucketIndex(int64_t v) const {
  const int pow2ceiling = 64 - std::countl_zero(static_cast<uint64_t>(v | sub_bucket_mask_));
  return pow2ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
}

int LatencyHistogram::CountsIndex(int64_t v) const {
  const int bucket = BucketIndex(v);
  const int64_t sub_bucket = v >> (bucket + unit_magnitude_);
  return static_cast<int>(((static_cast<int64_t>(bucket) + 1) << sub_bucket_half_count_magnitude_) +
                          (sub_bucket - sub_bucket_half_count_));
}

int64_t LatencyHistogram::ValueAtIndex(int index) const {
  int bucket = (index >> sub_bucket_half_count_magnitude_) - 1;
  int64_t sub_bucket = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket < 0) {
    sub_bucket -= sub_bucket_half_count_;
    bucket = 0;
  }
  return sub_bucket << (bucket + unit_magnitude_);
}

int64_t LatencyHistogram::SizeOfEquivalentRange(int64_t v) const {
  const int bucket = BucketIndex(v);
  const int64_t sub_bucket = v >> (bucket + unit_magnitude_);
  const int adjusted = sub_bucket >= sub_bucket_count_ ? bucket + 1 : bucket;
  return int64_t{1} << (unit_magnitude_ + adjusted);
}

int64_t LatencyHistogram::LowestEquivalent(int64_t v) const {
  const int bucket = BucketIndex(v);
  const int64_t sub_bucket = v >> (bucket + unit_magnitude_);
  return sub_bucket << (bucket + unit_magnitude_);
}

int64_t LatencyHistogram::HighestEquivalent(int64_t v) const {
  return LowestEquivalent(v) + SizeOfEquivalentRange(v) - 1;
}

void LatencyHistogram::Record(int64_t value_ns) {
  int64_t v = std::max<int64_t>(value_ns, 0);
  if (v > kHighestNs) {
    v = kHighestNs;
    ++overflow_;
  }
  ++counts_[static_cast<std::size_t>(CountsIndex(v))];
  ++total_;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  const double d = static_cast<double>(v);
  sum_ += d;
  sum_sq_ += d * d;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  overflow_ += other.overflow_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
  sum_sq_ += other.sum_sq_;
}

void LatencyHistogram::Reset() { *this = LatencyHistogram(); }

double LatencyHistogram::mean() const { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }

double LatencyHistogram::stddev() const {
  if (total_ == 0) return 0.0;
  const double m = mean();
  return std::sqrt(std::max(0.0, sum_sq_ / static_cast<double>(total_) - m * m));
}

int64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (total_ == 0) return 0;
  const double p = std::clamp(percentile, 0.0, 100.0);
  // The rank of the value: at least the first, at most the last.
  const int64_t rank = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(total_))), 1, total_);
  int64_t running = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    running += counts_[i];
    if (running >= rank) {
      // Report the bucket's top, but never above what was really recorded.
      return std::min(HighestEquivalent(ValueAtIndex(static_cast<int>(i))), max_);
    }
  }
  return max_;
}

void LatencyHistogram::WriteHgrm(std::ostream& out, double unit_ns) const {
  char line[160];
  std::snprintf(line, sizeof line, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                "1/(1-Percentile)");
  out << line;
  if (total_ > 0) {
    // HdrHistogram's percentile iteration: 5 steps per halving of the distance to 100 %.
    constexpr int kTicksPerHalfDistance = 5;
    double p = 0.0;
    std::size_t index = 0;
    int64_t running = 0;
    while (true) {
      const int64_t rank = std::clamp<int64_t>(
          static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(total_))), 1, total_);
      while (running < rank) running += counts_[index++];
      const int64_t value =
          std::min(HighestEquivalent(ValueAtIndex(static_cast<int>(index - 1))), max_);
      if (running >= total_) {
        std::snprintf(line, sizeof line, "%12.3f %14.12f %10lld\n", value / unit_ns, 1.0,
                      static_cast<long long>(running));
        out << line;
        break;
      }
      std::snprintf(line, sizeof line, "%12.3f %14.12f %10lld %14.2f\n", value / unit_ns, p / 100.0,
                    static_cast<long long>(running), 1.0 / (1.0 - p / 100.0));
      out << line;
      // Step past the values just reported.
      const double reached = 100.0 * static_cast<double>(running) / static_cast<double>(total_);
      const double half_distance = std::pow(2.0, std::floor(std::log2(100.0 / (100.0 - p))) + 1);
      p = std::max(p + 100.0 / (half_distance * kTicksPerHalfDistance),
                   std::nextafter(reached, 101.0));
      if (p >= 100.0) p = 100.0;
    }
  }
  std::snprintf(line, sizeof line, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n",
                mean() / unit_ns, stddev() / unit_ns);
  out << line;
  std::snprintf(line, sizeof line, "#[Max     = %12.3f, Total count    = %12lld]\n", max_ / unit_ns,
                static_cast<long long>(total_));
  out << line;
  std::snprintf(line, sizeof line, "#[Buckets = %12d, SubBuckets     = %12lld]\n", bucket_count_,
                static_cast<long long>(sub_bucket_count_));
  out << line;
}

}  // namespace pricing::perf
