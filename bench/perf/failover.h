// Beyond OMB: the leader of the stream or partition SIGKILLed mid-run, at a fixed
// open-loop rate, for each system alike. What it costs: the publish outage (the longest
// gap between two acknowledgements), how long consumption stood still, acknowledged
// messages lost and messages received twice.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "perf/backend.h"

namespace pricing::perf {

struct FailoverResult {
  std::string backend, label, durability, consumer;
  double rate = 0;
  double seconds = 0;
  std::string killed;  // the node, e.g. "nats-2" or "kafka-1"; empty: none could be
  std::string error;   // why the run could not kill or measure, when it could not
  uint64_t sent = 0, send_errors = 0, acked = 0, ack_errors = 0;
  uint64_t received = 0, lost = 0, duplicates = 0;
  double publish_outage_s = 0;  // the longest gap between two acks, after the kill
  double consume_stall_s = 0;   // the longest gap between two receives, after the kill
  double resumed_after_s = 0;   // from the kill to the first receive after that gap
};

// Sends at `cell.rate` for `cell.seconds`, and after `kill_after_s` calls `kill`, which
// SIGKILLs the current leader and returns its name (empty and an error: not killed).
FailoverResult RunFailover(Backend& backend, const CellSpec& cell, double kill_after_s,
                           const std::function<std::string(std::string* error)>& kill);

}  // namespace pricing::perf
