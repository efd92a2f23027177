#include "events/event.h"

namespace pricing {

std::string_view ToString(EventKind kind) {
  switch (kind) {
    case EventKind::kDriverPing:
      return "driver";
    case EventKind::kRideRequest:
      return "request";
  }
  return "unknown";
}

std::string_view ToString(DriverStatus status) {
  switch (status) {
    case DriverStatus::kAvailable:
      return "available";
    case DriverStatus::kBusy:
      return "busy";
    case DriverStatus::kOffline:
      return "offline";
  }
  return "unknown";
}

std::string_view ToString(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone:
      return "none";
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kSchema:
      return "schema";
    case RejectReason::kRange:
      return "range";
    case RejectReason::kOversize:
      return "oversize";
    case RejectReason::kLate:
      return "late";
    case RejectReason::kFuture:
      return "future";
    case RejectReason::kUnknownCity:
      return "unknown_city";
  }
  return "unknown";
}

}  // namespace pricing
