#include "app/commands.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

#include "app/flags.h"
#include "backtest/backtest.h"
#include "common/clock.h"
#include "common/json_writer.h"
#include "common/time_format.h"
#include "config/config.h"
#include "engine/pricing_engine.h"
#include "replay/nyc_pickups.h"
#include "replay/replay.h"
#include "replay/synthetic_drivers.h"

namespace pricing {

namespace {

// An events file for replay or backtest, open; a missing one says why and what makes one.
std::ifstream OpenEventsFile(const std::string& path) {
  errno = 0;
  std::ifstream events(path, std::ios::binary);
  if (!events) {
    const std::string reason = errno != 0 ? std::strerror(errno) : "unreadable";
    throw UsageError("cannot open events file '" + path + "' (" + reason +
                     "). Make one from the April 2014 pickups with 'pricing convert-uber "
                     "--csv data/nyc/uber-pickups-2014-04.csv --out " +
                     path +
                     " --from 2014-04-01T16:00 --to 2014-04-01T23:00 --drivers 300', or run "
                     "scripts/demo-replay.sh");
  }
  return events;
}

}  // namespace

int RunReplayCommand(const std::vector<std::string>& args) {
  const Flags flags(args, {"config", "events", "out", "top", "partitions"}, {"quiet"});
  const Config config = LoadConfig(flags.Require("config"));
  SystemClock clock;
  PricingEngine engine(config.engine(), clock);
  const int64_t partitions = flags.GetInt("partitions", 1);
  if (partitions < 1 || partitions > 1024) throw UsageError("--partitions must be 1 to 1024");
  for (const auto& [key, city] : engine.cities())
    city->SetPartitions(static_cast<int32_t>(partitions));
  std::ifstream events = OpenEventsFile(flags.Require("events"));
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (auto path = flags.Get("out")) {
    file.open(*path, std::ios::trunc);
    if (!file) throw UsageError("cannot write output file '" + *path + "'");
    out = &file;
  }
  const ReplayStats stats = RunReplay(engine, events, *out);
  out->flush();
  if (!*out) {
    std::cerr << "pricing replay: writing the output failed\n";
    return 1;
  }
  if (!flags.Has("quiet")) {
    PrintSurgeTable(stats, static_cast<std::size_t>(flags.GetInt("top", 10)), std::cerr);
  }
  if (partitions > 1) {
    for (const auto& [key, city] : engine.cities()) {
      const uint64_t ticks = std::max<uint64_t>(stats.ticks, 1);
      std::cerr << "city " << key << ": " << partitions << " partitions; partial counts "
                << city->partial_bytes() << " bytes, " << city->partial_bytes() / ticks
                << " a tick\n";
    }
  }
  return 0;
}

int RunBacktestCommand(const std::vector<std::string>& args) {
  const Flags flags(args, {"config", "against", "events", "out", "since", "until"},
                    {"from-stream"});
  const std::string path_a = flags.Require("config"), path_b = flags.Require("against");
  const Config config_a = LoadConfig(path_a), config_b = LoadConfig(path_b);
  std::string events;
  if (flags.Has("from-stream")) {
    if (flags.Has("events")) throw UsageError("give --events FILE or --from-stream, not both");
    const int64_t now = SystemClock().NowMs();
    const auto moment = [&](const std::string& flag, const std::string& fallback) {
      const std::string text = flags.Get(flag).value_or(fallback);
      const auto ms = ParseMoment(text, now);
      if (!ms) {
        throw UsageError("--" + flag + " '" + text +
                         "': give a UTC time (2026-12-04T17:00:00Z) or a time ago (90s, 15m, "
                         "2h, 1d)");
      }
      return *ms;
    };
    const int64_t since = moment("since", "1h"), until = moment("until", "0s");
    if (until <= since) throw UsageError("--until must come after --since");
    events = ReadStoredEvents(config_a, since, until);
  } else {
    std::ifstream file = OpenEventsFile(flags.Require("events"));
    events.assign(std::istreambuf_iterator<char>(file), {});
  }
  const std::filesystem::path dir = flags.Require("out");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw UsageError("cannot create --out folder '" + dir.string() + "': " + ec.message());

  PricedRun a = PriceEvents(config_a.engine(), events);
  PricedRun b = PriceEvents(config_b.engine(), events);
  const std::vector<PricedRequest> requests = ReadRequests(a, events);
  Backtest bt;
  try {
    bt = CompareRuns(std::move(a), std::move(b), requests);
  } catch (const std::invalid_argument& e) {
    throw UsageError(path_a + " against " + path_b + ": " + e.what());
  }
  const auto write = [&](const char* name, auto&& writer) {
    std::ofstream out(dir / name, std::ios::trunc | std::ios::binary);
    writer(out);
    out.flush();
    if (!out) throw std::runtime_error("cannot write '" + (dir / name).string() + "'");
  };
  write("summary.md", [&](std::ostream& o) { WriteBacktestSummary(bt, path_a, path_b, o); });
  write("diff.csv", [&](std::ostream& o) { WriteBacktestDiffCsv(bt, o); });
  write("report.html", [&](std::ostream& o) { WriteBacktestHtml(bt, path_a, path_b, o); });
  for (const CityComparison& c : bt.cities) {
    std::fprintf(stderr,
                 "backtest %s: mean multiplier A %.3f, B %.3f; zone-ticks above 2.0: A %llu, "
                 "B %llu; %zu of %zu zones differ\n",
                 c.city.c_str(), c.a.mean, c.b.mean, static_cast<unsigned long long>(c.a.above_2),
                 static_cast<unsigned long long>(c.b.above_2), c.most_different.size(),
                 c.zones.size());
  }
  std::fprintf(stderr, "backtest: wrote %s, %s and %s\n", (dir / "summary.md").c_str(),
               (dir / "report.html").c_str(), (dir / "diff.csv").c_str());
  return 0;
}

namespace {

struct Record {
  int64_t ts;
  std::string line;
};

}  // namespace

int RunConvertUberCommand(const std::vector<std::string>& args) {
  const Flags flags(args, {"csv", "out", "city", "from", "to", "drivers", "ping-seconds", "seed"});
  const std::string city = flags.Get("city").value_or("nyc");
  if (!IsValidCityKey(city)) throw UsageError("--city '" + city + "' is not a valid city key");
  // The whole file is where and when pickups usually happen (the fleet follows it); the
  // span between --from and --to is replayed as requests.
  const std::vector<Pickup> usual = ReadUberPickups(flags.Require("csv"));
  const int64_t from = flags.Get("from") ? ParseNewYorkTime(*flags.Get("from")) : INT64_MIN;
  const int64_t to = flags.Get("to") ? ParseNewYorkTime(*flags.Get("to")) : INT64_MAX;
  std::vector<Pickup> pickups = usual;
  std::erase_if(pickups, [&](const Pickup& p) { return p.ts_ms < from || p.ts_ms >= to; });
  if (pickups.empty()) throw UsageError("no pickups between --from and --to");

  std::vector<Record> records;
  for (const Pickup& p : pickups) {
    const std::string request_id = "uber-" + std::to_string(p.row);
    std::string line;
    JsonWriter w(&line);
    w.BeginObject();
    w.Key("subject").String("location.request." + city);
    w.Key("headers").BeginObject().Key("Nats-Msg-Id").String(request_id).EndObject();
    w.Key("data").BeginObject();
    w.Key("request_id").String(request_id);
    w.Key("rider_id").String("rider-" + std::to_string(p.row));  // one rider per row
    w.Key("lat").Double(p.lat);
    w.Key("lon").Double(p.lon);
    w.Key("ts").Int(p.ts_ms);
    w.EndObject().EndObject();
    records.push_back({p.ts_ms, std::move(line)});
  }

  FleetOptions fleet;
  fleet.drivers = static_cast<int>(flags.GetInt("drivers", 300));
  fleet.ping_interval_ms = flags.GetInt("ping-seconds", 30) * 1000;
  fleet.seed = static_cast<uint64_t>(flags.GetInt("seed", 42));
  if (fleet.drivers < 0 || fleet.ping_interval_ms <= 0) {
    throw UsageError("--drivers must be >= 0 and --ping-seconds > 0");
  }
  const int64_t start = pickups.front().ts_ms;
  const int64_t end = pickups.back().ts_ms + 60'000;
  for (const DriverPingRecord& d : SimulateFleet(fleet, usual, pickups, start, end)) {
    std::string line;
    JsonWriter w(&line);
    w.BeginObject();
    w.Key("subject").String("location.driver." + city);
    w.Key("headers")
        .BeginObject()
        .Key("Nats-Msg-Id")
        .String(d.driver_id + ":" + std::to_string(d.ts_ms))
        .EndObject();
    w.Key("data").BeginObject();
    w.Key("driver_id").String(d.driver_id);
    w.Key("lat").Double(std::round(d.lat * 1e6) / 1e6);
    w.Key("lon").Double(std::round(d.lon * 1e6) / 1e6);
    w.Key("status").String(ToString(d.status));
    w.Key("ts").Int(d.ts_ms);
    w.EndObject().EndObject();
    records.push_back({d.ts_ms, std::move(line)});
  }
  std::stable_sort(records.begin(), records.end(),
                   [](const Record& a, const Record& b) { return a.ts < b.ts; });

  const std::string out_path = flags.Require("out");
  std::ofstream out(out_path, std::ios::trunc);
  if (!out) throw UsageError("cannot write '" + out_path + "'");
  for (const Record& r : records) out << r.line << '\n';
  out.flush();
  if (!out) throw UsageError("writing '" + out_path + "' failed");
  std::cerr << "convert-uber: " << pickups.size() << " requests and "
            << records.size() - pickups.size() << " driver pings (" << fleet.drivers
            << " synthetic drivers at the busiest hour) from " << FormatUtc(start) << " to "
            << FormatUtc(end) << " -> " << out_path << "\n";
  return 0;
}

}  // namespace pricing
