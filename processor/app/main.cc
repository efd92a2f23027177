// pricing: the surge pricing processor's command-line entry point.
#include <iostream>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/flags.h"
#include "config/config.h"

namespace {

constexpr const char* kUsage = R"(usage: pricing COMMAND [FLAGS]

commands:
  replay --config FILE --events FILE.jsonl [--out FILE] [--top N] [--quiet]
      Run the pricing core over a JSON Lines file of input messages on an event-time
      clock; write every output message as JSON Lines (stdout by default) and print
      the most-surging zones to stderr.
  convert-uber --csv FILE --out FILE.jsonl [--city nyc] [--from TIME] [--to TIME]
               [--drivers N] [--ping-seconds S] [--seed N]
      Turn the Uber pickups CSV into ride requests (New York local TIME as
      YYYY-MM-DDTHH:MM) and mix in N reproducible synthetic drivers.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "replay") return pricing::RunReplayCommand(args);
    if (command == "convert-uber") return pricing::RunConvertUberCommand(args);
    std::cerr << "pricing: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const pricing::ConfigError& e) {
    std::cerr << "pricing: configuration error: " << e.what() << "\n";
    return 78;  // EX_CONFIG
  } catch (const pricing::UsageError& e) {
    std::cerr << "pricing " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pricing " << command << ": " << e.what() << "\n";
    return 1;
  }
}
