// The sliding window of pricing-model.md for one city: distinct available drivers by
// their latest ping, and distinct riders by their requests, per zone, over [t - W, t)
// for the next tick t still to close. Counts are kept up to date incrementally, so
// closing a tick costs work in proportion to the events that enter and leave it.
// Memory is proportional to the drivers and riders seen in the last window plus the
// events ahead of it; entities with nothing left in the window are forgotten.
// Not thread-safe; owned by the city's processing thread.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "events/event.h"
#include "zones/zone_set.h"

namespace pricing {

// First and last input stream sequence of the events in a window; 0 when none.
struct SeqRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

namespace detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Interns entity ids into dense slots that are recycled when an entity is forgotten.
template <typename State>
class EntityTable {
 public:
  uint32_t FindOrCreate(std::string_view id) {
    auto it = ids_.find(id);
    if (it != ids_.end()) return it->second;
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(states_.size());
      states_.emplace_back();
    }
    auto [pos, inserted] = ids_.emplace(std::string(id), slot);
    states_[slot] = State{};
    states_[slot].id = &pos->first;
    return slot;
  }

  void Release(uint32_t slot) {
    State& s = states_[slot];
    ids_.erase(*s.id);
    s = State{};
    free_.push_back(slot);
  }

  State& operator[](uint32_t slot) { return states_[slot]; }
  std::size_t size() const { return ids_.size(); }

 private:
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> ids_;
  std::vector<State> states_;
  std::vector<uint32_t> free_;
};

}  // namespace detail

class SlidingWindow {
 public:
  SlidingWindow(int64_t interval_ms, int64_t window_ms, std::size_t zone_count);

  // Makes `first_tick_ms` (a multiple of the interval) the next tick to close. Once
  // started, again only while the window holds nothing.
  void Start(int64_t first_tick_ms);
  bool started() const { return started_; }
  int64_t next_tick() const { return next_tick_; }
  // Events with ts before this can no longer change any output: they are late.
  int64_t late_before() const { return next_tick_ - window_ms_; }

  // `zone` may be kUnzoned: an unzoned latest ping still replaces the driver's earlier
  // ones. `seq` is the input stream sequence, 0 when the transport has none.
  Verdict AddDriverPing(std::string_view driver_id, int64_t ts, ZoneIndexT zone,
                        DriverStatus status, uint64_t seq);
  // Unzoned requests change no count but still take part in the window's sequence range.
  Verdict AddRideRequest(std::string_view rider_id, int64_t ts, ZoneIndexT zone, uint64_t seq);

  // Counts per zone for the window of next_tick().
  std::span<const int32_t> supply() const { return supply_; }
  std::span<const int32_t> demand() const { return demand_; }
  SeqRange input_seqs() const;

  // Moves on to the following tick.
  void Advance();

  std::size_t active_drivers() const { return drivers_.size(); }
  std::size_t active_riders() const { return riders_.size(); }

 private:
  struct DriverEntry {
    int64_t ts;
    ZoneIndexT zone;
    DriverStatus status;
  };
  struct DriverState {
    // At most one entry per bucket; once the window is past a bucket only the latest
    // in-window entry survives, so this stays at one or two entries.
    boost::container::small_vector<DriverEntry, 2> entries;
    ZoneIndexT counted = kUnzoned;  // the zone whose supply includes this driver
    const std::string* id = nullptr;
  };
  struct RiderEntry {
    int64_t bucket;
    ZoneIndexT zone;
  };
  struct RiderState {
    boost::container::small_vector<RiderEntry, 2> entries;  // one per (bucket, zone)
    boost::container::small_vector<ZoneIndexT, 2> counted;  // zones whose demand has them
    const std::string* id = nullptr;
  };
  // Entities with an entry in one interval of event time; revisited when the interval
  // enters or leaves the window.
  struct Bucket {
    std::vector<uint32_t> drivers;
    std::vector<uint32_t> riders;
    uint64_t seq_first = UINT64_MAX;
    uint64_t seq_last = 0;
  };

  int64_t BucketOf(int64_t ts) const;
  Bucket& BucketAt(int64_t bucket, uint64_t seq);
  void RecomputeDriver(uint32_t slot);
  void RecomputeRider(uint32_t slot);

  const int64_t interval_ms_;
  const int64_t window_ms_;
  const int64_t window_buckets_;  // W / I
  bool started_ = false;
  int64_t next_tick_ = 0;
  int64_t current_ = 0;  // bucket of next_tick_: the window is [current_ - W/I, current_)

  std::vector<int32_t> supply_;
  std::vector<int32_t> demand_;
  std::map<int64_t, Bucket> buckets_;
  detail::EntityTable<DriverState> drivers_;
  detail::EntityTable<RiderState> riders_;
};

}  // namespace pricing
