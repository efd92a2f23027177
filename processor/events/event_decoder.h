// Decodes and validates one input payload (events.md) into a LocationEvent, or says
// why it is rejected. Never throws on bad input. Not thread-safe: one decoder per
// processing thread, reused for every message (it keeps its parse buffers).
#pragma once

#include <memory>
#include <string_view>

#include "events/event.h"

namespace pricing {

// ok(): `event` is valid.
struct DecodeResult : Verdict {
  LocationEvent event;
};

class EventDecoder {
 public:
  static constexpr std::size_t kMaxPayloadBytes = 4096;
  static constexpr std::size_t kMaxIdBytes = 64;

  EventDecoder();
  ~EventDecoder();
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // Checks size, JSON, schema and ranges; event time checks (late, future) belong to
  // the window. The event's views stay valid until the next call.
  DecodeResult Decode(EventKind kind, std::string_view payload);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pricing
