#include "window/sliding_window.h"

#include <algorithm>
#include <cassert>

#include "common/clock.h"

namespace pricing {
namespace {

template <typename Vec, typename Pred>
void EraseIf(Vec& v, Pred pred) {
  v.erase(std::remove_if(v.begin(), v.end(), pred), v.end());
}

}  // namespace

SlidingWindow::SlidingWindow(int64_t interval_ms, int64_t window_ms, std::size_t zone_count)
    : interval_ms_(interval_ms),
      window_ms_(window_ms),
      window_buckets_(window_ms / interval_ms),
      supply_(zone_count, 0),
      demand_(zone_count, 0) {
  assert(interval_ms > 0 && window_ms > 0 && window_ms % interval_ms == 0);
}

void SlidingWindow::Start(int64_t first_tick_ms) {
  // Started again only while it holds nothing: a processor that stood by restores the
  // newer checkpoint over the one it read at start.
  assert((!started_ || (buckets_.empty() && drivers_.size() == 0 && riders_.size() == 0)) &&
         first_tick_ms % interval_ms_ == 0);
  started_ = true;
  next_tick_ = first_tick_ms;
  current_ = FloorDiv(first_tick_ms, interval_ms_);
}

namespace {
constexpr Verdict kLate{RejectReason::kLate, "ts is before the window of the next tick"};
}  // namespace

int64_t SlidingWindow::BucketOf(int64_t ts) const { return FloorDiv(ts, interval_ms_); }

SlidingWindow::Bucket& SlidingWindow::BucketAt(int64_t bucket, uint64_t seq) {
  Bucket& b = buckets_[bucket];
  if (seq != 0) {
    b.seq_first = std::min(b.seq_first, seq);
    b.seq_last = std::max(b.seq_last, seq);
  }
  return b;
}

Verdict SlidingWindow::AddDriverPing(std::string_view driver_id, int64_t ts, ZoneIndexT zone,
                                     DriverStatus status, uint64_t seq) {
  const int64_t bucket = BucketOf(ts);
  if (bucket < current_ - window_buckets_) return kLate;
  const uint32_t slot = drivers_.FindOrCreate(driver_id);
  DriverState& d = drivers_[slot];
  auto same = std::find_if(d.entries.begin(), d.entries.end(),
                           [&](const DriverEntry& e) { return BucketOf(e.ts) == bucket; });
  Bucket& b = BucketAt(bucket, seq);
  if (same == d.entries.end()) {
    d.entries.push_back({ts, zone, status});
    b.drivers.push_back(slot);
  } else if (ts >= same->ts) {  // on equal ts the ping read later wins
    *same = {ts, zone, status};
  }
  if (bucket < current_) RecomputeDriver(slot);
  return {};
}

Verdict SlidingWindow::AddRideRequest(std::string_view rider_id, int64_t ts, ZoneIndexT zone,
                                      uint64_t seq) {
  const int64_t bucket = BucketOf(ts);
  if (bucket < current_ - window_buckets_) return kLate;
  Bucket& b = BucketAt(bucket, seq);
  if (zone == kUnzoned) return {};
  const uint32_t slot = riders_.FindOrCreate(rider_id);
  RiderState& r = riders_[slot];
  const bool known = std::any_of(r.entries.begin(), r.entries.end(), [&](const RiderEntry& e) {
    return e.bucket == bucket && e.zone == zone;
  });
  if (!known) {
    r.entries.push_back({bucket, zone});
    b.riders.push_back(slot);
    if (bucket < current_) RecomputeRider(slot);
  }
  return {};
}

void SlidingWindow::RecomputeDriver(uint32_t slot) {
  DriverState& d = drivers_[slot];
  if (d.id == nullptr) return;  // forgotten since it was listed in a bucket
  const int64_t lo = current_ - window_buckets_;
  EraseIf(d.entries, [&](const DriverEntry& e) { return BucketOf(e.ts) < lo; });
  // The latest ping in the window decides; older in-window pings can never decide again.
  const DriverEntry* latest = nullptr;
  for (const DriverEntry& e : d.entries) {
    if (BucketOf(e.ts) < current_ && (latest == nullptr || e.ts > latest->ts)) latest = &e;
  }
  ZoneIndexT now = kUnzoned;
  if (latest != nullptr) {
    const DriverEntry keep = *latest;
    EraseIf(d.entries,
            [&](const DriverEntry& e) { return BucketOf(e.ts) < current_ && e.ts != keep.ts; });
    if (keep.status == DriverStatus::kAvailable) now = keep.zone;
  }
  if (now != d.counted) {
    if (d.counted != kUnzoned) --supply_[d.counted];
    if (now != kUnzoned) ++supply_[now];
    d.counted = now;
  }
  if (d.entries.empty()) drivers_.Release(slot);
}

void SlidingWindow::RecomputeRider(uint32_t slot) {
  RiderState& r = riders_[slot];
  if (r.id == nullptr) return;
  const int64_t lo = current_ - window_buckets_;
  EraseIf(r.entries, [&](const RiderEntry& e) { return e.bucket < lo; });
  // Per zone, only the latest in-window bucket matters from now on.
  EraseIf(r.entries, [&](const RiderEntry& e) {
    if (e.bucket >= current_) return false;
    return std::any_of(r.entries.begin(), r.entries.end(), [&](const RiderEntry& o) {
      return o.zone == e.zone && o.bucket < current_ && o.bucket > e.bucket;
    });
  });
  boost::container::small_vector<ZoneIndexT, 2> now;
  for (const RiderEntry& e : r.entries) {
    if (e.bucket < current_) now.push_back(e.zone);
  }
  std::sort(now.begin(), now.end());
  now.erase(std::unique(now.begin(), now.end()), now.end());
  if (now != r.counted) {
    for (ZoneIndexT z : r.counted) --demand_[z];
    for (ZoneIndexT z : now) ++demand_[z];
    r.counted = std::move(now);
  }
  if (r.entries.empty()) riders_.Release(slot);
}

SeqRange SlidingWindow::input_seqs() const {
  SeqRange range;
  uint64_t first = UINT64_MAX;
  for (auto it = buckets_.lower_bound(current_ - window_buckets_);
       it != buckets_.end() && it->first < current_; ++it) {
    if (it->second.seq_last == 0) continue;
    first = std::min(first, it->second.seq_first);
    range.last = std::max(range.last, it->second.seq_last);
  }
  if (range.last != 0) range.first = first;
  return range;
}

void SlidingWindow::Advance() {
  assert(started_);
  const int64_t entering = current_;
  const int64_t leaving = current_ - window_buckets_;
  ++current_;
  next_tick_ += interval_ms_;
  for (int64_t bucket : {entering, leaving}) {
    auto it = buckets_.find(bucket);
    if (it == buckets_.end()) continue;
    for (uint32_t slot : it->second.drivers) RecomputeDriver(slot);
    for (uint32_t slot : it->second.riders) RecomputeRider(slot);
  }
  buckets_.erase(leaving);
}

}  // namespace pricing
