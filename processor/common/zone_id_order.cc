#include "common/zone_id_order.h"

#include <charconv>
#include <cstdint>
#include <optional>

namespace pricing {
namespace {

std::optional<int64_t> AsInteger(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  if (s[0] == '+') return std::nullopt;
  return value;
}

}  // namespace

bool ZoneIdLess(std::string_view a, std::string_view b) {
  const auto ia = AsInteger(a);
  const auto ib = AsInteger(b);
  if (ia && ib) {
    if (*ia != *ib) return *ia < *ib;
    return a < b;
  }
  if (ia.has_value() != ib.has_value()) return ia.has_value();
  return a < b;
}

}  // namespace pricing
