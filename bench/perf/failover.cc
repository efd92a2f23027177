#include "perf/failover.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "perf/payload.h"
#include "perf/runner.h"
#include "perf/schedule.h"

namespace pricing::perf {
namespace {

// The longest gap between consecutive times at or after `from` (the first one counts
// from `from` itself, the last one up to `until`), and the time that ended it (0: none
// came after it before `until`).
std::pair<int64_t, int64_t> LongestGap(std::vector<int64_t> times, int64_t from, int64_t until) {
  std::sort(times.begin(), times.end());
  int64_t longest = 0, ended = 0, previous = from;
  for (int64_t t : times) {
    if (t < from) continue;
    if (t - previous > longest) {
      longest = t - previous;
      ended = t;
    }
    previous = t;
  }
  if (until - previous > longest) return {until - previous, 0};
  return {longest, ended};
}

}  // namespace

FailoverResult RunFailover(Backend& backend, const CellSpec& cell, double kill_after_s,
                           const std::function<std::string(std::string* error)>& kill) {
  FailoverResult r;
  r.backend = cell.backend;
  r.label = backend.Label();
  r.durability = backend.Durability();
  r.consumer = backend.Consumer();
  r.rate = cell.rate;
  r.seconds = cell.seconds;
  const uint64_t planned = static_cast<uint64_t>(std::llround(cell.seconds * cell.rate));

  std::mutex mu;
  std::vector<uint8_t> received(planned, 0), acked(planned, 0);
  std::vector<int64_t> receive_times, ack_times;
  receive_times.reserve(planned);
  ack_times.reserve(planned);
  auto on_receive = [&](const void* data, std::size_t len, int64_t now) {
    const auto stamp = ReadStamp(data, len);
    std::lock_guard<std::mutex> lock(mu);
    if (!stamp || stamp->seq >= planned) return;
    if (received[stamp->seq]++ > 0) {
      ++r.duplicates;
      return;
    }
    receive_times.push_back(now);
  };
  auto on_ack = [&](const void* data, std::size_t len, int64_t now, bool ok) {
    const auto stamp = ReadStamp(data, len);
    std::lock_guard<std::mutex> lock(mu);
    if (!ok) {
      ++r.ack_errors;
      return;
    }
    if (!stamp || stamp->seq >= planned) return;
    acked[stamp->seq] = 1;
    ack_times.push_back(now);
  };
  backend.Open(cell, on_receive, on_ack);

  std::string payload(std::max(cell.message_bytes, kStampBytes), 'x');
  const OpenLoopSchedule schedule(MonoNowNs() + 20'000'000, cell.rate);
  const int64_t kill_due = schedule.IntendedNs(0) + static_cast<int64_t>(kill_after_s * 1e9);
  int64_t killed_at = 0;
  // The kill runs on a thread of its own: a sender blocked on a full window must not
  // delay it, and it must not stall the sender.
  std::thread killer([&] {
    while (MonoNowNs() < kill_due) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::string error;
    const std::string name = kill(&error);
    std::lock_guard<std::mutex> lock(mu);
    killed_at = MonoNowNs();
    r.killed = name;
    r.error = error;
  });
  for (uint64_t i = 0; i < planned;) {
    const uint64_t due = std::min<uint64_t>(planned, schedule.DueBy(MonoNowNs()));
    if (i >= due) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    for (; i < due; ++i) {
      WriteStamp(payload, Stamp{i, schedule.IntendedNs(i), MonoNowNs()});
      if (backend.Send(static_cast<int>(i % static_cast<uint64_t>(cell.partitions)), payload)) {
        ++r.sent;
      } else {
        ++r.send_errors;
      }
    }
  }
  killer.join();
  // The run's end for the gaps: acks or messages that never came back before it count as
  // an outage up to it.
  const int64_t sent_until = MonoNowNs();
  backend.Flush(60'000);
  // Then every message: wait while they still come in (15 s of nothing: the rest is
  // lost, or was never stored).
  auto received_count = [&]() -> uint64_t {
    std::lock_guard<std::mutex> lock(mu);
    return receive_times.size();
  };
  WaitWhileArriving([&] { return received_count() >= r.sent; }, received_count, 15'000'000'000);
  backend.Close();

  std::lock_guard<std::mutex> lock(mu);
  r.acked = ack_times.size();
  r.received = receive_times.size();
  for (uint64_t i = 0; i < planned; ++i) r.lost += acked[i] && !received[i];
  if (killed_at > 0) {
    r.publish_outage_s =
        static_cast<double>(LongestGap(ack_times, killed_at, sent_until).first) / 1e9;
    const auto [stall, ended] = LongestGap(receive_times, killed_at, sent_until);
    r.consume_stall_s = static_cast<double>(stall) / 1e9;
    r.resumed_after_s = ended > 0 ? static_cast<double>(ended - killed_at) / 1e9 : 0;
  }
  return r;
}

}  // namespace pricing::perf
