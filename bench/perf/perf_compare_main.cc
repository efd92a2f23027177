// The messaging comparison harness: core NATS, JetStream R1 and R3, Kafka (a real
// broker or librdkafka's mock cluster in its own process) and a plain loopback socket
// as the floor, each driven open-loop over a sweep of cells, then an optional search
// for each system's highest sustainable rate. Writes cells.csv, cells.json, one .hgrm
// per histogram and summary.md into --out.
//
//   perf_compare --out DIR [--backends a,b] [--sizes 100,1024] [--rates 1000,10000]
//                [--partitions 1,4] [--profiles default,tuned] [--seconds S]
//                [--warmup S] [--find-max] [--search-seconds S] [--max-rate R]
//                [--nats URLS] [--kafka-brokers HOST:PORT | --kafka-mock BIN]
//                [--kafka-replication N] [--nats-fsync URLS] [--kafka-warmup-seconds S]
//                [--nats-pid-files F,..] [--nats-fsync-pid-files F,..] [--kafka-pid-files F,..]
// Every cell also reports what it cost: the CPU of the servers (from their pid files)
// and of this process, and the servers' resident memory.
#include <librdkafka/rdkafka.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/json_writer.h"
#include "perf/backend.h"
#include "perf/failover.h"
#include "perf/kafka_mock_process.h"
#include "perf/pipeline.h"
#include "perf/rate_search.h"
#include "perf/runner.h"

namespace pricing::perf {

namespace {

[[noreturn]] void Usage(const std::string& why) {
  std::string backends;
  for (const auto& name : BackendNames()) backends += (backends.empty() ? "" : ",") + name;
  std::cerr
      << "perf_compare: " << why << "\nusage: perf_compare --out DIR [--backends " << backends
      << "]\n       [--sizes 100,1024] [--rates 1000,10000,50000]\n"
         "       [--partitions 1,4] [--profiles default,tuned,omb] [--seconds S] [--warmup S]\n"
         "       [--find-max] [--search-seconds S] [--search-sizes 100] [--max-rate R]\n"
         "       [--pipeline-rates 1000,5000 --pricing BIN --zones GEOJSON]\n"
         "       [--pipeline-seconds S] [--pipeline-only] [--nats URLS]\n"
         "       [--pipeline-find-max [--pipeline-search-seconds S] [--pipeline-max-rate R]]\n"
         "       [--nats-sync-interval always|DURATION]\n"
         "       [--kafka-brokers HOST:PORT | --kafka-mock PATH] [--kafka-replication N]\n"
         "       [--nats-pid-files F,F,..] [--kafka-pid-files F,F,..]\n"
         "       [--nats-fsync URLS] [--nats-fsync-pid-files F,F,..]\n"
         "       [--kafka-warmup-seconds S]\n"
         "       [--failover-rate R [--failover-seconds S] --nats-state DIR --nats-restart CMD\n"
         "        --kafka-state DIR --kafka-restart CMD]\n";
  std::exit(2);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

double ToNumber(const std::string& flag, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !std::isfinite(d) || d < lo || d > hi) {
    std::ostringstream why;
    why << "--" << flag << " '" << v << "': expected a number from " << lo << " to " << hi;
    Usage(why.str());
  }
  return d;
}

struct Options {
  std::string out;
  std::vector<std::string> backends = BackendNames();
  std::vector<std::size_t> sizes = {100, 1024};
  std::vector<double> rates = {1000, 10000, 50000};
  std::vector<int> partitions = {1, 4};
  std::vector<Profile> profiles = {Profile::kDefault, Profile::kTuned};
  double seconds = 10;
  double warmup = 2;
  bool find_max = false;
  double search_seconds = 5;
  double max_rate = 400000;
  std::vector<std::size_t> search_sizes;  // empty: every size of the sweep
  std::vector<double> pipeline_rates;     // empty: no pipeline comparison
  bool pipeline_only = false;             // skip the sweep and the search
  double pipeline_seconds = 20;
  // The pipeline's highest sustained rate: searched from the highest --pipeline-rates
  // that held, each try --pipeline-search-seconds long, doubling no further than the cap.
  bool pipeline_find_max = false;
  double pipeline_search_seconds = 10;
  double pipeline_max_rate = 160000;
  std::string pricing_bin;
  std::string zones;
  Endpoints endpoints;
  std::string kafka_mock;
  double kafka_warmup_seconds = 0;  // a run not recorded before the first Kafka cell
  // The failover runs (0: none): the leader SIGKILLed a third of the way in, found by
  // name in the cluster's state folder (NAME.pid) and started again by a command.
  double failover_rate = 0;
  double failover_seconds = 30;
  std::string nats_state, kafka_state;
  std::string nats_restart, kafka_restart;
};

// kafka, kafka-group, kafka-fsync: the systems that need a Kafka cluster.
bool IsKafka(const std::string& backend) { return backend.rfind("kafka", 0) == 0; }

bool WantsKafka(const std::vector<std::string>& backends) {
  return std::any_of(backends.begin(), backends.end(), IsKafka);
}

// The OMB profile is Kafka's driver settings: no NATS cell runs it.
bool ProfileApplies(Profile p, const std::string& backend) {
  return p != Profile::kOmb || IsKafka(backend);
}

bool Has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

Options Parse(int argc, char** argv) {
  Options o;
  bool backends_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--find-max") {
      o.find_max = true;
      continue;
    }
    if (flag == "--pipeline-only") {
      o.pipeline_only = true;
      continue;
    }
    if (flag == "--pipeline-find-max") {
      o.pipeline_find_max = true;
      continue;
    }
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) Usage("unexpected '" + flag + "'");
    const std::string v = argv[++i];
    const std::string name = flag.substr(2);
    if (name == "out") {
      o.out = v;
    } else if (name == "backends") {
      o.backends = Split(v);
      backends_given = true;
      const auto known = BackendNames();
      std::string allowed;
      for (const auto& k : known) allowed += (allowed.empty() ? "" : ", ") + k;
      for (const auto& b : o.backends)
        if (!Has(known, b)) Usage("--backends: unknown '" + b + "'; allowed: " + allowed);
    } else if (name == "sizes") {
      o.sizes.clear();
      for (const auto& s : Split(v))
        o.sizes.push_back(static_cast<std::size_t>(ToNumber(name, s, 28, 1 << 20)));
    } else if (name == "rates") {
      o.rates.clear();
      for (const auto& s : Split(v)) o.rates.push_back(ToNumber(name, s, 1, 10'000'000));
    } else if (name == "partitions") {
      o.partitions.clear();
      for (const auto& s : Split(v))
        o.partitions.push_back(static_cast<int>(ToNumber(name, s, 1, 256)));
    } else if (name == "profiles") {
      o.profiles.clear();
      for (const auto& s : Split(v)) {
        if (s == "default") {
          o.profiles.push_back(Profile::kDefault);
        } else if (s == "tuned") {
          o.profiles.push_back(Profile::kTuned);
        } else if (s == "omb") {
          o.profiles.push_back(Profile::kOmb);  // Kafka's cells only
        } else {
          Usage("--profiles: unknown '" + s + "'; allowed: default, tuned, omb");
        }
      }
    } else if (name == "seconds") {
      o.seconds = ToNumber(name, v, 0.1, 3600);
    } else if (name == "warmup") {
      o.warmup = ToNumber(name, v, 0, 600);
    } else if (name == "search-seconds") {
      o.search_seconds = ToNumber(name, v, 0.5, 600);
    } else if (name == "search-sizes") {
      for (const auto& s : Split(v))
        o.search_sizes.push_back(static_cast<std::size_t>(ToNumber(name, s, 28, 1 << 20)));
    } else if (name == "pipeline-rates") {
      for (const auto& s : Split(v)) o.pipeline_rates.push_back(ToNumber(name, s, 1, 1'000'000));
    } else if (name == "pipeline-seconds") {
      o.pipeline_seconds = ToNumber(name, v, 1, 3600);
    } else if (name == "pipeline-search-seconds") {
      o.pipeline_search_seconds = ToNumber(name, v, 1, 3600);
    } else if (name == "pipeline-max-rate") {
      o.pipeline_max_rate = ToNumber(name, v, 1, 1'000'000);
    } else if (name == "pricing") {
      o.pricing_bin = v;
    } else if (name == "zones") {
      o.zones = v;
    } else if (name == "max-rate") {
      o.max_rate = ToNumber(name, v, 1, 10'000'000);
    } else if (name == "nats") {
      o.endpoints.nats_urls = v;
    } else if (name == "nats-sync-interval") {
      o.endpoints.nats_sync_interval = v;
    } else if (name == "kafka-brokers") {
      o.endpoints.kafka_brokers = v;
    } else if (name == "kafka-mock") {
      o.kafka_mock = v;
    } else if (name == "nats-fsync") {
      o.endpoints.nats_fsync_urls = v;
    } else if (name == "nats-fsync-pid-files") {
      o.endpoints.nats_fsync_pids = ReadPidFiles(Split(v));
    } else if (name == "failover-rate") {
      o.failover_rate = ToNumber(name, v, 1, 1'000'000);
    } else if (name == "failover-seconds") {
      o.failover_seconds = ToNumber(name, v, 3, 3600);
    } else if (name == "nats-state") {
      o.nats_state = v;
    } else if (name == "kafka-state") {
      o.kafka_state = v;
    } else if (name == "nats-restart") {
      o.nats_restart = v;
    } else if (name == "kafka-restart") {
      o.kafka_restart = v;
    } else if (name == "kafka-warmup-seconds") {
      o.kafka_warmup_seconds = ToNumber(name, v, 0, 600);
    } else if (name == "nats-pid-files") {
      o.endpoints.nats_pids = ReadPidFiles(Split(v));
    } else if (name == "kafka-pid-files") {
      o.endpoints.kafka_pids = ReadPidFiles(Split(v));
    } else if (name == "kafka-replication") {
      o.endpoints.kafka_replication = static_cast<int>(ToNumber(name, v, 1, 16));
    } else {
      Usage("unknown flag '" + flag + "'");
    }
  }
  if (o.out.empty()) Usage("--out DIR is required");
  if (!o.pipeline_rates.empty() && (o.pricing_bin.empty() || o.zones.empty()))
    Usage("--pipeline-rates needs --pricing BIN and --zones GEOJSON");
  if (o.pipeline_find_max && o.pipeline_rates.empty())
    Usage("--pipeline-find-max starts from --pipeline-rates: give at least one");
  if (o.sizes.empty() || o.rates.empty() || o.partitions.empty() || o.profiles.empty())
    Usage("--sizes, --rates, --partitions and --profiles need at least one value each");
  // The fsync profiles need what they compare: a cluster that fsyncs, a real Kafka.
  const bool mock = o.endpoints.kafka_brokers.empty();
  if (!backends_given) {
    std::erase_if(o.backends, [&](const std::string& b) {
      return (b == "jetstream-r3-fsync" && o.endpoints.nats_fsync_urls.empty()) ||
             ((b == "kafka-fsync" || b == "kafka-group") && mock);
    });
  }
  if (Has(o.backends, "jetstream-r3-fsync") && o.endpoints.nats_fsync_urls.empty())
    Usage("jetstream-r3-fsync needs --nats-fsync URLS (servers with sync_interval always)");
  if (Has(o.backends, "kafka-fsync") && mock)
    Usage("kafka-fsync needs --kafka-brokers: the mock cluster writes nothing to disk");
  const bool wants_kafka = WantsKafka(o.backends);
  if (wants_kafka && mock && o.kafka_mock.empty())
    Usage("the kafka backend needs --kafka-brokers HOST:PORT or --kafka-mock PATH");
  return o;
}

std::string CellId(const CellResult& r) {
  std::ostringstream id;
  id << r.spec.backend << "_" << ToString(r.spec.profile) << "_" << r.spec.message_bytes << "B_p"
     << r.spec.partitions << "_" << static_cast<int64_t>(std::llround(r.spec.rate));
  return id.str();
}

struct Metric {
  const char* name;
  const char* what;
  const LatencyHistogram* h;
};

std::vector<Metric> MetricsOf(const CellResult& r) {
  std::vector<Metric> m = {
      {"e2e", "end to end from the intended send time (corrected for coordinated omission)",
       &r.e2e_intended},
      {"e2e_from_send", "end to end from the actual send", &r.e2e_sent}};
  if (r.has_acks) m.push_back({"ack", "publish to ack, from the actual send", &r.ack});
  return m;
}

constexpr double kPercentiles[] = {50, 90, 99, 99.9, 99.99};
constexpr const char* kPercentileNames[] = {"p50", "p90", "p99", "p99.9", "p99.99"};

double Us(int64_t ns) { return static_cast<double>(ns) / 1000.0; }
double Mib(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// The cost columns of cells.csv: server CPU %, client CPU %, server RSS, client RSS
// (empty where not measured).
std::string Cost(const CellResult& r) {
  char buf[96];
  if (r.servers.empty()) {
    std::snprintf(buf, sizeof buf, ",%.1f,,%.1f", r.client.cpu_percent, Mib(r.client.rss_bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f,%.1f,%.1f,%.1f", r.ServerCpuPercent(),
                  r.client.cpu_percent, Mib(r.ServerRssBytes()), Mib(r.client.rss_bytes));
  }
  return buf;
}

std::string FormatLatency(int64_t ns) {
  char buf[32];
  if (ns >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  } else if (ns >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f ms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f µs", static_cast<double>(ns) / 1e3);
  }
  return buf;
}

std::string Percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f %%", p);
  return buf;
}

std::string MibText(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB", Mib(bytes));
  return buf;
}

std::string Now() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string Machine() {
  utsname u{};
  uname(&u);
  std::ostringstream m;
  m << std::thread::hardware_concurrency() << " CPUs, " << u.sysname << " " << u.release << " "
    << u.machine << "; libnats " << nats_GetVersion() << ", librdkafka " << rd_kafka_version_str();
  return m.str();
}

struct MaxRate {
  std::string backend, label;
  Profile profile = Profile::kDefault;
  std::size_t bytes = 0;
  int partitions = 1;
  double rate = 0;          // highest sustained
  double first_failed = 0;  // lowest that did not hold (0: none failed up to --max-rate)
  std::string failed_because;
  int64_t p99_ns = 0;  // corrected p99 at the highest sustained rate
};

// The pipeline's highest sustained rate on one backend.
struct PipelineMax {
  std::string backend, label;
  double rate = 0;          // highest sustained (0: none held)
  double first_failed = 0;  // lowest that did not hold (0: none up to the cap)
  std::string failed_because;
  int64_t event_to_update_p99_ns = 0;  // at the highest sustained rate
  int64_t close_to_update_p99_ns = 0;
};

void WriteCell(JsonWriter& w, const CellResult& r, const std::string& id) {
  w.BeginObject();
  w.Key("id").String(id).Key("backend").String(r.spec.backend).Key("label").String(r.label);
  w.Key("profile").String(ToString(r.spec.profile));
  w.Key("message_bytes").Uint(r.spec.message_bytes).Key("partitions").Int(r.spec.partitions);
  w.Key("rate").Double(r.spec.rate).Key("warmup_seconds").Double(r.spec.warmup_seconds);
  w.Key("seconds").Double(r.spec.seconds);
  w.Key("planned").Uint(r.planned).Key("sent").Uint(r.sent).Key("send_errors").Uint(r.send_errors);
  w.Key("received").Uint(r.received).Key("lost").Uint(r.lost).Key("duplicates").Uint(r.duplicates);
  w.Key("acked").Uint(r.acked).Key("ack_errors").Uint(r.ack_errors);
  w.Key("send_rate")
      .Double(std::round(r.send_rate))
      .Key("receive_rate")
      .Double(std::round(r.receive_rate));
  w.Key("end_send_lag_us").Double(Us(r.end_send_lag_ns));
  w.Key("sustainable").Bool(r.sustainable).Key("verdict").String(r.verdict);
  w.Key("consumer").String(r.consumer);
  // CPU as % of one core over the measured part; resident memory at its end.
  w.Key("cost").BeginObject();
  w.Key("servers").BeginArray();
  for (const ProcCost& c : r.servers) {
    w.BeginObject().Key("pid").Int(c.pid).Key("process").String(c.name);
    w.Key("cpu_percent").Double(std::round(c.cpu_percent * 10) / 10);
    w.Key("rss_mib").Double(std::round(Mib(c.rss_bytes) * 10) / 10).EndObject();
  }
  w.EndArray();
  w.Key("server_cpu_percent").Double(std::round(r.ServerCpuPercent() * 10) / 10);
  w.Key("server_rss_mib").Double(std::round(Mib(r.ServerRssBytes()) * 10) / 10);
  w.Key("client_cpu_percent").Double(std::round(r.client.cpu_percent * 10) / 10);
  w.Key("client_rss_mib").Double(std::round(Mib(r.client.rss_bytes) * 10) / 10);
  w.EndObject();
  w.Key("latency_us").BeginObject();
  for (const Metric& m : MetricsOf(r)) {
    w.Key(m.name).BeginObject();
    w.Key("count").Int(m.h->count());
    for (std::size_t i = 0; i < std::size(kPercentiles); ++i)
      w.Key(kPercentileNames[i]).Double(Us(m.h->ValueAtPercentile(kPercentiles[i])));
    w.Key("max").Double(Us(m.h->max())).Key("mean").Double(std::round(m.h->mean()) / 1000.0);
    w.Key("hgrm").String("hgrm/" + id + "." + m.name + ".hgrm");
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
}

class Report {
 public:
  explicit Report(Options o) : o_(std::move(o)) {
    std::filesystem::create_directories(o_.out + "/hgrm");
    csv_.open(o_.out + "/cells.csv");
    csv_ << "id,system,profile,message_bytes,partitions,rate,sent,received,lost,send_rate,"
            "receive_rate,metric,count,p50_us,p90_us,p99_us,p99.9_us,p99.99_us,max_us,mean_us,"
            "sustainable,verdict,server_cpu_pct,client_cpu_pct,server_rss_mib,client_rss_mib\n";
  }

  void Add(const CellResult& r, bool search) {
    const std::string id = CellId(r) + (search ? "_search" : "");
    for (const Metric& m : MetricsOf(r)) {
      std::ofstream h(o_.out + "/hgrm/" + id + "." + m.name + ".hgrm");
      m.h->WriteHgrm(h);
      csv_ << id << ",\"" << r.label << "\"," << ToString(r.spec.profile) << ","
           << r.spec.message_bytes << "," << r.spec.partitions << "," << r.spec.rate << ","
           << r.sent << "," << r.received << "," << r.lost << "," << std::llround(r.send_rate)
           << "," << std::llround(r.receive_rate) << "," << m.name << "," << m.h->count();
      for (double p : kPercentiles) csv_ << "," << Us(m.h->ValueAtPercentile(p));
      csv_ << "," << Us(m.h->max()) << "," << m.h->mean() / 1000.0 << ","
           << (r.sustainable ? "true" : "false") << ",\"" << r.verdict << "\"," << Cost(r) << "\n";
    }
    csv_.flush();
    if (!search) {
      cells_.emplace_back(id, r);
      labels_[r.label] = r.durability;
      consumers_[r.label] = r.consumer;
    } else {
      search_cells_.emplace_back(id, r);
    }
  }

  void AddMax(const MaxRate& m) { max_rates_.push_back(m); }
  void AddFailover(const FailoverResult& f) {
    failovers_.push_back(f);
    labels_[f.label] = labels_.count(f.label) ? labels_[f.label] : f.durability;
  }

  // `search`: a try of the pipeline's max-rate search, kept apart from the fixed rates.
  void AddPipeline(const PipelineResult& p, bool search) {
    const std::string id = "pipeline_" + p.spec.backend + "_" +
                           std::to_string(static_cast<int64_t>(std::llround(p.spec.rate))) +
                           (search ? "_search" : "");
    std::ofstream(o_.out + "/hgrm/" + id + ".event_to_update.hgrm") << Hgrm(p.event_to_update);
    std::ofstream(o_.out + "/hgrm/" + id + ".close_to_update.hgrm") << Hgrm(p.close_to_update);
    (search ? pipeline_tries_ : pipelines_).emplace_back(id, p);
    labels_[p.label] = labels_.count(p.label) ? labels_[p.label] : p.durability;
  }
  void AddPipelineMax(const PipelineMax& m) { pipeline_max_.push_back(m); }

  std::vector<const CellResult*> Cells() const {
    std::vector<const CellResult*> out;
    for (const auto& [id, r] : cells_) out.push_back(&r);
    return out;
  }

  void Write() {
    std::string json;
    JsonWriter w(&json);
    w.BeginObject();
    w.Key("generated").String(Now()).Key("machine").String(Machine());
    w.Key("method").String(
        "open loop: message i is due at t0 + i/rate; latency is recorded from the intended "
        "send time (corrected for coordinated omission) and from the actual send; warm-up "
        "messages are sent but not recorded; all clients and servers share this machine");
    w.Key("durability").BeginObject();
    for (const auto& [label, text] : labels_) w.Key(label).String(text);
    w.EndObject();
    w.Key("cells").BeginArray();
    for (const auto& [id, r] : cells_) WriteCell(w, r, id);
    w.EndArray();
    w.Key("max_rate_search").BeginArray();
    for (const auto& [id, r] : search_cells_) WriteCell(w, r, id);
    w.EndArray();
    for (const auto& [key, list] :
         {std::pair{"pipeline", &pipelines_}, std::pair{"pipeline_search", &pipeline_tries_}}) {
      w.Key(key).BeginArray();
      for (const auto& [id, p] : *list) WritePipeline(w, id, p);
      w.EndArray();
    }
    w.Key("pipeline_max_rates").BeginArray();
    for (const PipelineMax& m : pipeline_max_) {
      w.BeginObject();
      w.Key("backend").String(m.backend).Key("label").String(m.label);
      w.Key("max_sustained_rate").Double(std::round(m.rate));
      w.Key("first_failed_rate").Double(std::round(m.first_failed));
      w.Key("failed_because").String(m.failed_because);
      w.Key("event_to_update_p99_us_at_max").Double(Us(m.event_to_update_p99_ns));
      w.Key("close_to_update_p99_us_at_max").Double(Us(m.close_to_update_p99_ns));
      w.EndObject();
    }
    w.EndArray();
    w.Key("failover").BeginArray();
    for (const FailoverResult& f : failovers_) {
      w.BeginObject();
      w.Key("backend").String(f.backend).Key("label").String(f.label);
      w.Key("consumer").String(f.consumer);
      w.Key("rate").Double(f.rate).Key("seconds").Double(f.seconds);
      w.Key("killed").String(f.killed).Key("error").String(f.error);
      w.Key("sent").Uint(f.sent).Key("send_errors").Uint(f.send_errors);
      w.Key("acked").Uint(f.acked).Key("ack_errors").Uint(f.ack_errors);
      w.Key("received").Uint(f.received).Key("lost").Uint(f.lost);
      w.Key("duplicates").Uint(f.duplicates);
      w.Key("publish_outage_s").Double(std::round(f.publish_outage_s * 1000) / 1000);
      w.Key("consume_stall_s").Double(std::round(f.consume_stall_s * 1000) / 1000);
      w.Key("resumed_after_s").Double(std::round(f.resumed_after_s * 1000) / 1000);
      w.EndObject();
    }
    w.EndArray();
    w.Key("max_rates").BeginArray();
    for (const MaxRate& m : max_rates_) {
      w.BeginObject();
      w.Key("backend").String(m.backend).Key("label").String(m.label);
      w.Key("profile").String(ToString(m.profile)).Key("message_bytes").Uint(m.bytes);
      w.Key("partitions").Int(m.partitions).Key("max_sustained_rate").Double(std::round(m.rate));
      w.Key("first_failed_rate").Double(std::round(m.first_failed));
      w.Key("failed_because").String(m.failed_because);
      w.Key("p99_us_at_max").Double(Us(m.p99_ns));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::ofstream(o_.out + "/cells.json") << json << "\n";
    WriteSummary();
  }

 private:
  void WriteSummary() {
    std::ofstream md(o_.out + "/summary.md");
    md << "# Messaging latency comparison\n\n"
       << "Generated " << Now() << " on " << Machine() << ".\n\n"
       << "Open loop (message i due at t0 + i/rate), " << o_.warmup << " s warm-up not recorded, "
       << o_.seconds << " s measured per cell. *Corrected* latency runs from the intended send "
       << "time (it includes any wait a late sender imposed: coordinated omission); *from send* "
       << "from the moment the message left. Every client and server shares this machine's "
       << "CPUs, so absolute numbers are this machine's, and ratios between systems are what "
       << "carries over.\n\n";
    md << "## Durability of an acknowledged message, and how each system was read\n\n"
       << "| system | what an ack means | the cells' consumer |\n|---|---|---|\n";
    for (const auto& [label, text] : labels_) {
      const auto c = consumers_.find(label);
      md << "| " << label << " | " << text << " | "
         << (c != consumers_.end() ? c->second : "`pricing run`'s own (the pipeline)") << " |\n";
    }
    md << "\n## Cells\n\n"
       << "*Server CPU* is the sum over the system's server processes (brokers or "
          "nats-servers), *client CPU* this harness's process (sender, receiver and the client "
          "library's threads), both in % of one core over the measured seconds (this machine "
          "has "
       << std::thread::hardware_concurrency() << " cores: their sum cannot pass "
       << 100 * std::thread::hardware_concurrency()
       << " %). *Server RSS* is the sum of the servers' resident memory at the end of the "
          "cell.\n\n"
       << "| system | client | size | parts | rate/s | sent/s | corrected p50 | p99 | p99.9 | "
          "max | from send p50 | p99 | ack p50 | ack p99 | server CPU | client CPU | server RSS | "
          "verdict |\n"
       << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& [id, r] : cells_) {
      md << "| " << r.label << " | " << ToString(r.spec.profile) << " | " << r.spec.message_bytes
         << " B | " << r.spec.partitions << " | " << std::llround(r.spec.rate) << " | "
         << std::llround(r.send_rate) << " | "
         << FormatLatency(r.e2e_intended.ValueAtPercentile(50)) << " | "
         << FormatLatency(r.e2e_intended.ValueAtPercentile(99)) << " | "
         << FormatLatency(r.e2e_intended.ValueAtPercentile(99.9)) << " | "
         << FormatLatency(r.e2e_intended.max()) << " | "
         << FormatLatency(r.e2e_sent.ValueAtPercentile(50)) << " | "
         << FormatLatency(r.e2e_sent.ValueAtPercentile(99)) << " | "
         << (r.has_acks ? FormatLatency(r.ack.ValueAtPercentile(50)) : "—") << " | "
         << (r.has_acks ? FormatLatency(r.ack.ValueAtPercentile(99)) : "—") << " | "
         << (r.servers.empty() ? std::string("—") : Percent(r.ServerCpuPercent())) << " | "
         << Percent(r.client.cpu_percent) << " | "
         << (r.servers.empty() ? std::string("—") : MibText(r.ServerRssBytes())) << " | "
         << r.verdict << " |\n";
    }
    if (!pipelines_.empty()) {
      md << "\n## The pipeline: event to pricing update\n\n"
         << "The real `pricing run` on each backend, fed open loop by the load generator on one "
         << "city (NYC zones), 1 s ticks with 200 ms allowed lateness. *Event to update* runs "
         << "from an event's intended send time to the first pricing update of the tick that "
         << "counts it, so it includes waiting for the tick to end (half an interval on "
         << "average) and the lateness; *close to update* from the tick's close to that "
         << "update: what the broker and the processor add.\n\n"
         << "| system | events/s | sent/s | event to update p50 | p99 | p99.9 | max | close to "
            "update p50 | p99 | max | ticks | refused late | verdict |\n"
         << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
      for (const auto& [id, p] : pipelines_) {
        md << "| " << p.label << " | " << std::llround(p.spec.rate) << " | "
           << std::llround(p.send_rate) << " | "
           << FormatLatency(p.event_to_update.ValueAtPercentile(50)) << " | "
           << FormatLatency(p.event_to_update.ValueAtPercentile(99)) << " | "
           << FormatLatency(p.event_to_update.ValueAtPercentile(99.9)) << " | "
           << FormatLatency(p.event_to_update.max()) << " | "
           << FormatLatency(p.close_to_update.ValueAtPercentile(50)) << " | "
           << FormatLatency(p.close_to_update.ValueAtPercentile(99)) << " | "
           << FormatLatency(p.close_to_update.max()) << " | " << p.ticks << " | "
           << p.processor_rejected << " | " << p.verdict << " |\n";
      }
    }
    if (!pipeline_max_.empty()) {
      md << "\n## The pipeline's highest sustained rate\n\n"
         << "Doubling from the highest rate above that held until a rate does not hold, then "
            "two bisection steps; each try starts a fresh processor and runs "
         << o_.pipeline_search_seconds << " s after a warm-up. A rate holds when every event "
         << "is sent and read, none is refused as late, every event is priced within an "
            "interval, the lateness and 1 s of when it was due, and the p99 from a tick's close "
            "to its update stays under 1 s.\n\n"
         << "| system | highest sustained events/s | event to update p99 there | close to "
            "update p99 there | first failed/s | why |\n|---|---|---|---|---|---|\n";
      for (const PipelineMax& m : pipeline_max_) {
        md << "| " << m.label << " | "
           << (m.rate > 0 ? std::to_string(std::llround(m.rate)) : std::string("none held"))
           << " | " << (m.rate > 0 ? FormatLatency(m.event_to_update_p99_ns) : "—") << " | "
           << (m.rate > 0 ? FormatLatency(m.close_to_update_p99_ns) : "—") << " | "
           << (m.first_failed > 0
                   ? std::to_string(std::llround(m.first_failed))
                   : "none up to " + std::to_string(std::llround(o_.pipeline_max_rate)))
           << " | " << m.failed_because << " |\n";
      }
    }
    if (!failovers_.empty()) {
      md << "\n## Failover: the leader SIGKILLed mid-run\n\n"
         << "Open loop at a fixed rate; a third of the way in, the node leading the stream "
            "(JetStream) or the partition (Kafka) is SIGKILLed, and started again after the "
            "run. *Publish outage* is the longest gap between two acknowledgements after the "
            "kill; *consumption stood still* the longest gap between two received messages "
            "after it, which ended *resumed after* the kill. *Lost*: acknowledged, never "
            "received. The harness publishes each message once: librdkafka retries inside "
            "the client, while a JetStream publish whose ack failed counts as an ack error "
            "here (`pricing simulate` publishes it again, with the same message id, which the "
            "stream de-duplicates).\n\n"
         << "| system | rate/s | killed | publish outage | consumption stood still | resumed "
            "after | acked | ack errors | lost | received twice |\n"
         << "|---|---|---|---|---|---|---|---|---|---|\n";
      for (const FailoverResult& f : failovers_) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%.2f s | %.2f s | %.2f s", f.publish_outage_s,
                      f.consume_stall_s, f.resumed_after_s);
        md << "| " << f.label << " | " << std::llround(f.rate) << " | "
           << (f.killed.empty() ? "none: " + f.error : f.killed) << " | " << buf << " | " << f.acked
           << " | " << f.ack_errors << " | " << f.lost << " | " << f.duplicates << " |\n";
      }
    }
    if (!max_rates_.empty()) {
      md << "\n## Highest sustained rate\n\n"
         << "Doubling from the highest rate that held in the sweep until a rate does not hold, "
            "then "
         << "three bisection steps; each try runs " << o_.search_seconds << " s after a 1 s "
         << "warm-up. A rate holds when every message is sent, stored and received, the sender "
         << "ends within " << kMaxEndLagNs / 1'000'000 << " ms of its schedule and the corrected "
         << "p99 stays under " << kMaxP99Ns / 1'000'000'000 << " s.\n\n"
         << "| system | client | size | parts | highest sustained/s | corrected p99 there | "
            "first failed/s | why |\n|---|---|---|---|---|---|---|---|\n";
      for (const MaxRate& m : max_rates_) {
        md << "| " << m.label << " | " << ToString(m.profile) << " | " << m.bytes << " B | "
           << m.partitions << " | " << std::llround(m.rate) << " | " << FormatLatency(m.p99_ns)
           << " | "
           << (m.first_failed > 0 ? std::to_string(std::llround(m.first_failed))
                                  : "none up to " + std::to_string(std::llround(o_.max_rate)))
           << " | " << m.failed_because << " |\n";
      }
    }
  }

  static void WritePipeline(JsonWriter& w, const std::string& id, const PipelineResult& p) {
    w.BeginObject();
    w.Key("id").String(id).Key("backend").String(p.spec.backend).Key("label").String(p.label);
    w.Key("rate").Double(p.spec.rate).Key("seconds").Double(p.spec.seconds);
    w.Key("interval_ms").Int(p.interval_ms).Key("allowed_lateness_ms").Int(p.lateness_ms);
    w.Key("sent").Uint(p.sent).Key("send_rate").Double(std::round(p.send_rate));
    w.Key("processor_read").Uint(p.processor_read).Key("ticks").Uint(p.ticks);
    w.Key("processor_rejected").Uint(p.processor_rejected);
    w.Key("unattributed").Uint(p.unattributed).Key("send_errors").Uint(p.send_errors);
    w.Key("sustainable").Bool(p.sustainable).Key("verdict").String(p.verdict);
    for (const auto& [name, h] :
         {std::pair<const char*, const LatencyHistogram*>{"event_to_update_us", &p.event_to_update},
          {"close_to_update_us", &p.close_to_update}}) {
      w.Key(name).BeginObject().Key("count").Int(h->count());
      for (std::size_t i = 0; i < std::size(kPercentiles); ++i)
        w.Key(kPercentileNames[i]).Double(Us(h->ValueAtPercentile(kPercentiles[i])));
      w.Key("max").Double(Us(h->max())).EndObject();
    }
    w.EndObject();
  }

  static std::string Hgrm(const LatencyHistogram& h) {
    std::ostringstream out;
    h.WriteHgrm(out);
    return out.str();
  }

  Options o_;
  std::ofstream csv_;
  std::vector<std::pair<std::string, PipelineResult>> pipelines_, pipeline_tries_;
  std::vector<PipelineMax> pipeline_max_;
  std::vector<std::pair<std::string, CellResult>> cells_, search_cells_;
  std::map<std::string, std::string> labels_;
  std::map<std::string, std::string> consumers_;  // per label: how its cells were read
  std::vector<MaxRate> max_rates_;
  std::vector<FailoverResult> failovers_;
};

CellResult RunOne(const Options& o, const std::string& backend_name, CellSpec spec) {
  auto backend = MakeBackend(backend_name, o.endpoints);
  spec.backend = backend_name;
  CellResult r = RunCell(*backend, spec);
  std::fprintf(stderr,
               "%-40s %-7s %5zu B p%-2d %8.0f/s: sent %8.0f/s, corrected p50 %s p99 %s, %s\n",
               r.label.c_str(), ToString(spec.profile), spec.message_bytes, spec.partitions,
               spec.rate, r.send_rate, FormatLatency(r.e2e_intended.ValueAtPercentile(50)).c_str(),
               FormatLatency(r.e2e_intended.ValueAtPercentile(99)).c_str(), r.verdict.c_str());
  return r;
}

int Main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Options o = Parse(argc, argv);
  std::unique_ptr<MockKafka> mock;
  const bool wants_kafka = WantsKafka(o.backends);
  if (wants_kafka && o.endpoints.kafka_brokers.empty() && !o.kafka_mock.empty()) {
    mock = std::make_unique<MockKafka>(o.kafka_mock);
    o.endpoints.kafka_brokers = mock->bootstraps();
    o.endpoints.kafka_is_mock = true;
    o.endpoints.kafka_pids = {static_cast<int>(mock->pid())};
    o.endpoints.kafka_create_topic = [m = mock.get()](const std::string& t, int p, int r) {
      return m->CreateTopic(t, p, r);
    };
    std::fprintf(stderr, "kafka-mock (in-memory, no replication) at %s, in its own process\n",
                 o.endpoints.kafka_brokers.c_str());
  }
  if (wants_kafka && !o.endpoints.kafka_is_mock && o.kafka_warmup_seconds > 0) {
    // Fresh brokers acknowledge seconds late while their JVMs compile the hot paths:
    // a run that is not recorded, at a moderate rate, until they are up to speed.
    CellSpec spec;
    spec.rate = 5000;
    spec.warmup_seconds = 0;
    spec.seconds = o.kafka_warmup_seconds;
    const CellResult w = RunOne(o, "kafka", spec);
    std::fprintf(stderr, "kafka warm-up (not recorded): %.0f s at %.0f/s, ack p99 %s\n",
                 spec.seconds, spec.rate, FormatLatency(w.ack.ValueAtPercentile(99)).c_str());
  }
  Report report(o);
  for (const auto& backend : o.pipeline_only ? std::vector<std::string>{} : o.backends) {
    for (Profile profile : o.profiles) {
      if (!ProfileApplies(profile, backend)) continue;
      for (std::size_t bytes : o.sizes) {
        for (int parts : o.partitions) {
          for (double rate : o.rates) {
            CellSpec spec;
            spec.profile = profile;
            spec.message_bytes = bytes;
            spec.partitions = parts;
            spec.rate = rate;
            spec.warmup_seconds = o.warmup;
            spec.seconds = o.seconds;
            report.Add(RunOne(o, backend, spec), false);
          }
        }
      }
    }
  }
  if (o.find_max && !o.pipeline_only) {
    for (const auto& backend : o.backends) {
      for (Profile profile : o.profiles) {
        if (!ProfileApplies(profile, backend)) continue;
        for (std::size_t bytes : o.search_sizes.empty() ? o.sizes : o.search_sizes) {
          CellSpec spec;
          spec.profile = profile;
          spec.message_bytes = bytes;
          spec.partitions = o.partitions.front();
          spec.warmup_seconds = 1;
          spec.seconds = o.search_seconds;
          MaxRate m;
          m.backend = backend;
          m.profile = profile;
          m.bytes = bytes;
          m.partitions = spec.partitions;
          std::map<double, CellResult> tries;
          // Start from the highest rate the sweep saw held for this system, profile, size
          // and partition count (the lowest swept rate when none held).
          double start = *std::min_element(o.rates.begin(), o.rates.end());
          for (const CellResult* c : report.Cells()) {
            if (c->spec.backend == backend && c->spec.profile == profile &&
                c->spec.message_bytes == bytes && c->spec.partitions == spec.partitions &&
                c->sustainable)
              start = std::max(start, c->spec.rate);
          }
          const RateSearch found = SearchMaxRate(start, o.max_rate, 3, [&](double rate) {
            spec.rate = rate;
            const CellResult& r = tries[rate] = RunOne(o, backend, spec);
            report.Add(r, true);
            return r.sustainable;
          });
          m.label = tries.begin()->second.label;
          m.rate = found.held;
          if (found.held > 0) m.p99_ns = tries[found.held].e2e_intended.ValueAtPercentile(99);
          m.first_failed = found.first_failed;
          if (found.first_failed > 0) m.failed_because = tries[found.first_failed].verdict;
          report.AddMax(m);
        }
      }
    }
  }
  if (o.failover_rate > 0 && !o.pipeline_only) {
    struct Side {
      const char* backend;
      Profile profile;
      std::string state, restart;
    };
    for (const Side& side : {Side{"jetstream-r3", Profile::kTuned, o.nats_state, o.nats_restart},
                             Side{"kafka", Profile::kOmb, o.kafka_state, o.kafka_restart}}) {
      if (!Has(o.backends, side.backend) || side.state.empty()) continue;
      auto backend = MakeBackend(side.backend, o.endpoints);
      if (backend == nullptr) continue;
      CellSpec spec;
      spec.backend = side.backend;
      spec.profile = side.profile;
      spec.rate = o.failover_rate;
      spec.seconds = o.failover_seconds;
      const std::string state = side.state;
      Backend* b = backend.get();
      const FailoverResult f =
          RunFailover(*backend, spec, o.failover_seconds / 3, [&](std::string* error) {
            const std::string leader = b->Leader();
            if (leader.empty()) {
              *error = "no leader known";
              return std::string();
            }
            const std::vector<int> pid = ReadPidFiles({state + "/" + leader + ".pid"});
            if (pid.empty() || ::kill(pid[0], SIGKILL) != 0) {
              *error = "cannot kill " + leader;
              return std::string();
            }
            return leader;
          });
      std::fprintf(stderr,
                   "failover %-30s %6.0f/s: %s killed, publish outage %.2f s, consumption "
                   "stood still %.2f s, %llu acked, %llu lost, %llu twice%s%s\n",
                   f.label.c_str(), f.rate, f.killed.empty() ? "none" : f.killed.c_str(),
                   f.publish_outage_s, f.consume_stall_s, static_cast<unsigned long long>(f.acked),
                   static_cast<unsigned long long>(f.lost),
                   static_cast<unsigned long long>(f.duplicates), f.error.empty() ? "" : ": ",
                   f.error.c_str());
      report.AddFailover(f);
      if (!side.restart.empty() && std::system(side.restart.c_str()) != 0)
        std::fprintf(stderr, "failover: '%s' failed\n", side.restart.c_str());
    }
  }
  if (!o.pipeline_rates.empty()) {
    PipelineOptions po;
    po.pricing_bin = o.pricing_bin;
    po.zones = std::filesystem::absolute(o.zones).string();
    po.work_dir = o.out + "/pipeline";
    std::filesystem::create_directories(po.work_dir);
    po.endpoints = o.endpoints;
    auto run = [&](const std::string& backend, double rate, double seconds, bool search) {
      PipelineSpec spec;
      spec.backend = backend;
      spec.rate = rate;
      spec.seconds = seconds;
      spec.warmup_seconds = std::min(5.0, seconds / 2);
      PipelineResult p = RunPipeline(po, spec);
      std::fprintf(stderr,
                   "pipeline %-38s %8.0f/s%s: event to update p50 %s p99 %s, close to update p50 "
                   "%s p99 %s, %s\n",
                   p.label.c_str(), rate, search ? " (search)" : "",
                   FormatLatency(p.event_to_update.ValueAtPercentile(50)).c_str(),
                   FormatLatency(p.event_to_update.ValueAtPercentile(99)).c_str(),
                   FormatLatency(p.close_to_update.ValueAtPercentile(50)).c_str(),
                   FormatLatency(p.close_to_update.ValueAtPercentile(99)).c_str(),
                   p.verdict.c_str());
      report.AddPipeline(p, search);
      return p;
    };
    for (const std::string backend : {"jetstream-r3", "kafka"}) {
      if (!Has(o.backends, backend)) continue;
      // The fixed rates' runs count as the search's tries at those rates: it starts
      // from the highest that held and never runs one again.
      std::map<double, PipelineResult> tries;
      double start = *std::min_element(o.pipeline_rates.begin(), o.pipeline_rates.end());
      for (double rate : o.pipeline_rates) {
        const PipelineResult& p = tries[rate] = run(backend, rate, o.pipeline_seconds, false);
        if (p.sustainable) start = std::max(start, rate);
      }
      if (!o.pipeline_find_max) continue;
      const RateSearch found = SearchMaxRate(start, o.pipeline_max_rate, 2, [&](double rate) {
        const auto known = tries.find(rate);
        if (known != tries.end()) return known->second.sustainable;
        return (tries[rate] = run(backend, rate, o.pipeline_search_seconds, true)).sustainable;
      });
      PipelineMax m;
      m.backend = backend;
      m.label = tries.begin()->second.label;
      m.rate = found.held;
      if (found.held > 0) {
        m.event_to_update_p99_ns = tries[found.held].event_to_update.ValueAtPercentile(99);
        m.close_to_update_p99_ns = tries[found.held].close_to_update.ValueAtPercentile(99);
      }
      m.first_failed = found.first_failed;
      if (found.first_failed > 0) m.failed_because = tries[found.first_failed].verdict;
      report.AddPipelineMax(m);
    }
  }
  report.Write();
  std::fprintf(stderr, "results in %s (summary.md, cells.csv, cells.json, hgrm/)\n", o.out.c_str());
  return 0;
}

}  // namespace
}  // namespace pricing::perf

int main(int argc, char** argv) {
  try {
    return pricing::perf::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "perf_compare: " << e.what() << "\n";
    return 1;
  }
}
