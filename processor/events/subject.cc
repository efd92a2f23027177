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
    out = {EventKind::kDriverPing, subject.substr(kDriver.size()), {}};
  } else if (subject.starts_with(kRequest)) {
    out = {EventKind::kRideRequest, subject.substr(kRequest.size()), {}};
  } else {
    return std::nullopt;
  }
  if (const std::size_t dot = out.city.find('.'); dot != std::string_view::npos) {
    out.routing = out.city.substr(dot + 1);
    out.city = out.city.substr(0, dot);
    if (out.routing.empty() || out.routing.find('.') != std::string_view::npos) return std::nullopt;
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

std::string PartialSubject(std::string_view city, int32_t partition) {
  return "pricing.partial." + std::string(city) + "." + std::to_string(partition);
}

std::optional<PartialSubjectParts> ParsePartialSubject(std::string_view subject) {
  constexpr std::string_view kPrefix = "pricing.partial.";
  if (!subject.starts_with(kPrefix)) return std::nullopt;
  const std::string_view rest = subject.substr(kPrefix.size());
  const std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  PartialSubjectParts out;
  out.city = rest.substr(0, dot);
  const std::string_view number = rest.substr(dot + 1);
  if (!IsValidCityKey(out.city) || number.empty() || number.size() > 4) return std::nullopt;
  for (char c : number) {
    if (c < '0' || c > '9') return std::nullopt;
    out.partition = out.partition * 10 + (c - '0');
  }
  return out;
}

std::string CheckpointSubject(std::string_view city, int32_t counted_partition) {
  std::string s = "pricing.state." + std::string(city);
  if (counted_partition >= 0) s += ".p" + std::to_string(counted_partition);
  return s;
}

std::string DeadLetterSubject(std::string_view city) {
  return "dlq.location." + std::string(IsValidCityKey(city) ? city : "unknown");
}

}  // namespace pricing
