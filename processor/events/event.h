// Typed input events and the reasons an input is rejected (events.md, "Validation").
// Plain values; thread-safe to copy.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace pricing {

enum class EventKind : uint8_t { kDriverPing, kRideRequest };
inline constexpr std::size_t kEventKindCount = 2;

enum class DriverStatus : uint8_t { kAvailable, kBusy, kOffline };

// Why an input was not applied. The text of each is the `Pricing-Reject-Reason`
// header and the metric label.
enum class RejectReason : uint8_t {
  kNone,
  kMalformed,
  kSchema,
  kRange,
  kOversize,
  kLate,
  kFuture,
  kUnknownCity,
};
inline constexpr std::size_t kRejectReasonCount = 8;

// What became of an input at each step of the hot path (decoding, the window, a city,
// the router): applied, or refused with a reason and a static text saying why. One
// type for every step, so a refusal travels up unchanged; the result types of the
// steps extend it with what they add (the decoded event, the city). A handling
// failure that is not the input's fault (a bug, a fault injected) is an exception,
// caught once, by the pricing operator.
struct Verdict {
  RejectReason reason = RejectReason::kNone;
  const char* detail = "";  // static text; "" when applied
  bool ok() const { return reason == RejectReason::kNone; }
  static Verdict Refused(RejectReason reason, const char* detail) { return {reason, detail}; }
};

std::string_view ToString(EventKind kind);
std::string_view ToString(DriverStatus status);
std::string_view ToString(RejectReason reason);

// One decoded, validated input. The string views point into the decoder that produced
// it and stay valid until that decoder decodes the next payload.
struct LocationEvent {
  EventKind kind = EventKind::kDriverPing;
  DriverStatus status = DriverStatus::kAvailable;  // driver pings only
  std::string_view entity_id;                      // driver_id or rider_id
  std::string_view request_id;                     // ride requests only
  double lat = 0;
  double lon = 0;
  int64_t ts = 0;  // event time, ms since the Unix epoch
};

// Per-reason counters, indexed by RejectReason.
using RejectCounts = std::array<uint64_t, kRejectReasonCount>;

}  // namespace pricing
