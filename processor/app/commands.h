// The subcommands of the `pricing` binary. Each returns the process exit code and
// reports problems on stderr. Run on the main thread.
#pragma once

#include <string>
#include <vector>

namespace pricing {

int RunReplayCommand(const std::vector<std::string>& args);
int RunConvertUberCommand(const std::vector<std::string>& args);

}  // namespace pricing
