// The live map in a real browser: headless Chromium loads /map from a running
// processor fed by the generator on a real 3-node cluster, and the zones it draws must
// carry exactly the multipliers the processor published, surging ones in the surge
// colour; hovering a zone explains it.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "chromium.h"
#include "cluster_fixture.h"
#include "http_get.h"
#include "pricing_yaml.h"
#include "test_util.h"

namespace pricing::test {
namespace {

namespace fs = std::filesystem;

struct PageZone {
  std::string id;
  std::optional<double> multiplier;
  std::string fill;      // computed style
  std::string expected;  // surgeColour(multiplier) of the page's own scale
};

struct PageState {
  int64_t tick = 0;
  bool connected = false;
  std::vector<PageZone> zones;
};

constexpr const char* kReadPage = R"JS(
JSON.stringify({
  tick: Number(document.body.dataset.tick || 0),
  connected: document.body.dataset.connected === 'true',
  zones: [...document.querySelectorAll('path[data-zone]')].map((p) => ({
    id: p.dataset.zone,
    m: p.dataset.multiplier === undefined ? null : Number(p.dataset.multiplier),
    fill: getComputedStyle(p).fill,
    expected: p.dataset.multiplier === undefined ? '' :
        surgeColour(Number(p.dataset.multiplier)),
  })),
}))JS";

std::string ResultValue(simdjson::dom::parser& parser, const std::string& answer) {
  const simdjson::dom::element e = parser.parse(simdjson::padded_string(answer));
  std::string_view v;
  if (e["result"]["result"]["value"].get_string().get(v) != simdjson::SUCCESS) return "";
  return std::string(v);
}

PageState ReadPage(Chromium& browser) {
  simdjson::dom::parser parser, inner;
  const std::string value = ResultValue(parser, browser.Evaluate(kReadPage));
  PageState s;
  if (value.empty()) return s;
  const simdjson::dom::element e = inner.parse(simdjson::padded_string(value));
  s.tick = int64_t(e["tick"].get_double().value());
  s.connected = bool(e["connected"]);
  for (const auto z : e["zones"].get_array()) {
    PageZone pz;
    pz.id = std::string(std::string_view(z["id"]));
    double m = 0;
    if (z["m"].get_double().get(m) == simdjson::SUCCESS) pz.multiplier = m;
    pz.fill = std::string(std::string_view(z["fill"]));
    pz.expected = std::string(std::string_view(z["expected"]));
    s.zones.push_back(std::move(pz));
  }
  return s;
}

// "rgb(r, g, b)" to its channels; {-1,-1,-1} when it is not that.
std::array<int, 3> Rgb(const std::string& css) {
  std::array<int, 3> c{-1, -1, -1};
  std::sscanf(css.c_str(), "rgb(%d, %d, %d)", &c[0], &c[1], &c[2]);
  return c;
}

class SurgeMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pricing-map-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    browser_.reset();
    for (auto* p : {&generator_, &processor_}) p->reset();
    client_.reset();
    cluster_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  fs::path dir_;
  std::unique_ptr<NatsCluster> cluster_;
  std::unique_ptr<TestClient> client_;
  std::unique_ptr<ChildProcess> processor_, generator_;
  std::unique_ptr<Chromium> browser_;
};

TEST_F(SurgeMapTest, ChromiumDrawsThePublishedMultipliersWithSurgingZonesInTheSurgeColour) {
  cluster_ = std::make_unique<NatsCluster>(3);
  const int port = FreePort();
  const fs::path config = dir_ / "pricing.yaml";
  PricingYaml()
      .Timing(10, 2, 500)
      .Set("health_check_interval_seconds", 1)
      .Set("nats_url", cluster_->urls())
      .Http(port)
      .NycCity()
      .Write(config);
  processor_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config",
                               config.string()},
      std::map<std::string, std::string>{}, dir_ / "processor.log");
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, 60000))
      << "processor not ready; see " << dir_ / "processor.log";
  generator_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "simulate", "--config",
                               config.string(), "--rate", "500", "--duration", "120", "--drivers",
                               "1500", "--seed", "7"},
      std::map<std::string, std::string>{}, dir_ / "generator.log");

  browser_ = std::make_unique<Chromium>(dir_);
  browser_->Navigate("http://127.0.0.1:" + std::to_string(port) + "/map?city=nyc");

  // Wait for a page that is connected and shows surging zones.
  PageState page;
  const auto surging = [](const PageState& s) {
    return std::count_if(s.zones.begin(), s.zones.end(),
                         [](const PageZone& z) { return z.multiplier && *z.multiplier > 1; });
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        page = ReadPage(*browser_);
        return page.connected && page.tick > 0 && surging(page) >= 3;
      },
      90000))
      << "the map never showed surging zones (tick " << page.tick << ", " << page.zones.size()
      << " zones drawn); see " << dir_;
  EXPECT_EQ(page.zones.size(), 263u) << "every NYC taxi zone is drawn";

  // What the processor published, by zone, at the tick the page shows. The page may be
  // between a snapshot and the next changes for a moment: compare until it matches.
  client_ = std::make_unique<TestClient>(cluster_->urls());
  std::map<std::string, std::string> mismatch;
  const bool matched = WaitFor(
      [&] {
        page = ReadPage(*browser_);
        std::map<std::string, double> published;
        simdjson::dom::parser parser;
        for (const auto& m : ReadStream(*client_, "PRICING_UPDATES", "pricing.update.nyc.>")) {
          const simdjson::dom::element e = parser.parse(simdjson::padded_string(m.data));
          if (int64_t(e["tick"]) == page.tick) {
            published[std::string(std::string_view(e["zone_id"]))] = double(e["multiplier"]);
          }
        }
        mismatch.clear();
        if (published.size() != 263) {
          mismatch["*"] = "tick " + std::to_string(page.tick) + " has " +
                          std::to_string(published.size()) + " published zones";
          return false;
        }
        for (const auto& z : page.zones) {
          const auto it = published.find(z.id);
          if (!z.multiplier || it == published.end() || *z.multiplier != it->second) {
            mismatch[z.id] = "page " + (z.multiplier ? std::to_string(*z.multiplier) : "none") +
                             ", published " +
                             (it == published.end() ? "none" : std::to_string(it->second));
          }
        }
        return mismatch.empty();
      },
      30000);
  for (const auto& [zone, why] : mismatch) ADD_FAILURE() << "zone " << zone << ": " << why;
  ASSERT_TRUE(matched);

  // Colours: surging zones in the surge ramp (red dominant, not the calm colour), the
  // others calm, each exactly the page's colour for its multiplier.
  const std::array<int, 3> calm = {213, 228, 207};  // #d5e4cf
  int surge_count = 0;
  for (const auto& z : page.zones) {
    EXPECT_EQ(z.fill, z.expected) << "zone " << z.id;
    const auto c = Rgb(z.fill);
    if (*z.multiplier > 1) {
      ++surge_count;
      EXPECT_NE(c, calm) << "surging zone " << z.id << " drawn calm";
      EXPECT_GT(c[0], c[1]) << "zone " << z.id << " x" << *z.multiplier << " " << z.fill;
      EXPECT_GT(c[0], c[2]) << "zone " << z.id << " x" << *z.multiplier << " " << z.fill;
    } else {
      EXPECT_EQ(c, calm) << "zone " << z.id << " at x" << *z.multiplier << " drawn " << z.fill;
    }
  }
  EXPECT_GE(surge_count, 3);

  // Three more ticks (2 s each) first, so that the zone has a history to draw.
  const int64_t seen_tick = page.tick;
  ASSERT_TRUE(WaitFor([&] { return ReadPage(*browser_).tick >= seen_tick + 6000; }, 30000))
      << "the page stopped following the ticks after " << seen_tick;

  // Hover over the most-surging zone: the explanation names it with supply and demand.
  const auto top = std::max_element(
      page.zones.begin(), page.zones.end(),
      [](const PageZone& a, const PageZone& b) { return *a.multiplier < *b.multiplier; });
  browser_->Evaluate("document.querySelector('path[data-zone=\"" + top->id +
                     "\"]').dispatchEvent(new MouseEvent('mouseover', {bubbles: true, "
                     "clientX: 200, clientY: 200}))");
  std::string tip;
  EXPECT_TRUE(WaitFor(
      [&] {
        simdjson::dom::parser parser;
        tip = ResultValue(
            parser, browser_->Evaluate("(() => { const t = document.getElementById('tip'); "
                                       "return t.dataset.zone + '|' + t.style.display + '|' + "
                                       "t.innerText; })()"));
        return tip.rfind(top->id + "|block|", 0) == 0 &&
               tip.find("supply (drivers)") != std::string::npos;
      },
      10000))
      << tip;
  EXPECT_NE(tip.find("demand (requests)"), std::string::npos) << tip;
  EXPECT_NE(tip.find("ratio"), std::string::npos) << tip;
  EXPECT_NE(tip.find("bound"), std::string::npos) << tip;
  // Its last hour as a sparkline, from PRICING_UPDATES: a point per tick it was priced.
  std::string spark;
  EXPECT_TRUE(WaitFor(
      [&] {
        simdjson::dom::parser parser;
        spark = ResultValue(parser,
                            browser_->Evaluate("(() => { const s = document.querySelector('#tip "
                                               "svg.spark'); return s ? s.dataset.points + '|' + "
                                               "s.querySelector('path').getAttribute('d') : "
                                               "document.getElementById('tip').innerText; })()"));
        return !spark.empty() && std::isdigit(static_cast<unsigned char>(spark[0])) &&
               std::atoi(spark.c_str()) >= 3;
      },
      10000))
      << "no sparkline of at least 3 ticks in the tip: " << spark;
  EXPECT_NE(spark.find("|M"), std::string::npos) << spark;
  // /api/history has a point per tick that the stream holds for the zone.
  const HttpResult history = HttpGet(port, "/api/history?city=nyc&zone=" + top->id);
  EXPECT_EQ(history.status, 200) << history.body;
  const std::size_t stored =
      ReadStream(*client_, "PRICING_UPDATES", "pricing.update.nyc." + top->id).size();
  const std::size_t points =
      static_cast<std::size_t>(std::count(history.body.begin(), history.body.end(), '[') - 1);
  EXPECT_GE(points, 4u) << history.body;
  EXPECT_LE(points, stored) << history.body;
  EXPECT_GE(points + 2, stored) << "a tick or two may be stored after the read: " << history.body;
  // The header names the tick it shows and how old it is.
  simdjson::dom::parser status_parser;
  const std::string status = ResultValue(
      status_parser, browser_->Evaluate("document.getElementById('status').textContent"));
  EXPECT_NE(status.find(" old) · "), std::string::npos) << status;

  browser_->Screenshot(dir_ / "surge-map.png");
  EXPECT_GT(fs::file_size(dir_ / "surge-map.png"), 10000u);
  if (const char* out = std::getenv("PRICING_MAP_SCREENSHOT")) {
    fs::copy_file(dir_ / "surge-map.png", out, fs::copy_options::overwrite_existing);
  }
  generator_->Signal(SIGTERM);
  EXPECT_EQ(generator_->Wait(20000), 0);
}

}  // namespace
}  // namespace pricing::test
