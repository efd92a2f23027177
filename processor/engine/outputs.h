// Turns a closed tick into the output messages of events.md: one PRICING_UPDATES
// message per zone, one WEBSOCKET_EVENTS and one ANALYTICS_EVENTS message, each with
// its deterministic message id. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "engine/city_engine.h"

namespace pricing {

struct OutputMessage {
  std::string subject;
  std::string msg_id;  // Nats-Msg-Id: makes a republished tick a broker-side duplicate
  std::string payload;
};

// Messages of one tick in publishing order: zone updates (by zone index), the surge
// event, then the analytics summary.
std::vector<OutputMessage> EncodeTick(const TickResult& tick, const ZoneSet& zones);

std::string PricingUpdateMsgId(std::string_view city, std::string_view zone_id, int64_t tick);
std::string TickMsgId(std::string_view city, int64_t tick);

// A zone surges when its published multiplier is above 1.
inline constexpr double kSurgeThreshold = 1.0;

}  // namespace pricing
