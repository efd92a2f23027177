// Fuzzes EventDecoder::Decode and ParseInputSubject. The first byte picks the kind;
// the rest is the payload. Beyond "no crash, no sanitizer report", every accepted
// event must satisfy what events.md promises the rest of the pipeline.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "events/event_decoder.h"
#include "events/subject.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static pricing::EventDecoder decoder;
  if (size == 0) return 0;
  const auto kind =
      (data[0] & 1) ? pricing::EventKind::kRideRequest : pricing::EventKind::kDriverPing;
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  const pricing::DecodeResult r = decoder.Decode(kind, payload);
  // The subject parser sees the same bytes as a subject.
  pricing::ParseInputSubject(payload);
  if (!r.ok()) {
    Check(r.detail != nullptr, "a reject without detail");
    return 0;
  }
  const pricing::LocationEvent& e = r.event;
  Check(payload.size() <= pricing::EventDecoder::kMaxPayloadBytes, "oversize accepted");
  Check(std::isfinite(e.lat) && std::isfinite(e.lon), "non-finite position accepted");
  Check(e.lat >= -90 && e.lat <= 90 && e.lon >= -180 && e.lon <= 180, "position out of range");
  Check(!e.entity_id.empty() && e.entity_id.size() <= pricing::EventDecoder::kMaxIdBytes,
        "entity id empty or too long");
  Check(e.kind == kind, "kind changed");
  if (kind == pricing::EventKind::kRideRequest) {
    Check(!e.request_id.empty() && e.request_id.size() <= pricing::EventDecoder::kMaxIdBytes,
          "request id empty or too long");
  }
  return 0;
}
