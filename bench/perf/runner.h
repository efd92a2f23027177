// Runs one cell of the comparison: an open-loop sender on its schedule, every message
// stamped with its intended and actual send time, three latency histograms (end to
// end from the intended time, end to end from the actual send, publish to ack), a
// warm-up that is sent but not recorded, and a verdict on whether the rate held.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "perf/backend.h"
#include "perf/histogram.h"
#include "perf/proc_usage.h"

namespace pricing::perf {

struct CellResult {
  CellSpec spec;
  std::string label;
  std::string durability;
  std::string consumer;  // how it was read (Backend::Consumer)
  bool has_acks = false;

  uint64_t planned = 0;  // messages on the schedule, warm-up included
  uint64_t sent = 0;
  uint64_t send_errors = 0;
  uint64_t received = 0;  // distinct messages received, warm-up included
  uint64_t duplicates = 0;
  uint64_t lost = 0;  // sent but never received within the drain time
  uint64_t acked = 0;
  uint64_t ack_errors = 0;
  double send_rate = 0;         // achieved over the measured part
  double receive_rate = 0;      // measured-part messages over their arrival span
  int64_t end_send_lag_ns = 0;  // how late the last message left, against its schedule

  LatencyHistogram e2e_intended;  // receive - intended send: corrected for coordinated omission
  LatencyHistogram e2e_sent;      // receive - actual send: what a closed loop would report
  LatencyHistogram ack;           // ack - actual send

  // What the measured part cost: each server process, and this process (every client
  // thread: sender, receiver, the client libraries' own).
  std::vector<ProcCost> servers;
  ProcCost client;
  double ServerCpuPercent() const;
  int64_t ServerRssBytes() const;

  bool sustainable = false;
  std::string verdict;  // why not, when not
};

// Limits of a sustainable rate: every message sent, stored and received; the sender
// no further behind its schedule at the end than kMaxEndLagNs; the corrected p99 under
// kMaxP99Ns (a growing backlog shows there first).
inline constexpr int64_t kMaxEndLagNs = 200'000'000;
inline constexpr int64_t kMaxP99Ns = 1'000'000'000;

CellResult RunCell(Backend& backend, const CellSpec& cell);

// The drain after a run: returns once `done()`, or once `arrived()` (a count of what
// came in) has not moved for `quiet_ns`: what is still missing then is lost.
void WaitWhileArriving(const std::function<bool()>& done, const std::function<uint64_t()>& arrived,
                       int64_t quiet_ns);

}  // namespace pricing::perf
