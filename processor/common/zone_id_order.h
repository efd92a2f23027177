// The order in which zone ids are ranked, which decides the tie rule of the spec
// ("the zone whose id sorts first wins"). Pure functions; thread-safe.
#pragma once

#include <string_view>

namespace pricing {

// True when `a` sorts before `b`. Two integer ids (optional '-', decimal digits, fits
// in 64 bits) compare as numbers, two other ids as byte strings, as the spec says.
// The spec leaves mixed pairs open and its pairwise rule is not a strict order for
// them (2 < 10 numerically, "10" < "1a" and "1a" < "2" as strings), so an integer id
// sorts before any non-integer id. Equal numbers ("7", "07") fall back to the string.
bool ZoneIdLess(std::string_view a, std::string_view b);

}  // namespace pricing
