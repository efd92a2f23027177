// The subcommands of the `pricing` binary. Each returns the process exit code and
// reports problems on stderr. Run on the main thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace pricing {

struct Config;

int RunReplayCommand(const std::vector<std::string>& args);
// LOCATION_EVENTS stored in [since_ms, until_ms), as replay lines (payloads kept as
// stored, as JSON strings, with their headers), from the configuration's cluster.
std::string ReadStoredEvents(const Config& config, int64_t since_ms, int64_t until_ms);
int RunBacktestCommand(const std::vector<std::string>& args);
int RunConvertUberCommand(const std::vector<std::string>& args);

}  // namespace pricing

namespace pricing {

// Set by SIGINT/SIGTERM; long-running commands stop cleanly when it is.
const std::atomic<bool>& StopRequested();
void InstallStopHandlers();

int RunLiveCommand(const std::vector<std::string>& args);
int RunSimulateCommand(const std::vector<std::string>& args);
int RunStreamsCommand(const std::vector<std::string>& args);
int RunConsumerCommand(const std::vector<std::string>& args);
int RunConfigCommand(const std::vector<std::string>& args);
int RunGatewayCommand(const std::vector<std::string>& args);
int RunWatchCommand(const std::vector<std::string>& args);

}  // namespace pricing
