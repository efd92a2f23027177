// Broken configuration. The message names the file, the key, the value and what is
// allowed; it is meant to be printed as-is before exiting.
#pragma once

#include <stdexcept>

namespace pricing {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace pricing
