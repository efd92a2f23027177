// pricing: the surge pricing processor's command-line entry point.
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/flags.h"
#include "common/exec_again.h"
#include "common/open_files.h"
#include "config/config.h"
#include "transport/nats_handles.h"

namespace {

constexpr const char* kUsage = R"(usage: pricing COMMAND [FLAGS]

commands:
  run --config FILE [--http-port N] [--stage whole|count|price] [--partition P]
      The live processor: consume LOCATION_EVENTS from the NATS cluster of the
      configuration (nats_url), publish prices; SIGINT/SIGTERM stop it cleanly.
      Serves /metrics, /healthz, /readyz and, unless gateway.enabled is false, the
      WebSocket push channel and live map of `gateway` on http.port (--http-port
      overrides it). Start it twice for a hot standby: on NATS one processor is
      active and the other takes over within consumer.takeover_after_seconds of its
      silence; /readyz says which is which.
      Partitioned (config key partitions: N): `--stage count --partition P` counts
      the drivers and riders of partition P and publishes the counts every tick;
      `--stage price` prices each tick from every partition's counts, holding it
      until all are in. Each stage takes a hot standby the same way. On Kafka
      (backend: kafka) partition P is partition P of location-events, and each
      stage's consumer group picks its active process.
  gateway --config FILE [--port N]
      Only the WebSocket push channel (/ws?city=C[&zones=ID,ID]) and the live map
      (/map): follows the cluster's outputs; run as many as needed (each gets every
      event).
  simulate --config FILE [--city C] [--rate N/s] [--duration S] [--drivers N]
           [--request-share F] [--hotspots N] [--seed N] [--pickups CSV] [--acked-log FILE]
           [--id-subjects]
      Publish driver pings and ride requests at a fixed open-loop rate. --pickups
      sends the real pickups of the CSV as the requests, and the pings of a fleet of
      --drivers at the busiest hour that follows them (as convert-uber's). --acked-log
      writes a line per acknowledged event: its message id and the ack's time (ms).
      --id-subjects publishes on location.<kind>.<city>.<driver or rider id>, which
      partitioned pricing stores by partition. With backend: kafka it produces to
      location-events instead, keyed by the city (by the id on id subjects); with
      partitions: N, keyed by the driver or rider id, in that id's partition.
  streams apply|info --config FILE
      Create or update the JetStream streams of the configuration / show their state.
  config send --config FILE --city C (--document JSON | --file F) [--timeout S]
      Change the running processor's model live: publish a CONFIG_UPDATES document
      (e.g. '{"version":2,"cap":2.5}') on config.pricing.<city>, print what it
      changes against what is in force and the processor's answer from
      config.applied.<city>; exit 0 when accepted.
  consumer info --config FILE [--durable NAME]
            Show the processor's consumer: pending, ack pending, redelivered.
  watch --config FILE [--subject ws.surge.>] [--count N]
      Print messages on a subject as they are published (prices, surge changes).
  replay --config FILE --events FILE.jsonl [--out FILE] [--top N] [--quiet] [--partitions N]
      Run the pricing core over a JSON Lines file of input messages on an event-time
      clock; write every output message as JSON Lines (stdout by default) and print
      the most-surging zones to stderr. --partitions N splits each city's work by
      driver and rider into N windows whose counts are summed before the model (the
      exact two-stage path of a partitioned deployment): the outputs equal N = 1's.
  backtest --config A.yaml --against B.yaml --out DIR
           (--events FILE.jsonl | --from-stream [--since 1h] [--until 0s])
      What prices would have been with B instead of A: both configurations run
      through the pricing core over the same events (a file, or what LOCATION_EVENTS
      stored between --since and --until: UTC times such as 2026-12-04T17:00:00Z, or
      times ago such as 15m, 2h); writes DIR/summary.md (mean and
      p95 multiplier, share surging, ticks at the cap and floor, changes per
      zone-hour, requests quoted 1.5x and 2x or more, the zones that differ most),
      DIR/report.html (offline charts and a map of B-A) and DIR/diff.csv (one row per
      zone and tick).
  convert-uber --csv FILE --out FILE.jsonl [--city nyc] [--from TIME] [--to TIME]
               [--drivers N] [--ping-seconds S] [--seed N]
      Turn the Uber pickups CSV into ride requests (New York local TIME as
      YYYY-MM-DDTHH:MM) and mix in a reproducible synthetic fleet that follows the
      file's pickups: on duty in proportion to each hour's usual pickups (N at the
      busiest hour, default 300), waiting where they usually happen, and answering
      the requests (a request takes the nearest idle driver for its trip).
)";

// The usage of one command: its block of kUsage (from its line to the next command's).
std::string CommandUsage(const std::string& command) {
  const std::string text = kUsage;
  const std::string start = "\n  " + command + " ";
  const auto at = text.find(start);
  if (at == std::string::npos) return "";
  auto end = at + 1;
  while (true) {
    end = text.find('\n', end);
    if (end == std::string::npos || end + 3 >= text.size()) break;
    // A command line is indented by two spaces; its description by more.
    if (text[end + 1] == ' ' && text[end + 2] == ' ' && text[end + 3] != ' ') break;
    ++end;
  }
  return "usage: pricing " + text.substr(at + 3, end - at - 2);
}

bool AsksForHelp(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  pricing::RememberArguments(argc, argv);
  // A write to a connection the server has just closed must be an error to handle,
  // not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  pricing::RaiseOpenFileLimit();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (AsksForHelp(args)) {
    const std::string usage = CommandUsage(command);
    if (!usage.empty()) {
      std::cout << usage;
      return 0;
    }
  }
  try {
    if (command == "replay") return pricing::RunReplayCommand(args);
    if (command == "backtest") return pricing::RunBacktestCommand(args);
    if (command == "convert-uber") return pricing::RunConvertUberCommand(args);
    if (command == "run") return pricing::RunLiveCommand(args);
    if (command == "simulate") return pricing::RunSimulateCommand(args);
    if (command == "streams") return pricing::RunStreamsCommand(args);
    if (command == "consumer") return pricing::RunConsumerCommand(args);
    if (command == "config") return pricing::RunConfigCommand(args);
    if (command == "gateway") return pricing::RunGatewayCommand(args);
    if (command == "watch") return pricing::RunWatchCommand(args);
    std::cerr << "pricing: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const pricing::ConfigError& e) {
    std::cerr << "pricing: configuration error: " << e.what() << "\n";
    return 78;  // EX_CONFIG
  } catch (const pricing::NatsError& e) {
    if (pricing::StopRequested().load()) {  // SIGINT/SIGTERM while it waited: a clean stop
      std::cerr << "pricing " << command << ": " << e.what() << "\n";
      return 0;
    }
    std::cerr << "pricing " << command << ": NATS: " << e.what() << "\n";
    return 1;
  } catch (const pricing::UsageError& e) {
    std::cerr << "pricing " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pricing " << command << ": " << e.what() << "\n";
    return 1;
  }
}
