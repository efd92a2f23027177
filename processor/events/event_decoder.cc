#include "events/event_decoder.h"

#include <simdjson.h>

#include <cmath>
#include <cstring>
#include <new>
#include <vector>

namespace pricing {

struct EventDecoder::Impl {
  simdjson::dom::parser parser;
  std::vector<char> buffer;  // payload copy with the padding simdjson reads past the end
};

namespace {

DecodeResult Reject(RejectReason reason, const char* detail) {
  DecodeResult r;
  static_cast<Verdict&>(r) = Verdict::Refused(reason, detail);
  return r;
}

struct IdField {
  const char* key;
  const char* missing;
  const char* not_string;
  const char* bad_length;
};
constexpr IdField kDriverId{"driver_id", "driver_id missing", "driver_id is not a string",
                            "driver_id is empty or longer than 64 bytes"};
constexpr IdField kRequestId{"request_id", "request_id missing", "request_id is not a string",
                             "request_id is empty or longer than 64 bytes"};
constexpr IdField kRiderId{"rider_id", "rider_id missing", "rider_id is not a string",
                           "rider_id is empty or longer than 64 bytes"};

// Reads a required id: a string of 1..64 bytes. Returns the problem, or nullptr.
const char* ReadId(const simdjson::dom::object& obj, const IdField& field, std::string_view* out) {
  simdjson::dom::element value;
  if (obj[field.key].get(value)) return field.missing;
  if (value.get_string().get(*out)) return field.not_string;
  if (out->empty() || out->size() > EventDecoder::kMaxIdBytes) return field.bad_length;
  return nullptr;
}

}  // namespace

EventDecoder::EventDecoder() : impl_(std::make_unique<Impl>()) {
  impl_->buffer.resize(kMaxPayloadBytes + simdjson::SIMDJSON_PADDING);
  // Reserve once for the largest accepted payload so parsing never allocates.
  if (impl_->parser.allocate(kMaxPayloadBytes) != simdjson::SUCCESS) throw std::bad_alloc();
}

EventDecoder::~EventDecoder() = default;

DecodeResult EventDecoder::Decode(EventKind kind, std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) {
    return Reject(RejectReason::kOversize, "payload larger than 4096 bytes");
  }
  std::memcpy(impl_->buffer.data(), payload.data(), payload.size());
  std::memset(impl_->buffer.data() + payload.size(), 0, simdjson::SIMDJSON_PADDING);

  simdjson::dom::element root;
  if (impl_->parser.parse(impl_->buffer.data(), payload.size(), false).get(root)) {
    return Reject(RejectReason::kMalformed, "not valid UTF-8 JSON");
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) {
    return Reject(RejectReason::kMalformed, "not a JSON object");
  }

  DecodeResult r;
  LocationEvent& e = r.event;
  e.kind = kind;
  if (kind == EventKind::kDriverPing) {
    if (const char* problem = ReadId(obj, kDriverId, &e.entity_id)) {
      return Reject(RejectReason::kSchema, problem);
    }
  } else {
    if (const char* problem = ReadId(obj, kRequestId, &e.request_id)) {
      return Reject(RejectReason::kSchema, problem);
    }
    if (const char* problem = ReadId(obj, kRiderId, &e.entity_id)) {
      return Reject(RejectReason::kSchema, problem);
    }
  }

  simdjson::dom::element value;
  // Integers are accepted for coordinates; get_double converts them.
  if (obj["lat"].get(value) || value.get_double().get(e.lat)) {
    return Reject(RejectReason::kSchema, "lat missing or not a number");
  }
  if (obj["lon"].get(value) || value.get_double().get(e.lon)) {
    return Reject(RejectReason::kSchema, "lon missing or not a number");
  }
  if (obj["ts"].get(value)) return Reject(RejectReason::kSchema, "ts missing");
  if (value.get_int64().get(e.ts)) {
    return Reject(RejectReason::kSchema, "ts is not an integer of milliseconds");
  }
  if (kind == EventKind::kDriverPing) {
    std::string_view status;
    if (obj["status"].get(value) || value.get_string().get(status)) {
      return Reject(RejectReason::kSchema, "status missing or not a string");
    }
    if (status == "available") {
      e.status = DriverStatus::kAvailable;
    } else if (status == "busy") {
      e.status = DriverStatus::kBusy;
    } else if (status == "offline") {
      e.status = DriverStatus::kOffline;
    } else {
      return Reject(RejectReason::kSchema, "status is not one of available, busy, offline");
    }
  }
  if (!std::isfinite(e.lat) || !std::isfinite(e.lon) || e.lat < -90 || e.lat > 90 || e.lon < -180 ||
      e.lon > 180) {
    return Reject(RejectReason::kRange, "lat outside [-90, 90] or lon outside [-180, 180]");
  }
  return r;
}

}  // namespace pricing
