// The live map page and its script (gateway/web/), compiled into the binary by
// cmake/EmbedWebAssets.cmake: the page works offline and without files next to it.
#pragma once

#include <string_view>

namespace pricing {

std::string_view MapHtml();
std::string_view MapJs();

}  // namespace pricing
