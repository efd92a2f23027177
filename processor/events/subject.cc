#include "events/subject.h"

namespace pricing {

bool IsValidCityKey(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::optional<InputSubject> ParseInputSubject(std::string_view subject) {
  constexpr std::string_view kDriver = "location.driver.";
  constexpr std::string_view kRequest = "location.request.";
  InputSubject out{};
  if (subject.starts_with(kDriver)) {
    out = {EventKind::kDriverPing, subject.substr(kDriver.size())};
  } else if (subject.starts_with(kRequest)) {
    out = {EventKind::kRideRequest, subject.substr(kRequest.size())};
  } else {
    return std::nullopt;
  }
  if (!IsValidCityKey(out.city)) return std::nullopt;
  return out;
}

std::string PricingUpdateSubject(std::string_view city, std::string_view zone_id) {
  std::string s = "pricing.update.";
  s.append(city).push_back('.');
  s.append(zone_id);
  return s;
}

std::string SurgeEventSubject(std::string_view city) { return "ws.surge." + std::string(city); }

std::string AnalyticsSubject(std::string_view city) {
  return "analytics.tick." + std::string(city);
}

std::string DeadLetterSubject(std::string_view city) {
  return "dlq.location." + std::string(IsValidCityKey(city) ? city : "unknown");
}

}  // namespace pricing
