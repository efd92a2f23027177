// Grafana cannot run here, so the dashboards are proven another way: a real Prometheus
// scrapes a real processor fed by the generator on a real 3-node cluster, and every
// PromQL expression of every panel on the processor's metrics must evaluate without
// error to at least one series. Panels on the NATS exporter's metrics are checked for
// names the exporter really exposes.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cluster_fixture.h"
#include "http_get.h"
#include "pricing_yaml.h"

namespace pricing::test {
namespace {

namespace fs = std::filesystem;

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

struct PanelQuery {
  std::string dashboard, panel, expr;
};

std::vector<PanelQuery> DashboardQueries() {
  std::vector<PanelQuery> out;
  simdjson::dom::parser parser;
  for (const auto& entry :
       fs::directory_iterator(fs::path(PRICING_SOURCE_DIR) / "grafana" / "dashboards")) {
    if (entry.path().extension() != ".json") continue;
    const simdjson::padded_string json = simdjson::padded_string::load(entry.path().string());
    const simdjson::dom::element d = parser.parse(json);
    for (simdjson::dom::element p : d["panels"].get_array()) {
      for (simdjson::dom::element t : p["targets"].get_array()) {
        out.push_back({entry.path().filename().string(),
                       std::string(p["title"].get_string().value()),
                       std::string(t["expr"].get_string().value())});
      }
    }
  }
  return out;
}

// Metric names in an expression: identifiers followed by '{', '[', ')' or the end,
// that are not PromQL functions or keywords.
std::set<std::string> MetricNames(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"(\{[^}]*\})"), "{}");
  expr = std::regex_replace(expr, std::regex(R"((by|without)\s*\([^)]*\))"), " ");
  static const std::set<std::string> kWords = {
      "sum",     "max",      "min", "count", "avg",    "rate",   "by",
      "without", "topk",     "or",  "and",   "unless", "vector", "histogram_quantile",
      "le",      "increase", "on"};
  std::set<std::string> out;
  static const std::regex ident(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{|\[|\)|$|\s))");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), ident);
       it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    if (!kWords.count(name) && name.find('_') != std::string::npos) out.insert(name);
  }
  return out;
}

class DashboardsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pricing-dashboards-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (auto* p : {&generator_, &processor_, &prometheus_}) p->reset();
    cluster_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  fs::path dir_;
  std::unique_ptr<NatsCluster> cluster_;
  std::unique_ptr<ChildProcess> processor_, generator_, prometheus_;
};

TEST_F(DashboardsTest, EveryPanelQueryReturnsSeriesFromARealRun) {
  const std::vector<PanelQuery> queries = DashboardQueries();
  ASSERT_GE(queries.size(), 20u) << "three dashboards with their panels expected";

  cluster_ = std::make_unique<NatsCluster>(3);
  const int http_port = FreePort(), prom_port = FreePort();
  PricingYaml()
      .Timing(10, 1, 300)
      .Set("health_check_interval_seconds", 1)
      .Set("nats_url", cluster_->urls())
      .Http(http_port)
      .NycCity()
      .Write(dir_ / "pricing.yaml");
  std::ofstream(dir_ / "prometheus.yml")
      << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
      << "scrape_configs:\n  - job_name: pricing\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << http_port << "']\n";
  prometheus_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
                               "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
                               "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
      std::map<std::string, std::string>{}, dir_ / "prometheus.log");
  processor_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config",
                               (dir_ / "pricing.yaml").string()},
      std::map<std::string, std::string>{}, dir_ / "processor.log");
  ASSERT_TRUE(WaitFor([&] { return HttpGet(http_port, "/readyz").status == 200; }, 60000))
      << "processor not ready; see " << dir_ / "processor.log";
  // Traffic with some bad input, so reject panels have something to show.
  generator_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "simulate", "--config",
                               (dir_ / "pricing.yaml").string(), "--rate", "400", "--duration",
                               "90", "--drivers", "800"},
      std::map<std::string, std::string>{}, dir_ / "generator.log");

  // Series exist from the start with zeros; wait for real traffic in Prometheus first.
  ASSERT_TRUE(WaitFor(
      [&] {
        const HttpResult r =
            HttpGet(prom_port, "/api/v1/query?query=" +
                                   UrlEncode("sum(rate(pricing_events_read_total[30s])) "
                                             "> 50 and sum(pricing_ticks_closed_total) > 3"));
        return r.status == 200 && r.body.find(R"("result":[])") == std::string::npos;
      },
      60000))
      << "no traffic reached Prometheus; see " << dir_;
  // Every panel query, until all have series or time runs out (rates need a few scrapes).
  std::map<std::string, std::string> failing;
  const auto evaluate = [&] {
    failing.clear();
    simdjson::dom::parser parser;
    for (const auto& q : queries) {
      if (q.dashboard == "nats-cluster.json") continue;  // exporter metrics: checked below
      std::string expr = std::regex_replace(q.expr, std::regex(R"(\$__rate_interval)"), "30s");
      expr = std::regex_replace(expr, std::regex(R"(\$city)"), "nyc");
      expr = std::regex_replace(expr, std::regex(R"(\$zone)"), ".*");
      const HttpResult r = HttpGet(prom_port, "/api/v1/query?query=" + UrlEncode(expr));
      const std::string key = q.dashboard + " / " + q.panel + ": " + expr;
      if (r.status != 200) {
        failing[key] = "HTTP " + std::to_string(r.status) + " " + r.body;
        continue;
      }
      const simdjson::dom::element e = parser.parse(simdjson::padded_string(r.body));
      if (std::string_view(e["status"]) != "success" || e["data"]["result"].get_array().size() == 0)
        failing[key] = "no series";
    }
    return failing.empty();
  };
  const bool all = WaitFor(evaluate, 60000);
  for (const auto& [query, why] : failing) ADD_FAILURE() << query << ": " << why;
  EXPECT_TRUE(all);
  generator_->Signal(SIGTERM);  // it stops early on a signal, and reports normally
  EXPECT_EQ(generator_->Wait(20000), 0) << "see " << dir_ / "generator.log";
}

// The exporter names varz metrics gnatsd_varz_<field> after every numeric field of a
// server's /varz (collector/collector.go), and JetStream ones from a fixed list
// (collector/jsz.go). Both are checked: varz against a real server's /varz.
TEST(Dashboards, NatsPanelsUseMetricsTheExporterExposes) {
  const std::set<std::string> jetstream = {"jetstream_server_jetstream_disabled",
                                           "jetstream_server_total_streams",
                                           "jetstream_server_total_consumers",
                                           "jetstream_server_total_messages",
                                           "jetstream_server_total_message_bytes",
                                           "jetstream_server_max_memory",
                                           "jetstream_server_max_storage",
                                           "jetstream_stream_total_messages",
                                           "jetstream_stream_total_bytes",
                                           "jetstream_stream_first_seq",
                                           "jetstream_stream_last_seq",
                                           "jetstream_stream_consumer_count",
                                           "jetstream_consumer_delivered_consumer_seq",
                                           "jetstream_consumer_delivered_stream_seq",
                                           "jetstream_consumer_num_ack_pending",
                                           "jetstream_consumer_num_redelivered",
                                           "jetstream_consumer_num_waiting",
                                           "jetstream_consumer_num_pending",
                                           "jetstream_consumer_ack_floor_stream_seq",
                                           "jetstream_consumer_ack_floor_consumer_seq"};
  NatsCluster cluster(3);
  const HttpResult varz = HttpGet(cluster.monitor_port(0), "/varz");
  ASSERT_EQ(varz.status, 200);
  simdjson::dom::parser parser;
  const simdjson::dom::element v = parser.parse(simdjson::padded_string(varz.body));
  int checked = 0;
  for (const auto& q : DashboardQueries()) {
    if (q.dashboard != "nats-cluster.json") continue;
    for (const std::string& name : MetricNames(q.expr)) {
      ++checked;
      if (name.rfind("gnatsd_varz_", 0) == 0) {
        const std::string field = name.substr(12);
        simdjson::dom::element value;
        EXPECT_TRUE(!v[field].get(value) &&
                    (value.is_int64() || value.is_uint64() || value.is_double()))
            << q.panel << ": " << name << " (no numeric /varz field '" << field << "')";
      } else {
        EXPECT_TRUE(jetstream.count(name))
            << q.panel << ": " << name << " is not an exporter metric";
      }
    }
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace pricing::test
