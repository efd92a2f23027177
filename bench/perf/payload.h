// What every benchmark message carries in front of its padding: a sequence number,
// the intended send time (from the schedule) and the actual send time, both
// CLOCK_MONOTONIC nanoseconds, little-endian as the machine writes them.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

namespace pricing::perf {

struct Stamp {
  uint64_t seq = 0;
  int64_t intended_ns = 0;
  int64_t sent_ns = 0;
};

inline constexpr std::size_t kStampBytes = 28;       // magic, seq, intended, sent
inline constexpr uint32_t kStampMagic = 0x50524346;  // "PRCF": tells a stamp from junk

// Writes the stamp into the first bytes of `payload` (at least kStampBytes long).
inline void WriteStamp(std::string& payload, const Stamp& s) {
  char* p = payload.data();
  std::memcpy(p, &kStampMagic, 4);
  std::memcpy(p + 4, &s.seq, 8);
  std::memcpy(p + 12, &s.intended_ns, 8);
  std::memcpy(p + 20, &s.sent_ns, 8);
}

inline std::optional<Stamp> ReadStamp(const void* data, std::size_t len) {
  if (data == nullptr || len < kStampBytes) return std::nullopt;
  const char* p = static_cast<const char*>(data);
  uint32_t magic = 0;
  std::memcpy(&magic, p, 4);
  if (magic != kStampMagic) return std::nullopt;
  Stamp s;
  std::memcpy(&s.seq, p + 4, 8);
  std::memcpy(&s.intended_ns, p + 12, 8);
  std::memcpy(&s.sent_ns, p + 20, 8);
  return s;
}

}  // namespace pricing::perf
