// Minimal command-line flags: `--name value` or `--name=value`, and boolean `--name`.
// Unknown flags are an error naming the allowed ones. Not thread-safe; used in main.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pricing {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Flags {
 public:
  // `valued` take a value; `switches` do not.
  Flags(const std::vector<std::string>& args, const std::vector<std::string>& valued,
        const std::vector<std::string>& switches = {});

  std::optional<std::string> Get(const std::string& name) const;
  std::string Require(const std::string& name) const;
  int64_t GetInt(const std::string& name, int64_t fallback) const;
  bool Has(const std::string& name) const { return values_.count(name) != 0; }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace pricing
