// Readiness: what /readyz answers and pricing_ready exports. Evaluated from a snapshot
// of the processor's state every health_check_interval_seconds; pure and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pricing {

// Processors that share one durable consumer: one is active, the others stand by.
enum class Role : uint8_t { kNone, kStandby, kActive };  // kNone: a backend without roles
const char* ToString(Role role);                         // "", "standby", "active"

struct HealthSnapshot {
  Role role = Role::kNone;
  std::string role_detail;  // standby: what it waits for
  bool processing = false;  // recovery done, the fetch loop runs
  // The transport's check: nats_connected, or kafka_connected (a broker answered).
  std::string connection_check = "nats_connected";
  bool connected = false;
  std::vector<std::string> missing_streams;  // or topics
  std::optional<uint64_t> consumer_pending;  // unset: consumer info could not be read
  std::string consumer_error;
  // By city: seconds since the end of its last closed tick's window, or since the
  // processing began when no tick has closed yet.
  std::map<std::string, double> tick_age_seconds;
  // Stage 2 of partitioned pricing only: what holds a city's tick ("" when nothing).
  std::optional<std::string> partitions_holding;
};

struct HealthLimits {
  uint64_t max_consumer_lag = 100000;
  double max_tick_age_seconds = 0;
};

struct HealthCheck {
  // processing, nats_connected (kafka_connected), streams_present, consumer_lag, tick_age,
  // partitions (stage 2)
  std::string name;
  bool ok = false;
  std::string detail;
};

struct Readiness {
  bool ready = false;
  Role role = Role::kNone;
  int64_t evaluated_at_ms = 0;
  std::vector<HealthCheck> checks;
  // {"ready":..,"role":..,"checks":[{"name":..,"ok":..,"detail":..}]} ("role" when it has one)
  std::string ToJson() const;
};

Readiness EvaluateReadiness(const HealthSnapshot& s, const HealthLimits& limits);

}  // namespace pricing
