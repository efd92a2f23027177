#include "app/flags.h"

#include <algorithm>

namespace pricing {

Flags::Flags(const std::vector<std::string>& args, const std::vector<std::string>& valued,
             const std::vector<std::string>& switches) {
  const auto allowed = [&] {
    std::string s;
    for (const auto& v : valued) s += " --" + v + " VALUE";
    for (const auto& v : switches) s += " --" + v;
    return s;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0)
      throw UsageError("unexpected argument '" + arg + "'; allowed:" + allowed());
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const bool takes_value = std::count(valued.begin(), valued.end(), name) != 0;
    const bool is_switch = std::count(switches.begin(), switches.end(), name) != 0;
    if (!takes_value && !is_switch)
      throw UsageError("unknown flag '--" + name + "'; allowed:" + allowed() +
                       " (--help prints the command's usage)");
    if (takes_value && !value) {
      if (i + 1 >= args.size()) throw UsageError("flag '--" + name + "' needs a value");
      value = args[++i];
    }
    values_[name] = value.value_or("true");
  }
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Flags::Require(const std::string& name) const {
  auto v = Get(name);
  if (!v) throw UsageError("missing required flag '--" + name + "'");
  return *v;
}

int64_t Flags::GetInt(const std::string& name, int64_t fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  try {
    std::size_t used = 0;
    const int64_t n = std::stoll(*v, &used);
    if (used == v->size()) return n;
  } catch (const std::exception&) {
  }
  throw UsageError("flag '--" + name + "' needs an integer, got '" + *v + "'");
}

}  // namespace pricing
