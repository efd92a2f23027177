#include "replay/replay.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <istream>
#include <map>
#include <ostream>

#include "common/clock.h"
#include "common/json_writer.h"
#include "engine/outputs.h"
#include "events/subject.h"
#include "operator/pricing_operator.h"

namespace pricing {

struct ReplayLineParser::Impl {
  simdjson::dom::parser parser;
};

ReplayLineParser::ReplayLineParser() : impl_(std::make_unique<Impl>()) {}
ReplayLineParser::~ReplayLineParser() = default;

ReplayLine ReplayLineParser::Parse(std::string_view line) {
  ReplayLine in;
  simdjson::dom::element root;
  if (impl_->parser.parse(line.data(), line.size()).get(root)) return in;
  std::string_view subject;
  simdjson::dom::element data;
  if (root["subject"].get_string().get(subject) || root["data"].get(data)) return in;
  in.subject = subject;
  std::string_view raw;
  if (data.get_string().get(raw) == simdjson::SUCCESS) {
    in.payload = raw;  // a string holds the payload bytes as they were
  } else {
    in.payload = simdjson::minify(data);
  }
  simdjson::dom::object headers;
  if (!root["headers"].get_object().get(headers)) {
    for (auto field : headers) {
      std::string_view value;
      if (!field.value.get_string().get(value)) in.headers.emplace_back(field.key, value);
    }
  }
  in.ok = true;
  return in;
}

namespace {

void WriteOutput(std::ostream& out, const Action& m) {
  std::string line;
  line.reserve(m.payload.size() + m.subject.size() + m.msg_id.size() + 48);
  JsonWriter w(&line);
  w.BeginObject();
  w.Key("subject").String(m.subject);
  w.Key("msg_id").String(m.msg_id);
  if (m.what == PublishKind::kDeadLetter) {
    // A dead letter carries its input's payload as it was, which need not be JSON.
    w.Key("headers").BeginObject();
    for (const auto& [k, v] : m.headers) w.Key(k).String(v);
    w.EndObject();
    w.Key("payload").String(m.payload);
  } else {
    w.Key("data").Raw(m.payload);
  }
  w.EndObject();
  line.push_back('\n');
  out << line;
}

Headers LineHeaders(const void* source) { return static_cast<const ReplayLine*>(source)->headers; }

class PeakTracker {
 public:
  void Add(const TickResult& t, const ZoneSet& zones) {
    const ModelOutput& m = t.zones;
    for (Eigen::Index z = 0; z < m.multiplier.size(); ++z) {
      const double q = m.multiplier[z];
      if (q <= kSurgeThreshold) continue;
      const Zone& zone = zones.zone(static_cast<ZoneIndexT>(z));
      ZonePeak& p = peaks_[{t.city, static_cast<ZoneIndexT>(z)}];
      if (p.zone_id.empty()) p = {t.city, zone.id, zone.name, 1.0, 0, 0, 0, 0, 0, 0};
      ++p.surging_ticks;
      p.demand_while_surging += static_cast<int64_t>(m.demand[z]);
      p.supply_while_surging += static_cast<int64_t>(m.supply[z]);
      if (q > p.peak_multiplier) {
        p.peak_multiplier = q;
        p.peak_tick = t.tick;
        p.demand_at_peak = static_cast<int64_t>(m.demand[z]);
        p.supply_at_peak = static_cast<int64_t>(m.supply[z]);
      }
    }
  }

  std::vector<ZonePeak> Sorted() const {
    std::vector<ZonePeak> out;
    for (const auto& [key, p] : peaks_) out.push_back(p);
    std::stable_sort(out.begin(), out.end(), [](const ZonePeak& a, const ZonePeak& b) {
      if (a.peak_multiplier != b.peak_multiplier) return a.peak_multiplier > b.peak_multiplier;
      return a.surging_ticks > b.surging_ticks;
    });
    return out;
  }

 private:
  std::map<std::pair<std::string, ZoneIndexT>, ZonePeak> peaks_;
};

}  // namespace

ReplayStats RunReplay(PricingEngine& engine, std::istream& in, std::ostream& out,
                      OperatorListener* observer) {
  // The replay is a driver of the pricing operator like the live ones: each line an
  // input, each publish a line of output, stored as soon as it is written.
  struct Peaks final : OperatorListener {
    void TickClosed(const TickResult& tick, const ZoneSet& zones) override {
      tracker.Add(tick, zones);
      if (observer != nullptr) observer->TickClosed(tick, zones);
    }
    PeakTracker tracker;
    OperatorListener* observer = nullptr;
  } peaks;
  peaks.observer = observer;
  OperatorOptions options;
  options.event_time = true;
  PricingOperator op(engine, options, &peaks);
  ReplayStats stats;
  std::vector<Action> actions, more;
  const auto carry_out = [&] {
    while (!actions.empty()) {
      for (const Action& a : actions) {
        if (a.kind != Action::Kind::kPublish) continue;
        if (a.what == PublishKind::kTickOutput || a.what == PublishKind::kDeadLetter) {
          WriteOutput(out, a);
          ++stats.messages_written;
        }
        op.OnStored(a.publish, 0, &more);
      }
      actions.swap(more);
      more.clear();
    }
  };

  ReplayLineParser parser;
  std::string line;
  uint64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++stats.lines;
    const ReplayLine input = parser.Parse(line);
    InputRecord record;
    record.position.seq = line_number;  // line numbers serve as input sequences
    record.token = line_number;
    record.read_headers = &LineHeaders;
    record.source = &input;
    if (!input.ok) {
      record.payload = line;
      op.Unreadable(record, "replay line is not a JSON object with 'subject' and 'data'", &actions);
    } else {
      record.subject = input.subject;
      record.payload = input.payload;
      op.OnInput(record, 0, &actions);
    }
    carry_out();
  }
  op.Finish(&actions);
  carry_out();

  const OperatorCounters& c = op.counters();
  stats.applied = c.applied.load();
  stats.ticks = c.ticks.load();
  for (std::size_t r = 0; r < kRejectReasonCount; ++r) {
    stats.rejected[r] = c.unrouted.rejected[r].load();
    for (const auto& [key, city] : engine.cities())
      stats.rejected[r] += op.city_counters(key)->rejected[r].load();
  }
  stats.peaks = peaks.tracker.Sorted();
  return stats;
}

void PrintSurgeTable(const ReplayStats& stats, std::size_t top, std::ostream& out) {
  uint64_t rejected = 0;
  for (uint64_t r : stats.rejected) rejected += r;
  out << "replay: " << stats.lines << " inputs, " << stats.applied << " applied, " << rejected
      << " rejected";
  for (std::size_t r = 1; r < kRejectReasonCount; ++r) {
    if (stats.rejected[r] != 0) {
      out << " (" << ToString(static_cast<RejectReason>(r)) << ": " << stats.rejected[r] << ")";
    }
  }
  out << ", " << stats.ticks << " ticks, " << stats.messages_written << " messages\n";
  if (stats.peaks.empty()) {
    out << "no zone surged\n";
    return;
  }
  out << "\nMost-surging zones (peak published multiplier):\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-5s %-6s %-30s %5s  %-20s %6s %6s %7s %13s\n", "city", "zone",
                "name", "peak", "at (UTC)", "demand", "supply", "surging", "riders:drivers");
  out << buf;
  for (std::size_t i = 0; i < std::min(top, stats.peaks.size()); ++i) {
    const ZonePeak& p = stats.peaks[i];
    const double n = static_cast<double>(std::max<int64_t>(p.surging_ticks, 1));
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.1f:%.1f", static_cast<double>(p.demand_while_surging) / n,
                  static_cast<double>(p.supply_while_surging) / n);
    std::snprintf(buf, sizeof buf, "%-5s %-6s %-30.30s %5.2f  %-20s %6lld %6lld %7lld %13s\n",
                  p.city.c_str(), p.zone_id.c_str(), p.zone_name.c_str(), p.peak_multiplier,
                  FormatUtc(p.peak_tick).c_str(), static_cast<long long>(p.demand_at_peak),
                  static_cast<long long>(p.supply_at_peak), static_cast<long long>(p.surging_ticks),
                  ratio);
    out << buf;
  }
  out << "(demand and supply at the peak; surging = ticks with multiplier above 1.0, and\n"
         " riders:drivers their mean demand and supply; "
      << stats.peaks.size() << " zones surged at least once)\n";
}

}  // namespace pricing
