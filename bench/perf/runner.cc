#include "perf/runner.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "perf/payload.h"
#include "perf/schedule.h"

namespace pricing::perf {
namespace {

void SleepUntil(int64_t mono_ns) {
  timespec ts;
  ts.tv_sec = mono_ns / 1'000'000'000;
  ts.tv_nsec = mono_ns % 1'000'000'000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

void WaitWhileArriving(const std::function<bool()>& done, const std::function<uint64_t()>& arrived,
                       int64_t quiet_ns) {
  int64_t last_progress = MonoNowNs();
  uint64_t last_count = 0;
  while (!done()) {
    const uint64_t got = arrived();
    if (got != last_count) {
      last_count = got;
      last_progress = MonoNowNs();
    } else if (MonoNowNs() - last_progress > quiet_ns) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

double CellResult::ServerCpuPercent() const {
  double sum = 0;
  for (const ProcCost& c : servers) sum += c.cpu_percent;
  return sum;
}

int64_t CellResult::ServerRssBytes() const {
  int64_t sum = 0;
  for (const ProcCost& c : servers) sum += c.rss_bytes;
  return sum;
}

CellResult RunCell(Backend& backend, const CellSpec& cell) {
  CellResult r;
  r.spec = cell;
  r.label = backend.Label();
  r.durability = backend.Durability();
  r.consumer = backend.Consumer();
  r.has_acks = backend.HasAcks();
  r.planned = static_cast<uint64_t>(std::llround((cell.warmup_seconds + cell.seconds) * cell.rate));
  const uint64_t first_measured =
      static_cast<uint64_t>(std::llround(cell.warmup_seconds * cell.rate));

  // Receiver side (one receiving thread per backend; the lock keeps it simple and
  // makes the final read safe).
  std::mutex recv_mu;
  std::vector<uint8_t> seen(r.planned, 0);
  int64_t first_measured_recv = 0, last_measured_recv = 0;
  uint64_t measured_received = 0;
  auto on_receive = [&](const void* data, std::size_t len, int64_t now) {
    const auto stamp = ReadStamp(data, len);
    std::lock_guard<std::mutex> lock(recv_mu);
    if (!stamp || stamp->seq >= r.planned) return;
    if (seen[stamp->seq]) {
      ++r.duplicates;
      return;
    }
    seen[stamp->seq] = 1;
    ++r.received;
    if (stamp->seq < first_measured) return;
    ++measured_received;
    if (first_measured_recv == 0) first_measured_recv = now;
    last_measured_recv = now;
    r.e2e_intended.Record(now - stamp->intended_ns);
    r.e2e_sent.Record(now - stamp->sent_ns);
  };
  std::mutex ack_mu;
  auto on_ack = [&](const void* data, std::size_t len, int64_t now, bool ok) {
    const auto stamp = ReadStamp(data, len);
    std::lock_guard<std::mutex> lock(ack_mu);
    if (!ok) {
      ++r.ack_errors;
      return;
    }
    ++r.acked;
    if (stamp && stamp->seq >= first_measured && stamp->seq < r.planned)
      r.ack.Record(now - stamp->sent_ns);
  };

  backend.Open(cell, on_receive, on_ack);
  CostMeter server_cost(backend.ServerPids()), client_cost({0});

  std::string payload(std::max(cell.message_bytes, kStampBytes), 'x');
  const OpenLoopSchedule schedule(MonoNowNs() + 20'000'000, cell.rate);
  int64_t first_measured_send = 0, last_send = 0;
  uint64_t i = 0;
  while (i < r.planned) {
    const uint64_t due = std::min<uint64_t>(r.planned, schedule.DueBy(MonoNowNs()));
    if (i >= due) {
      SleepUntil(schedule.IntendedNs(i));
      continue;
    }
    // Everything due goes now, each stamped as it leaves: a late sender shows in the
    // corrected latency rather than quietly sending less.
    for (; i < due; ++i) {
      Stamp s{i, schedule.IntendedNs(i), MonoNowNs()};
      WriteStamp(payload, s);
      if (backend.Send(static_cast<int>(i % static_cast<uint64_t>(cell.partitions)), payload)) {
        ++r.sent;
      } else {
        ++r.send_errors;
      }
      last_send = s.sent_ns;
      if (i == first_measured) {
        first_measured_send = s.sent_ns;
        server_cost.Start(s.sent_ns);
        client_cost.Start(s.sent_ns);
      }
      if (i + 1 == r.planned) r.end_send_lag_ns = s.sent_ns - s.intended_ns;
    }
  }
  // The cost of the measured sending (the drain that follows is idle time).
  if (first_measured_send > 0) {
    const int64_t now = MonoNowNs();
    r.servers = server_cost.Stop(now);
    const std::vector<ProcCost> self = client_cost.Stop(now);
    if (!self.empty()) r.client = self.front();
  }
  if (r.planned > first_measured + 1 && last_send > first_measured_send) {
    r.send_rate = static_cast<double>(r.planned - first_measured - 1) /
                  (static_cast<double>(last_send - first_measured_send) / 1e9);
  }

  // Every ack, then every message: wait while they still come in.
  if (r.has_acks) backend.Flush(30'000);
  auto received = [&] {
    std::lock_guard<std::mutex> lock(recv_mu);
    return r.received;
  };
  WaitWhileArriving([&] { return received() >= r.sent; }, received, 5'000'000'000);
  backend.Close();

  std::lock_guard<std::mutex> lock(recv_mu);
  std::lock_guard<std::mutex> ack_lock(ack_mu);
  r.lost = r.sent > r.received ? r.sent - r.received : 0;
  if (measured_received > 1 && last_measured_recv > first_measured_recv) {
    r.receive_rate = static_cast<double>(measured_received - 1) /
                     (static_cast<double>(last_measured_recv - first_measured_recv) / 1e9);
  }
  std::string why;
  if (r.send_errors > 0) why += "send errors; ";
  if (r.ack_errors > 0) why += "failed acks; ";
  if (r.lost > 0) why += "messages lost; ";
  if (r.end_send_lag_ns > kMaxEndLagNs) why += "sender fell behind its schedule; ";
  if (r.e2e_intended.ValueAtPercentile(99) > kMaxP99Ns) why += "corrected p99 over 1 s; ";
  r.sustainable = why.empty();
  r.verdict = r.sustainable ? "sustained" : why.substr(0, why.size() - 2);
  return r;
}

}  // namespace pricing::perf
