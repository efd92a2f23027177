// The backtest's three files: summary.md, diff.csv and report.html (offline: inline
// SVG, no script, no network). Every number is printed with a fixed precision, so the
// same backtest gives the same bytes.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <ostream>
#include <string>

#include "backtest/backtest.h"
#include "common/time_format.h"

namespace pricing {

namespace {

constexpr std::size_t kTopZones = 10;

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);  // "-0.00"
  return s;
}

std::string Signed(double v, int digits) {
  const std::string s = Fixed(v, digits);
  return (v > 0 && s.find_first_not_of("0.") != std::string::npos) ? "+" + s : s;
}

std::string Percent(double share) { return Fixed(100 * share, 1) + " %"; }

std::string Count(uint64_t n) { return std::to_string(n); }

std::string SignedCount(int64_t n) { return (n > 0 ? "+" : "") + std::to_string(n); }

// Escapes text for HTML and for SVG.
std::string Escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

// A CSV field: quoted when it holds a comma or a quote.
std::string CsvField(std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

const Zone& ZoneOf(const Backtest& bt, const CityComparison& cc, ZoneIndexT z) {
  return bt.a.cities.at(cc.city).zones->zones.zone(z);
}

// A count figure of one side, and B's minus A's.
template <uint64_t SideFigures::*kField>
std::string CountOf(const SideFigures& f) {
  return Count(f.*kField);
}
template <uint64_t SideFigures::*kField>
std::string CountDiff(const SideFigures& a, const SideFigures& b) {
  return SignedCount(static_cast<int64_t>(b.*kField) - static_cast<int64_t>(a.*kField));
}

// The rows of the figures table: a name and how to print a side, and the difference.
struct FigureRow {
  const char* name;
  const char* zone_column;  // its column in the per-zone table; null: not there
  std::string (*side)(const SideFigures&);
  std::string (*diff)(const SideFigures& a, const SideFigures& b);
};

const FigureRow kFigureRows[] = {
    {"mean published multiplier", "mean", [](const SideFigures& f) { return Fixed(f.mean, 3); },
     [](const SideFigures& a, const SideFigures& b) { return Signed(b.mean - a.mean, 3); }},
    {"p95 published multiplier", "p95", [](const SideFigures& f) { return Fixed(f.p95, 2); },
     [](const SideFigures& a, const SideFigures& b) { return Signed(b.p95 - a.p95, 2); }},
    {"highest published multiplier", nullptr, [](const SideFigures& f) { return Fixed(f.max, 2); },
     [](const SideFigures& a, const SideFigures& b) { return Signed(b.max - a.max, 2); }},
    {"zone-ticks surging (above 1.0)", "surging",
     [](const SideFigures& f) {
       return Percent(f.surging_share()) + " (" + Count(f.surging) + ")";
     },
     [](const SideFigures& a, const SideFigures& b) {
       return Signed(100 * (b.surging_share() - a.surging_share()), 1) + " pt (" +
              SignedCount(int64_t(b.surging) - int64_t(a.surging)) + ")";
     }},
    {"zone-ticks above 2.0", "above 2.0", CountOf<&SideFigures::above_2>,
     CountDiff<&SideFigures::above_2>},
    {"zone-ticks held at the cap", "at cap", CountOf<&SideFigures::at_cap>,
     CountDiff<&SideFigures::at_cap>},
    {"zone-ticks held at the floor", "at floor", CountOf<&SideFigures::at_floor>,
     CountDiff<&SideFigures::at_floor>},
    {"multiplier changes per zone-hour", "changes per hour",
     [](const SideFigures& f) { return Fixed(f.changes_per_zone_hour(), 2); },
     [](const SideFigures& a, const SideFigures& b) {
       return Signed(b.changes_per_zone_hour() - a.changes_per_zone_hour(), 2);
     }},
    {"requests", nullptr, CountOf<&SideFigures::requests>, CountDiff<&SideFigures::requests>},
    {"requests quoted 1.5x or more", "requests at 1.5x+", CountOf<&SideFigures::requests_at_1_5>,
     CountDiff<&SideFigures::requests_at_1_5>},
    {"requests quoted 2x or more", "at 2x+", CountOf<&SideFigures::requests_at_2>,
     CountDiff<&SideFigures::requests_at_2>},
};

// --- SVG ---------------------------------------------------------------------------

struct Series {
  std::vector<double> y;
  const char* colour;
  std::string name;
};

// A line chart of series over the ticks; x labels in UTC.
std::string LineChart(const std::vector<int64_t>& ticks, const std::vector<Series>& series,
                      const std::string& title, int width, int height) {
  const double ml = 44, mr = 10, mt = 22, mb = 26;
  double lo = 1.0, hi = 1.0;
  for (const Series& s : series)
    for (double v : s.y) lo = std::min(lo, v), hi = std::max(hi, v);
  hi = std::max(hi, lo + 0.1);
  const double pw = width - ml - mr, ph = height - mt - mb;
  const std::size_t n = ticks.size();
  auto x = [&](std::size_t i) { return ml + (n > 1 ? pw * double(i) / double(n - 1) : pw / 2); };
  auto y = [&](double v) { return mt + ph * (1 - (v - lo) / (hi - lo)); };
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(width) +
                    "' height='" + std::to_string(height) + "' font-family='sans-serif' " +
                    "font-size='11'>";
  svg += "<text x='" + Fixed(ml, 0) + "' y='14' font-weight='bold'>" + Escape(title) + "</text>";
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4;
    svg += "<line x1='" + Fixed(ml, 1) + "' x2='" + Fixed(ml + pw, 1) + "' y1='" + Fixed(y(v), 1) +
           "' y2='" + Fixed(y(v), 1) + "' stroke='#e4e4e4'/>";
    svg += "<text x='" + Fixed(ml - 4, 1) + "' y='" + Fixed(y(v) + 4, 1) + "' text-anchor='end'>" +
           Fixed(v, 2) + "</text>";
  }
  for (int k = 0; k <= 4 && n > 0; ++k) {
    const std::size_t i = (n - 1) * static_cast<std::size_t>(k) / 4;
    const char* anchor = k == 0 ? "start" : k == 4 ? "end" : "middle";  // inside the chart
    svg += "<text x='" + Fixed(x(i), 1) + "' y='" + Fixed(mt + ph + 16, 1) + "' text-anchor='" +
           anchor + "'>" + Escape(FormatUtc(ticks[i]).substr(11, 5)) + "</text>";
  }
  // Each later series is drawn thinner, over the earlier ones: where B equals A, A's
  // line still shows around B's.
  double stroke = 1.0 + static_cast<double>(series.size());
  for (const Series& s : series) {
    std::string points;
    for (std::size_t i = 0; i < s.y.size(); ++i)
      points += (i ? " " : "") + Fixed(x(i), 1) + "," + Fixed(y(s.y[i]), 1);
    svg += "<polyline fill='none' stroke='" + std::string(s.colour) + "' stroke-width='" +
           Fixed(stroke, 1) + "' points='" + points + "'/>";
    stroke -= 1.0;
  }
  double lx = ml + pw - 150;
  for (const Series& s : series) {
    svg += "<rect x='" + Fixed(lx, 1) + "' y='6' width='10' height='10' fill='" + s.colour +
           "'/><text x='" + Fixed(lx + 14, 1) + "' y='15'>" + Escape(s.name) + "</text>";
    lx += 75;
  }
  return svg + "</svg>";
}

// A diverging colour for `v` in [-1, 1]: blue below 0, white at 0, red above.
std::string Diverging(double v) {
  v = std::clamp(v, -1.0, 1.0);
  const auto mix = [](double t, int from, int to) {
    return static_cast<int>(std::lround(from + (to - from) * t));
  };
  int r, g, b;
  if (v >= 0) {
    r = mix(v, 255, 178), g = mix(v, 255, 24), b = mix(v, 255, 43);
  } else {
    r = mix(-v, 255, 33), g = mix(-v, 255, 102), b = mix(-v, 255, 172);
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

// The zones coloured by their mean B - A, on an equirectangular projection.
std::string Choropleth(const Backtest& bt, const CityComparison& cc, int width) {
  const ZoneSet& zones = bt.a.cities.at(cc.city).zones->zones;
  const Box e = zones.extent();
  const double kx = std::cos((e.min_y + e.max_y) / 2 * std::numbers::pi / 180);
  const double span_x = std::max(1e-9, (e.max_x - e.min_x) * kx),
               span_y = std::max(1e-9, e.max_y - e.min_y);
  const double pw = width - 20, ph = pw * span_y / span_x;
  const int height = static_cast<int>(std::ceil(ph)) + 60;
  double extreme = 0;
  for (const ZoneComparison& z : cc.zones) extreme = std::max(extreme, std::abs(z.mean_diff));
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(width) +
                    "' height='" + std::to_string(height) + "' font-family='sans-serif' " +
                    "font-size='11'>";
  for (const ZoneComparison& z : cc.zones) {
    const Zone& zone = zones.zone(z.zone);
    std::string d;
    for (const Polygon& p : zone.polygons) {
      for (const auto& ring : p.rings) {
        for (std::size_t i = 0; i < ring.size(); ++i) {
          d += (i ? "L" : "M") + Fixed(10 + (ring[i].x - e.min_x) * kx / span_x * pw, 1) + " " +
               Fixed(10 + (e.max_y - ring[i].y) / span_y * ph, 1);
        }
        d += "Z";
      }
    }
    svg += "<path fill-rule='evenodd' d='" + d + "' fill='" +
           Diverging(extreme > 0 ? z.mean_diff / extreme : 0) +
           "' stroke='#888' stroke-width='0.3'><title>" + Escape(zone.id + " " + zone.name) +
           ": mean B-A " + Signed(z.mean_diff, 3) + "</title></path>";
  }
  // The legend: from -extreme to +extreme.
  const double ly = ph + 30;
  for (int k = 0; k <= 20; ++k) {
    const double v = -1 + k / 10.0;
    svg += "<rect x='" + Fixed(10 + k * 12, 0) + "' y='" + Fixed(ly, 1) +
           "' width='12' height='10' fill='" + Diverging(v) + "'/>";
  }
  svg += "<text x='10' y='" + Fixed(ly + 24, 1) + "'>" + Signed(-extreme, 3) + "</text>";
  svg += "<text x='262' y='" + Fixed(ly + 24, 1) + "' text-anchor='end'>" + Signed(extreme, 3) +
         "</text><text x='280' y='" + Fixed(ly + 9, 1) +
         "'>mean published multiplier, B minus A, over the run</text>";
  return svg + "</svg>";
}

void FiguresTable(std::ostream& out, const SideFigures& a, const SideFigures& b) {
  out << "| | A | B | B−A |\n|---|---|---|---|\n";
  for (const FigureRow& r : kFigureRows)
    out << "| " << r.name << " | " << r.side(a) << " | " << r.side(b) << " | " << r.diff(a, b)
        << " |\n";
}

}  // namespace

void WriteBacktestSummary(const Backtest& bt, const std::string& name_a, const std::string& name_b,
                          std::ostream& out) {
  out << "# Backtest: what prices would have been\n\n"
      << "- A: `" << name_a << "`\n- B: `" << name_b << "`\n\n"
      << "Both configurations priced the same events through the same operator, on event "
         "time. A zone-tick is one zone's published multiplier at one tick. *Held at the cap* "
         "(*floor*): the cap (floor) decided the published value. A request is quoted the "
         "multiplier of its zone from the latest tick published by its time (tick *t* is "
         "published once event time reaches *t* plus the allowed lateness), or 1.0 before the "
         "first.\n";
  for (const CityComparison& cc : bt.cities) {
    const CityPrices& c = bt.a.cities.at(cc.city);
    out << "\n## City " << cc.city << "\n\n";
    if (c.ticks.empty()) {
      out << "No tick closed: the events held nothing for this city.\n";
      continue;
    }
    out << c.ticks.size() << " ticks from " << FormatUtc(c.ticks.front()) << " to "
        << FormatUtc(c.ticks.back()) << ", " << cc.zones.size() << " zones, "
        << Fixed(cc.a.zone_hours, 1) << " zone-hours.\n\n";
    FiguresTable(out, cc.a, cc.b);
    out << "\n### The zones that differ most\n\n";
    if (cc.most_different.empty()) {
      out << "Every zone published the same multiplier at every tick under A and B.\n";
      continue;
    }
    out << "By the mean over ticks of |B−A|.\n\n"
        << "| zone | name | mean \\|B−A\\| | largest \\|B−A\\| | mean A | mean B | p95 A | p95 B "
           "| highest A | highest B |\n|---|---|---|---|---|---|---|---|---|---|\n";
    for (std::size_t i = 0; i < std::min(kTopZones, cc.most_different.size()); ++i) {
      const ZoneComparison& z = cc.zones[cc.most_different[i]];
      const Zone& zone = ZoneOf(bt, cc, z.zone);
      out << "| " << zone.id << " | " << zone.name << " | " << Fixed(z.mean_abs_diff, 3) << " | "
          << Fixed(z.max_abs_diff, 2) << " | " << Fixed(z.a.mean, 3) << " | " << Fixed(z.b.mean, 3)
          << " | " << Fixed(z.a.p95, 2) << " | " << Fixed(z.b.p95, 2) << " | " << Fixed(z.a.max, 2)
          << " | " << Fixed(z.b.max, 2) << " |\n";
    }
    out << "\n### Every zone that differs\n\n"
        << cc.most_different.size() << " of " << cc.zones.size()
        << " zones published a different multiplier at one tick or more; the others are "
           "identical under A and B. Columns are A / B / B−A.\n\n"
        << "| zone | name";
    std::string rule = "|---|---";
    for (const FigureRow& row : kFigureRows) {
      if (row.zone_column == nullptr) continue;
      out << " | " << row.zone_column;
      rule += "|---";
    }
    out << " |\n" << rule << "|\n";
    for (ZoneIndexT zi : cc.most_different) {
      const ZoneComparison& z = cc.zones[zi];
      const Zone& zone = ZoneOf(bt, cc, z.zone);
      out << "| " << zone.id << " | " << zone.name;
      for (const FigureRow& row : kFigureRows) {
        if (row.zone_column == nullptr) continue;
        out << " | " << row.side(z.a) << " / " << row.side(z.b) << " / " << row.diff(z.a, z.b);
      }
      out << " |\n";
    }
  }
}

void WriteBacktestDiffCsv(const Backtest& bt, std::ostream& out) {
  out << "city,zone_id,zone_name,tick_ms,tick_utc,a_multiplier,b_multiplier,b_minus_a,a_bound,"
         "b_bound,a_demand,a_supply,b_demand,b_supply\n";
  for (const CityComparison& cc : bt.cities) {
    const CityPrices& a = bt.a.cities.at(cc.city);
    const CityPrices& b = bt.b.cities.at(cc.city);
    for (std::size_t t = 0; t < a.ticks.size(); ++t) {
      const std::string when = std::to_string(a.ticks[t]) + "," + FormatUtc(a.ticks[t]);
      for (std::size_t z = 0; z < cc.zones.size(); ++z) {
        const Zone& zone = a.zones->zones.zone(static_cast<ZoneIndexT>(z));
        out << cc.city << "," << CsvField(zone.id) << "," << CsvField(zone.name) << "," << when
            << "," << Fixed(a.q[t][z], 2) << "," << Fixed(b.q[t][z], 2) << ","
            << Signed(b.q[t][z] - a.q[t][z], 2) << "," << ToString(a.bound[t][z]) << ","
            << ToString(b.bound[t][z]) << "," << a.demand[t][z] << "," << a.supply[t][z] << ","
            << b.demand[t][z] << "," << b.supply[t][z] << "\n";
      }
    }
  }
}

void WriteBacktestHtml(const Backtest& bt, const std::string& name_a, const std::string& name_b,
                       std::ostream& out) {
  out << "<!doctype html><html><head><meta charset='utf-8'><title>Backtest</title><style>"
         "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px "
         "7px;text-align:right}td:first-child,th:first-child{text-align:left}th{background:"
         "#f3f3f3}.grid{display:flex;flex-wrap:wrap;gap:8px}</style></head><body>"
      << "<h1>Backtest: what prices would have been</h1><p>A: <code>" << Escape(name_a)
      << "</code><br>B: <code>" << Escape(name_b) << "</code></p>";
  for (const CityComparison& cc : bt.cities) {
    const CityPrices& a = bt.a.cities.at(cc.city);
    const CityPrices& b = bt.b.cities.at(cc.city);
    out << "<h2>City " << Escape(cc.city) << "</h2>";
    if (a.ticks.empty()) {
      out << "<p>No tick closed: the events held nothing for this city.</p>";
      continue;
    }
    out << "<table><tr><th></th><th>A</th><th>B</th><th>B−A</th></tr>";
    for (const FigureRow& r : kFigureRows)
      out << "<tr><td>" << r.name << "</td><td>" << r.side(cc.a) << "</td><td>" << r.side(cc.b)
          << "</td><td>" << r.diff(cc.a, cc.b) << "</td></tr>";
    out << "</table>";
    // City-wide mean over time.
    std::vector<double> mean_a(a.ticks.size()), mean_b(a.ticks.size());
    for (std::size_t t = 0; t < a.ticks.size(); ++t) {
      for (std::size_t z = 0; z < cc.zones.size(); ++z)
        mean_a[t] += a.q[t][z], mean_b[t] += b.q[t][z];
      mean_a[t] /= static_cast<double>(cc.zones.size());
      mean_b[t] /= static_cast<double>(cc.zones.size());
    }
    out << "<h3>City-wide mean multiplier over time (UTC)</h3>"
        << LineChart(a.ticks, {{mean_a, "#1f77b4", "A"}, {mean_b, "#d62728", "B"}},
                     "mean published multiplier, " + cc.city, 1060, 280);
    out << "<h3>The zones that differ most</h3>";
    if (cc.most_different.empty()) out << "<p>None: every zone published the same prices.</p>";
    out << "<div class='grid'>";
    for (std::size_t i = 0; i < std::min(kTopZones, cc.most_different.size()); ++i) {
      const ZoneIndexT z = cc.most_different[i];
      std::vector<double> za(a.ticks.size()), zb(a.ticks.size());
      for (std::size_t t = 0; t < a.ticks.size(); ++t) za[t] = a.q[t][z], zb[t] = b.q[t][z];
      const Zone& zone = ZoneOf(bt, cc, z);
      out << LineChart(a.ticks, {{za, "#1f77b4", "A"}, {zb, "#d62728", "B"}},
                       zone.id + " " + zone.name, 520, 200);
    }
    out << "</div><h3>Where B differs from A</h3>" << Choropleth(bt, cc, 1000);
  }
  out << "</body></html>\n";
}

}  // namespace pricing
