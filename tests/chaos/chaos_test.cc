// The chaos suite: faults injected into a real 3-node JetStream cluster while the real
// generator (`pricing simulate`) and processor (`pricing run`) work, then a
// reconciliation:
//   - every event id the generator saw acknowledged is in LOCATION_EVENTS, once;
//   - the processor consumed the whole stream (its durable's ack floor reaches the end);
//   - PRICING_UPDATES holds every tick once per zone, none missing, none duplicated;
//   - the updates equal `pricing replay` over the stored events, for every tick whose
//     window the fault could not touch (a fault delays events past their tick's close;
//     those ticks are checked for presence and uniqueness only, and listed).
// Timing goals (resume within 10 s / 15 s, converge within 30 s) are the issue's pass
// criteria for recovery, not performance measurements.
//
// The soak case runs PRICING_SOAK_SECONDS (default 45, the bounded form CI runs) at
// PRICING_SOAK_RATE events/s (default 5000); scripts/chaos.sh --soak-minutes 10 runs
// the long form.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cluster_fixture.h"
#include "common/clock.h"
#include "config/config.h"
#include "http_get.h"
#include "price_updates.h"
#include "pricing_yaml.h"
#include "prometheus_text.h"
#include "test_util.h"
#include "transport/nats_handles.h"
#include "transport/stream_admin.h"

namespace pricing::test {
namespace {

constexpr int64_t kInterval = 1000;  // ms
constexpr int64_t kWindow = 4000;
constexpr int64_t kLateness = 500;

int64_t NowMs() { return SystemClock().NowMs(); }

void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// CPU seconds (user + system) a process has used, from /proc.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resident memory of a process in MiB.
double RssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs a shell command quietly; true when it exits 0.
bool Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::stoll(v) : fallback;
}

// A span of wall-clock time in which a fault could disturb ticks.
struct Disturbance {
  int64_t from_ms, to_ms;
};

class ChaosTest : public ::testing::Test {
 protected:
  TempDir scratch_{"chaos"};  // first: removed last, and kept if the test failed
  const std::filesystem::path dir_ = scratch_.path();

  void SetUp() override {
    cluster_ = std::make_unique<NatsCluster>(3);
    WriteConfig(5);
    client_ = std::make_unique<TestClient>(cluster_->urls());
  }

  void TearDown() override {
    if (HasFailure()) {
      // A CI report shows the output, not the files: the ends of the logs go with it.
      std::printf("chaos: the end of %s:\n%s", (dir_ / "processor.log").c_str(),
                  TailLines(dir_ / "processor.log", 40).c_str());
      std::printf("chaos: the end of %s:\n%s", (dir_ / "simulator.log").c_str(),
                  TailLines(dir_ / "simulator.log", 10).c_str());
      for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
        if (!entry.path().filename().string().starts_with("stage-")) continue;
        std::printf("chaos: the end of %s:\n%s", entry.path().c_str(),
                    TailLines(entry.path(), 30).c_str());
      }
      std::printf("chaos: %s", cluster_->LogTails(15).c_str());
      std::printf("chaos: server logs and stores kept in %s\n", cluster_->KeepFiles().c_str());
    }
    simulator_.reset();
    processor_.reset();
    client_.reset();
    cluster_.reset();
    if (!mounted_.empty()) umount2(mounted_.c_str(), MNT_DETACH);
    if (!netns_.empty()) {
      Shell("ip link delete " + veth_);  // both ends of the pair
      Shell("ip netns delete " + netns_);
    }
  }

  void WriteConfig(int max_deliver) {
    PricingYaml()
        .Timing(kWindow / 1000, kInterval / 1000, kLateness)
        .Set("health_check_interval_seconds", 1)
        .Http(http_port_)
        .Set("nats_url", cluster_->urls())
        .Set("consumer", "{fetch_wait_ms: 50, ack_wait_seconds: 5, max_deliver: " +
                             std::to_string(max_deliver) + "}")
        .Set("publish", "{ack_wait_ms: 2000}")
        .NycCity()
        .Write(dir_ / "pricing.yaml");
    config_ = LoadConfig(dir_ / "pricing.yaml", [](const std::string&) { return std::nullopt; });
  }

  void StartProcessor(const std::map<std::string, std::string>& env = {}) {
    processor_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config",
                                 (dir_ / "pricing.yaml").string(), "--log-level", "debug"},
        env, dir_ / "processor.log");
    ++starts_;
    // Stops waiting if it exits (TearDown prints the end of its log). Thrown, not
    // asserted: an assertion would return from here only, and the case would go on
    // to fail again for the same reason.
    const auto processing = [&] {
      return CountLinesContaining(dir_ / "processor.log", "processing LOCATION_EVENTS") >= starts_;
    };
    WaitFor([&] { return processing() || !processor_->Running(); }, 60000);
    if (!processor_->Running() || !processing()) {
      throw std::runtime_error(
          "processor did not start processing (running: " + std::to_string(processor_->Running()) +
          ", exit: " + std::to_string(processor_->Wait(0)) + "); see " +
          (dir_ / "processor.log").string());
    }
  }

  // The generator as a child process: `rate` events/s for `seconds`, recording every
  // acknowledged id.
  void StartSimulator(double rate, double seconds,
                      const std::map<std::string, std::string>& env = {}) {
    ++simulations_;
    std::vector<std::string> argv = {
        std::string(PRICING_BIN_DIR) + "/pricing",
        "simulate",
        "--config",
        (dir_ / "pricing.yaml").string(),
        "--city",
        "nyc",
        "--rate",
        std::to_string(rate),
        "--duration",
        std::to_string(seconds),
        "--drivers",
        "3000",
        "--seed",
        std::to_string(simulations_),
        "--acked-log",
        (dir_ / ("acked-" + std::to_string(simulations_) + ".log")).string()};
    if (id_subjects_) argv.push_back("--id-subjects");
    simulator_ = std::make_unique<ChildProcess>(argv, env, dir_ / "simulator.log");
  }

  void WaitSimulator(int timeout_ms) {
    const int rc = simulator_->Wait(timeout_ms);
    EXPECT_EQ(rc, 0) << "the generator did not get every event acknowledged; see "
                     << dir_ / "simulator.log";
  }

  // The generator's closing line: events sent, the rate achieved against the rate
  // asked, publish errors and retries.
  std::string GeneratorSummary() {
    std::ifstream log(dir_ / "simulator.log");
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    const auto at = text.rfind("simulate: sent");
    if (at == std::string::npos) return "(no summary in " + (dir_ / "simulator.log").string() + ")";
    std::string line = text.substr(at);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    return line;
  }

  // Ids the current generator has seen acknowledged so far.
  uint64_t AckedSoFar() {
    std::error_code ec;
    const auto bytes =
        std::filesystem::file_size(dir_ / ("acked-" + std::to_string(simulations_) + ".log"), ec);
    return ec ? 0 : bytes;  // bytes, which grow with the ids
  }

  double EventsRead() {
    const HttpResult r = HttpGet(http_port_, "/metrics");
    return r.status == 200 ? MetricSum(r.body, "pricing_events_read_total") : 0;
  }

  uint64_t StreamLastSeq() { return GetStreamState(client_->js(), "LOCATION_EVENTS").last_seq; }
  uint64_t AckFloor() {
    return GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor")
        .ack_floor_stream_seq;
  }

  std::string MetaLeader() {
    simdjson::dom::parser parser;
    for (int n = 0; n < 3; ++n) {
      if (!cluster_->Alive(n)) continue;
      const HttpResult r = HttpGetAt(cluster_->host(n), cluster_->monitor_port(n), "/jsz");
      if (r.status != 200) continue;
      std::string_view leader;
      if (parser.parse(r.body)["meta_cluster"]["leader"].get(leader) == simdjson::SUCCESS &&
          !leader.empty())
        return std::string(leader);
    }
    return "";
  }

  // Each node's own view of LOCATION_EVENTS (its monitoring endpoint): its leader and
  // last sequence (answered false where the node does not answer or does not hold the
  // stream).
  struct NodeView {
    bool answered = false;
    std::string leader;
    uint64_t last_seq = 0;
  };
  std::vector<NodeView> NodeViews() {
    std::vector<NodeView> views(3);
    simdjson::dom::parser parser;
    for (int n = 0; n < 3; ++n) {
      const HttpResult r = HttpGetAt(cluster_->host(n), cluster_->monitor_port(n),
                                     "/jsz?streams=true&accounts=true");
      simdjson::dom::array accounts;
      if (r.status != 200 ||
          parser.parse(r.body)["account_details"].get(accounts) != simdjson::SUCCESS) {
        continue;
      }
      for (auto account : accounts) {
        simdjson::dom::array streams;
        if (account["stream_detail"].get(streams) != simdjson::SUCCESS) continue;
        for (auto st : streams) {
          if (std::string_view(st["name"]) != "LOCATION_EVENTS") continue;
          std::string_view l;
          if (st["cluster"]["leader"].get(l) != simdjson::SUCCESS) l = "";
          views[n] = {true, std::string(l), uint64_t(st["state"]["last_seq"])};
        }
      }
    }
    return views;
  }

  // Every node answers with the same leader and the same last sequence. `views`
  // describes them.
  bool StreamViewsAgree(std::string* views) {
    std::set<std::string> leaders;
    std::set<uint64_t> last_seqs;
    views->clear();
    const std::vector<NodeView> nodes = NodeViews();
    for (int n = 0; n < 3; ++n) {
      if (!nodes[n].answered) return false;
      leaders.insert(nodes[n].leader);
      last_seqs.insert(nodes[n].last_seq);
      *views += cluster_->name(n) + ": leader '" + nodes[n].leader + "' last_seq " +
                std::to_string(nodes[n].last_seq) + "; ";
    }
    return leaders.size() == 1 && !leaders.begin()->empty() && last_seqs.size() == 1;
  }

  // Publishes one valid driver ping with message id `id` through `js`, waiting up to
  // `max_wait_ms` for the acknowledgement; returns the publish status (and the
  // JetStream error in `jerr`).
  static natsStatus PublishProbe(jsCtx* js, const char* id, int64_t max_wait_ms,
                                 jsErrCode* jerr_out = nullptr) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = max_wait_ms;
    po.MsgId = id;
    jsPubAck* ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const std::string payload = R"({"driver_id":"probe","lat":40.75,"lon":-73.98,)"
                                R"("status":"available","ts":)" +
                                std::to_string(NowMs()) + "}";
    const natsStatus st = js_Publish(&ack, js, "location.driver.nyc", payload.data(),
                                     static_cast<int>(payload.size()), &po, &jerr);
    if (ack != nullptr) jsPubAck_Destroy(ack);
    if (jerr_out != nullptr) *jerr_out = jerr;
    return st;
  }

  // The meta leader sees both other servers as current members of the meta group.
  bool MetaGroupCurrent() {
    simdjson::dom::parser parser;
    for (int n = 0; n < 3; ++n) {
      if (!cluster_->Alive(n)) continue;
      const HttpResult r = HttpGetAt(cluster_->host(n), cluster_->monitor_port(n), "/jsz");
      if (r.status != 200) continue;
      simdjson::dom::element meta;
      std::string_view leader;
      if (parser.parse(r.body)["meta_cluster"].get(meta) != simdjson::SUCCESS ||
          meta["leader"].get(leader) != simdjson::SUCCESS || leader != cluster_->name(n))
        continue;
      simdjson::dom::array replicas;
      if (meta["replicas"].get(replicas) != simdjson::SUCCESS) return false;
      int current = 0;
      for (auto p : replicas) {
        bool c = false;
        if (p["current"].get(c) == simdjson::SUCCESS && c) ++current;
      }
      return current == 2;
    }
    return false;
  }

  // Kills `node` with SIGKILL, measures until publishing (the stream grows) and
  // processing (the durable's ack floor passes the sequence at the kill) resume, then
  // restarts the node and waits until it serves JetStream again.
  // Applies `fault`, then measures until publishing (seen from the generator: its
  // acknowledged ids) and processing (seen from the processor: events it read) resume;
  // neither depends on which node the test's own connection is on. `detect_s` is
  // added to both limits when the generator and the processor must first find out
  // that their server is gone (a partition: the pings of NatsSettings, about 3 s).
  void FaultAndExpectResume(const std::string& what, const std::function<void()>& fault,
                            double detect_s = 0) {
    const uint64_t acked_at_fault = AckedSoFar();
    const double read_at_fault = EventsRead();
    const int64_t fault_at = NowMs();
    fault();
    int64_t published_at = 0, processed_at = 0;
    while (NowMs() - fault_at < 30000 && (published_at == 0 || processed_at == 0)) {
      SleepMs(20);
      if (published_at == 0 && AckedSoFar() > acked_at_fault + 500) published_at = NowMs();
      if (processed_at == 0 && EventsRead() > read_at_fault + 50) processed_at = NowMs();
    }
    ASSERT_NE(published_at, 0) << what << ": publishing did not resume in 30 s";
    ASSERT_NE(processed_at, 0) << what << ": processing did not resume in 30 s";
    const double publish_s = (published_at - fault_at) / 1000.0;
    const double process_s = (processed_at - fault_at) / 1000.0;
    std::printf("chaos: %s: publishing resumed after %.2f s, processing after %.2f s\n",
                what.c_str(), publish_s, process_s);
    EXPECT_LE(publish_s, 10.0 + detect_s) << what << ": publishing resumed too late";
    EXPECT_LE(process_s, 15.0 + detect_s) << what << ": processing resumed too late";
    disturbances_.push_back({fault_at, processed_at});
  }

  // Kills `node` with SIGKILL, measures the resumption, then restarts the node and
  // waits until it serves JetStream again.
  void KillAndRecover(int node, const std::string& what) {
    FaultAndExpectResume(what + " killed", [&] { cluster_->Kill(node, SIGKILL); });
    if (HasFatalFailure()) return;
    cluster_->Restart(node);
    cluster_->WaitReady(30000);
    // The node is back as a current replica of the stream and of the processor's
    // consumer before the next fault (a second fault while a group is still one
    // replica short is a loss of quorum, not the case under test).
    const auto current = [](const std::string& leader, const std::vector<std::string>& replicas) {
      int n = 0;
      for (const auto& r : replicas) n += r.find(" current") != std::string::npos;
      return !leader.empty() && n == 2;
    };
    std::string state;
    const auto describe = [&](const StreamState& s, const ConsumerState& c, bool meta) {
      state = "stream leader '" + s.leader + "'";
      for (const auto& r : s.replicas_status) state += ", " + r;
      state += "; consumer leader '" + c.leader + "'";
      for (const auto& r : c.replicas_status) state += ", " + r;
      state += meta ? "; meta group current" : "; meta group not current";
    };
    ASSERT_TRUE(WaitFor(
        [&] {
          const StreamState s = GetStreamState(client_->js(), "LOCATION_EVENTS");
          const ConsumerState c =
              GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor");
          const bool meta = MetaGroupCurrent();
          describe(s, c, meta);
          return current(s.leader, s.replicas_status) && meta;
        },
        60000))
        << what << ": the restarted node did not catch up: " << state;
    // The consumer's replica on the restarted node may lag longer (nats-server 2.9.10);
    // reported, not required.
    const bool consumer_current = WaitFor(
        [&] {
          const StreamState s = GetStreamState(client_->js(), "LOCATION_EVENTS");
          const ConsumerState c =
              GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor");
          describe(s, c, true);
          return current(c.leader, c.replicas_status);
        },
        30000);
    std::printf("chaos: %s restarted: %s%s\n", what.c_str(), state.c_str(),
                consumer_current ? "" : " (consumer replica still behind after 30 s)");
    // Raft groups report a replica current a little before it can vote reliably
    // (nats-server 2.9): the next fault waits a few seconds more, as an operator would.
    SleepMs(5000);
  }

  // Replaces the SetUp cluster with one whose nodes fsync on `sync_interval`.
  void UseClusterWithSyncInterval(const std::string& sync_interval) {
    client_.reset();
    cluster_ = std::make_unique<NatsCluster>(3, std::map<int, std::filesystem::path>{},
                                             std::map<int, NodePlacement>{}, sync_interval);
    WriteConfig(5);
    client_ = std::make_unique<TestClient>(cluster_->urls());
  }

  // Watches, from a thread of its own every 20 ms, the generator's acknowledged ids and
  // the processor's events read, and keeps the longest time each stood still: how long
  // publishing and processing stopped, whatever happened meanwhile.
  class StallWatch {
   public:
    explicit StallWatch(ChaosTest* test) : test_(test), thread_([this] { Run(); }) {}
    ~StallWatch() { Stop(); }
    void Stop() {
      stop_ = true;
      if (thread_.joinable()) thread_.join();
    }
    double longest_publish_stall_s() const { return publish_.longest_ms / 1000.0; }
    double longest_processing_stall_s() const { return processing_.longest_ms / 1000.0; }

   private:
    struct Progress {
      double last = -1;
      int64_t since_ms = 0, longest_ms = 0;
      void Sample(double value, int64_t now) {
        if (value != last) {
          last = value;
          since_ms = now;
        } else {
          longest_ms = std::max(longest_ms, now - since_ms);
        }
      }
    };
    void Run() {
      while (!stop_) {
        const int64_t now = NowMs();
        publish_.Sample(static_cast<double>(test_->AckedSoFar()), now);
        processing_.Sample(test_->EventsRead(), now);
        SleepMs(20);
      }
    }
    ChaosTest* test_;
    Progress publish_, processing_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
  };

  // SIGKILL of all three nodes at once under load, then all restarted: every event the
  // generator saw acknowledged before the kill must still be there (ReconcileAcknowledged
  // Events), whatever the nodes had written to disk.
  void KillEveryNodeAtOnce(double rate) {
    StartProcessor();
    StartSimulator(rate, 30);
    SleepMs(8000);
    ASSERT_NO_FATAL_FAILURE(FaultAndExpectResume(
        "all 3 nodes killed (sync_interval " + cluster_->sync_interval() + ")", [&] {
          for (int n = 0; n < 3; ++n) cluster_->Kill(n, SIGKILL);
          for (int n = 0; n < 3; ++n) cluster_->Restart(n);
        }));
    cluster_->WaitReady(60000);
    WaitSimulator(120000);
    ExpectProcessorCaughtUp(60000);
    ReconcileAcknowledgedEvents();
    ReconcileOutputs();
  }

  // Every id the generator saw acknowledged is in the stream; no id is there twice.
  void ReconcileAcknowledgedEvents() {
    std::set<std::string> acked;
    for (int s = 1; s <= simulations_; ++s) {
      std::ifstream in(dir_ / ("acked-" + std::to_string(s) + ".log"));
      std::string id;
      int64_t at = 0;
      while (in >> id >> at) {
        acked.insert(id);
        auto [it, fresh] = acked_at_.try_emplace(id, at);
        if (!fresh) it->second = std::max(it->second, at);
      }
    }
    stored_ = ReadStream(*client_, "LOCATION_EVENTS", "location.>");
    std::map<std::string, int> ids;
    for (const auto& m : stored_) {
      const auto it = m.headers.find("Nats-Msg-Id");
      if (it != m.headers.end()) ++ids[it->second];
    }
    uint64_t lost = 0, twice = 0;
    for (const auto& id : acked) {
      if (!ids.contains(id)) {
        if (++lost <= 5) ADD_FAILURE() << "acknowledged event " << id << " is not in the stream";
      }
    }
    for (const auto& [id, count] : ids) twice += count > 1;
    std::printf(
        "chaos: %zu events acknowledged to the generator, %zu stored, %llu lost, %llu "
        "stored twice\n",
        acked.size(), stored_.size(), static_cast<unsigned long long>(lost),
        static_cast<unsigned long long>(twice));
    EXPECT_GT(acked.size(), 0u);
    EXPECT_EQ(lost, 0u) << "acknowledged events lost";
    EXPECT_EQ(twice, 0u) << "events stored twice";
  }

  // The processor's durable reaches the end of the stream.
  void ExpectProcessorCaughtUp(int timeout_ms) {
    const uint64_t last = StreamLastSeq();
    ASSERT_TRUE(WaitFor([&] { return AckFloor() >= last; }, timeout_ms))
        << "the processor did not consume the stream to " << last << " (ack floor " << AckFloor()
        << "); see " << dir_ / "processor.log";
  }

  using Updates = PriceUpdates;

  Updates LiveUpdates() {
    std::vector<std::pair<std::string, std::string>> messages;
    for (const auto& m : ReadStream(*client_, "PRICING_UPDATES", "pricing.update.nyc.>"))
      messages.push_back({m.subject, m.data});
    return ParsePriceUpdates(messages);
  }

  // `pricing replay` over the stored events (in stream order), minus `excluded` ids.
  Updates ReplayOfStoredEvents(const std::set<std::string>& excluded = {}) {
    std::string input;
    for (const auto& m : stored_) {
      const auto id = m.headers.find("Nats-Msg-Id");
      if (id != m.headers.end() && excluded.contains(id->second)) continue;
      input += ReplayInputLine(m.subject, m.data);
    }
    return ParsePriceUpdates(ReplayOutputs(config_, input));
  }

  // When an event could first be read. The stream stamps a message when its leader
  // proposes it, but it is readable only once the replicas have committed it: after a
  // restart of every node with sync_interval always that took up to 1.8 s. There (and
  // only where a case says so: readable_from_acks_) the generator's acknowledgement, if
  // later, is the time. Elsewhere it would overstate: an ack also waits for the
  // generator's own reconnection and retries (a partition case then had 31 of 37 ticks
  // disturbed and too few left to compare).
  int64_t ReadableMs(const StoredMessage& m) const {
    if (!readable_from_acks_) return m.stored_ms;
    const auto id = m.headers.find("Nats-Msg-Id");
    if (id == m.headers.end()) return m.stored_ms;
    const auto at = acked_at_.find(id->second);
    return at == acked_at_.end() ? m.stored_ms : std::max(m.stored_ms, at->second);
  }

  // An event readable later than its time plus the allowed lateness missed the ticks
  // that closed meanwhile, live, but not in the replay (which closes ticks on event
  // time): those ticks are disturbed too. It happens whenever a fault holds the
  // generator back, for as long as it takes to send its backlog, and while commits
  // lag behind.
  void AddLateArrivals() {
    simdjson::dom::parser parser;
    std::vector<Disturbance> late;
    for (const auto& m : stored_) {
      int64_t ts = 0;
      if (parser.parse(m.data)["ts"].get(ts) != simdjson::SUCCESS) continue;
      const int64_t readable = ReadableMs(m);
      if (readable - ts > kLateness) late.push_back({ts, readable});
    }
    std::sort(late.begin(), late.end(),
              [](const Disturbance& a, const Disturbance& b) { return a.from_ms < b.from_ms; });
    std::vector<Disturbance> merged;
    for (const Disturbance& d : late) {
      if (!merged.empty() && d.from_ms <= merged.back().to_ms) {
        merged.back().to_ms = std::max(merged.back().to_ms, d.to_ms);
      } else {
        merged.push_back(d);
      }
    }
    std::string spans;
    for (const Disturbance& d : merged) {
      spans += " " + std::to_string((d.to_ms - d.from_ms) / 1000.0).substr(0, 4) + " s";
      disturbances_.push_back(d);
    }
    std::printf("chaos: %zu events readable more than %lld ms after their time (spans:%s)\n",
                late.size(), static_cast<long long>(kLateness),
                spans.empty() ? " none" : spans.c_str());
  }

  bool Disturbed(int64_t tick) const {
    for (const auto& d : disturbances_) {
      // The tick closed during the fault, or its window holds events the fault delayed.
      if (tick + kLateness >= d.from_ms && tick - kWindow <= d.to_ms + kLateness) return true;
    }
    return false;
  }

  // Stops the processor as an operator would (SIGTERM): it flushes its publishes and
  // exits 0. Until then it goes on closing a tick every interval on the wall clock.
  void StopProcessor() {
    processor_->Signal(SIGTERM);
    EXPECT_EQ(processor_->Wait(30000), 0)
        << "the processor did not stop cleanly; see " << dir_ / "processor.log";
  }

  // Every tick is in the stream once per zone, with no gap; undisturbed ticks equal
  // the replay of the stored events. The processor is stopped first: a tick being
  // published while the stream is read would look short (seen in CI, 206 of 263 zones).
  void ReconcileOutputs(const std::set<std::string>& excluded = {}) {
    StopProcessor();
    const Updates live = LiveUpdates();
    ASSERT_FALSE(live.empty()) << "no pricing updates";
    std::map<int64_t, int> zones_by_tick;
    for (const auto& [key, u] : live) {
      zones_by_tick[key.first] += 1;
      EXPECT_EQ(u.count, 1) << "tick " << key.first << " zone " << key.second << " duplicated";
    }
    const int zones = zones_by_tick.begin()->second;
    int64_t previous = 0;
    for (const auto& [tick, count] : zones_by_tick) {
      EXPECT_EQ(count, zones) << "tick " << tick << " has updates for " << count << " of " << zones
                              << " zones";
      if (previous != 0) {
        EXPECT_EQ(tick, previous + kInterval) << "ticks missing after " << previous;
      }
      previous = tick;
    }
    const Updates replay = ReplayOfStoredEvents(excluded);
    AddLateArrivals();
    // Ticks while events flowed: from the processor's first to the last event's time.
    const int64_t last_event_ms = stored_.empty() ? 0 : stored_.back().stored_ms;
    int compared = 0, disturbed = 0, differ = 0, carried = 0;
    int64_t first_differing = 0;
    std::set<int64_t> disturbed_ticks;
    for (const auto& [key, want] : replay) {
      const int64_t tick = key.first;
      if (tick < zones_by_tick.begin()->first || tick + kLateness >= last_event_ms) continue;
      const auto it = live.find(key);
      if (it == live.end()) {
        ADD_FAILURE() << "tick " << tick << " zone " << key.second << " missing";
        continue;
      }
      if (Disturbed(tick)) {
        ++disturbed;
        disturbed_ticks.insert(tick);
        continue;
      }
      ++compared;
      // The multiplier carries state (m of the previous tick): after a disturbed tick
      // it may differ until it settles, though the inputs are equal again.
      const auto live_prev = live.find({tick - kInterval, key.second});
      const auto replay_prev = replay.find({tick - kInterval, key.second});
      const bool same_state = live_prev == live.end() || replay_prev == replay.end() ||
                              live_prev->second.raw == replay_prev->second.raw;
      carried += !same_state;
      if (it->second.demand != want.demand || it->second.supply != want.supply ||
          (same_state && it->second.multiplier != want.multiplier)) {
        if (differ == 0) first_differing = tick;
        if (++differ <= 10) {
          ADD_FAILURE() << "tick " << tick << " zone " << key.second << ": live demand "
                        << it->second.demand << " supply " << it->second.supply << " x"
                        << it->second.multiplier << ", replay demand " << want.demand << " supply "
                        << want.supply << " x" << want.multiplier;
        }
      }
    }
    std::printf(
        "chaos: %zu ticks published; %d (tick, zone) updates equal to the replay (%d of "
        "them inputs only: the multiplier's state still carried a fault), %d in %zu "
        "ticks a fault touched (checked for presence only), %d differ\n",
        zones_by_tick.size(), compared - differ, carried, disturbed, disturbed_ticks.size(),
        differ);
    EXPECT_GT(compared, zones * 3) << "too few undisturbed ticks to compare";
    EXPECT_EQ(differ, 0) << "see " << dir_ / "processor.log";
    if (differ > 0) ExplainTick(first_differing);
  }

  // What the stream holds for tick t's window, to set beside the processor's log line
  // "closing tick t ..., inputs seq A..B": the events readable before t closed, and after.
  void ExplainTick(int64_t t) const {
    simdjson::dom::parser parser;
    int before = 0, after = 0;
    uint64_t first_seq = UINT64_MAX, last_before = 0, first_after = UINT64_MAX;
    int64_t latest_stored = 0;
    for (const auto& m : stored_) {
      int64_t ts = 0;
      if (parser.parse(m.data)["ts"].get(ts) != simdjson::SUCCESS) continue;
      if (ts < t - kWindow || ts >= t) continue;
      first_seq = std::min(first_seq, m.seq);
      if (ReadableMs(m) <= t + kLateness) {
        ++before;
        last_before = std::max(last_before, m.seq);
        latest_stored = std::max(latest_stored, ReadableMs(m));
      } else {
        ++after;
        first_after = std::min(first_after, m.seq);
      }
    }
    std::printf(
        "chaos: tick %lld's window in the stream: %d events readable before it closed (seq "
        "%llu..%llu, the last %lld ms after the tick), %d after (from seq %llu)\n",
        static_cast<long long>(t), before, static_cast<unsigned long long>(first_seq),
        static_cast<unsigned long long>(last_before), static_cast<long long>(latest_stored - t),
        after, static_cast<unsigned long long>(first_after));
  }

  std::unique_ptr<NatsCluster> cluster_;
  const int http_port_ = FreePort();
  Config config_;
  std::unique_ptr<TestClient> client_;
  std::unique_ptr<ChildProcess> processor_;
  std::unique_ptr<ChildProcess> simulator_;
  std::vector<StoredMessage> stored_;
  std::map<std::string, int64_t> acked_at_;  // message id: when the generator's ack came
  bool readable_from_acks_ = false;          // see ReadableMs
  std::vector<Disturbance> disturbances_;
  int starts_ = 0;
  bool id_subjects_ = false;  // the generator publishes with --id-subjects
  int simulations_ = 0;
  std::filesystem::path mounted_;  // a tmpfs to unmount at the end
  std::string netns_;              // a network namespace to delete at the end
  std::string veth_;               // and its link to the host
};

// One fault per cluster: the node picked by `pick` (a name) is killed under load,
// measured, restarted; then the run is reconciled.
class KillOneNodeTest : public ChaosTest {
 protected:
  void Run(const std::string& role, const std::function<std::string()>& pick) {
    StartProcessor();
    StartSimulator(1500, 30);
    SleepMs(8000);
    const int node = cluster_->NodeNamed(pick());
    ASSERT_GE(node, 0) << "no " << role;
    ASSERT_NO_FATAL_FAILURE(KillAndRecover(node, role + " " + cluster_->name(node)));
    WaitSimulator(120000);
    ExpectProcessorCaughtUp(60000);
    ReconcileAcknowledgedEvents();
    ReconcileOutputs();
  }
  std::string StreamLeader() { return GetStreamState(client_->js(), "LOCATION_EVENTS").leader; }
};

TEST_F(KillOneNodeTest, StreamLeaderKilledLosesNothing) {
  Run("stream leader", [&] { return StreamLeader(); });
}

TEST_F(KillOneNodeTest, FollowerKilledLosesNothing) {
  Run("follower", [&] {
    const std::string leader = StreamLeader();
    const std::string meta = MetaLeader();
    for (int n = 0; n < 3; ++n) {  // neither the stream's nor the meta leader, if there is one
      if (cluster_->name(n) != leader && cluster_->name(n) != meta) return cluster_->name(n);
    }
    return cluster_->name(cluster_->name(0) == leader ? 1 : 0);
  });
}

TEST_F(KillOneNodeTest, MetaLeaderKilledLosesNothing) {
  Run("meta leader", [&] { return MetaLeader(); });
}

// The three faults one after another in one run: each restarted node must be a
// current replica of the stream and of the processor's consumer again before the next
// kill. (nats-server 2.9.10 failed this more often than not: a restarted node's
// consumer replica could stay a minute behind, and the next kill then left the
// consumer without a quorum.)
TEST_F(ChaosTest, KillStreamLeaderThenFollowerThenMetaLeaderLosesNothing) {
  StartProcessor();
  StartSimulator(1500, 50);
  SleepMs(8000);
  const int stream_leader =
      cluster_->NodeNamed(GetStreamState(client_->js(), "LOCATION_EVENTS").leader);
  ASSERT_GE(stream_leader, 0);
  ASSERT_NO_FATAL_FAILURE(
      KillAndRecover(stream_leader, "stream leader " + cluster_->name(stream_leader)));
  SleepMs(3000);
  const std::string leader = GetStreamState(client_->js(), "LOCATION_EVENTS").leader;
  int follower = 0;
  while (cluster_->name(follower) == leader) ++follower;
  ASSERT_NO_FATAL_FAILURE(KillAndRecover(follower, "follower " + cluster_->name(follower)));
  SleepMs(3000);
  const int meta_leader = cluster_->NodeNamed(MetaLeader());
  ASSERT_GE(meta_leader, 0);
  ASSERT_NO_FATAL_FAILURE(
      KillAndRecover(meta_leader, "meta leader " + cluster_->name(meta_leader)));
  WaitSimulator(120000);
  ExpectProcessorCaughtUp(60000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();
}

TEST_F(ChaosTest, ProcessorKilledMidWindowRestartsToTheFaultFreeOutputs) {
  StartProcessor();
  StartSimulator(1500, 24);
  SleepMs(7500);
  processor_->Signal(SIGKILL);
  EXPECT_EQ(processor_->Wait(5000), 128 + SIGKILL);
  SleepMs(2500);  // events keep coming while it is down
  StartProcessor();
  SleepMs(4700);
  processor_->Signal(SIGKILL);  // and once more, right after its recovery
  EXPECT_EQ(processor_->Wait(5000), 128 + SIGKILL);
  StartProcessor();
  WaitSimulator(120000);
  ExpectProcessorCaughtUp(60000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();  // no disturbance: the restarts must be invisible in the outputs
}

// Two processors on the same work; the active one is SIGKILLed under load, then the one
// that took over is killed in turn (the first came back meanwhile, as the standby). Each
// time the standby takes over within the priority timeout (consumer.takeover_after_seconds,
// 5 s by default) plus its recovery, and the outputs are the fault-free run's: no event
// counted twice or missed, no tick short of events.
TEST_F(ChaosTest, ActiveProcessorKilledUnderLoadTheStandbyTakesOverWithFaultFreeOutputs) {
  const auto second_log = dir_ / "processor-second.log";
  const auto start_second = [&] {
    return std::make_unique<ChildProcess>(PricingRunArgs(dir_ / "pricing.yaml", FreePort()),
                                          std::map<std::string, std::string>{}, second_log);
  };
  const auto logged = [](const std::filesystem::path& log, const char* line, int times) {
    return WaitFor([&] { return CountLinesContaining(log, line) >= times; }, 60000);
  };
  StartProcessor();
  StartSimulator(1500, 30);
  SleepMs(3000);
  std::unique_ptr<ChildProcess> second = start_second();
  ASSERT_TRUE(logged(second_log, "standby: another processor is pinned", 1))
      << TailLines(second_log, 20);
  SleepMs(3000);

  processor_->Signal(SIGKILL);
  int64_t killed = SystemClock().NowMs();
  EXPECT_EQ(processor_->Wait(5000), 128 + SIGKILL);
  ASSERT_TRUE(logged(second_log, "processing LOCATION_EVENTS", 1)) << TailLines(second_log, 20);
  const int64_t first_takeover = SystemClock().NowMs() - killed;

  // The killed one comes back: it stands by.
  processor_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config",
                               (dir_ / "pricing.yaml").string(), "--log-level", "debug"},
      std::map<std::string, std::string>{}, dir_ / "processor.log");
  ASSERT_TRUE(logged(dir_ / "processor.log", "standby: another processor is pinned", 1));
  SleepMs(4000);

  second->Signal(SIGKILL);
  killed = SystemClock().NowMs();
  EXPECT_EQ(second->Wait(5000), 128 + SIGKILL);
  ASSERT_TRUE(logged(dir_ / "processor.log", "processing LOCATION_EVENTS", 2))
      << TailLines(dir_ / "processor.log", 20);
  const int64_t second_takeover = SystemClock().NowMs() - killed;
  std::printf("chaos: takeovers %lld ms and %lld ms after SIGKILL (timeout 5 s)\n",
              static_cast<long long>(first_takeover), static_cast<long long>(second_takeover));
  RecordProperty("takeover_ms",
                 std::to_string(first_takeover) + "," + std::to_string(second_takeover));
  // The bound: the timeout, then the restore and rebuild (a window of events).
  EXPECT_LT(first_takeover, 20000);
  EXPECT_LT(second_takeover, 20000);

  WaitSimulator(120000);
  ExpectProcessorCaughtUp(60000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();
}

// Partitioned pricing under load, each stage with a standby: the active processor of
// partition 0's count stage is SIGKILLed, then the active price stage. Each standby takes
// over within the priority timeout plus its recovery; the price stage holds ticks while
// partition 0 has no processor, and the outputs are the fault-free run's.
TEST_F(ChaosTest, PartitionedStagesKilledUnderLoadTheirStandbysTakeOverWithFaultFreeOutputs) {
  std::ofstream(dir_ / "pricing.yaml", std::ios::app) << "partitions: 2\n";
  id_subjects_ = true;  // each partition's durable is delivered its own events only
  std::vector<std::unique_ptr<ChildProcess>> stages;
  const auto start = [&](const std::string& log, const std::vector<std::string>& stage, int port) {
    return std::make_unique<ChildProcess>(PricingRunArgs(dir_ / "pricing.yaml", port, stage),
                                          std::map<std::string, std::string>{}, dir_ / log);
  };
  const auto logged = [&](const std::string& log, const char* line, int times = 1) {
    return WaitFor([&] { return CountLinesContaining(dir_ / log, line) >= times; }, 60000);
  };
  // A durable that filters part of the stream acknowledges only its own messages: it
  // has consumed the stream once nothing is pending or unacknowledged and its ack floor
  // reached the last message on its subjects.
  const auto consumed = [&](int p) {
    const ConsumerState c = GetConsumerState(client_->js(), "LOCATION_EVENTS",
                                             "pricing-processor-p" + std::to_string(p) + "of2");
    const uint64_t own = std::max(
        LastSeqOf(client_->connection(), "LOCATION_EVENTS", "location.*.*"),
        LastSeqOf(client_->connection(), "LOCATION_EVENTS", "location.*.*." + std::to_string(p)));
    return c.num_pending == 0 && c.num_ack_pending == 0 && c.ack_floor_stream_seq >= own;
  };
  std::unique_ptr<ChildProcess> count0 =
      start("stage-count-0.log", {"count", "--partition", "0"}, 0);
  stages.push_back(start("stage-count-1.log", {"count", "--partition", "1"}, 0));
  processor_ = start("processor.log", {"price"}, http_port_);
  ASSERT_TRUE(logged("stage-count-0.log", "processing LOCATION_EVENTS"));
  ASSERT_TRUE(logged("stage-count-1.log", "processing LOCATION_EVENTS"));
  ASSERT_TRUE(logged("processor.log", "processing PRICING_UPDATES"));
  StartSimulator(1500, 30);
  SleepMs(3000);
  stages.push_back(start("stage-count-0-standby.log", {"count", "--partition", "0"}, 0));
  std::unique_ptr<ChildProcess> price_standby =
      start("stage-price-standby.log", {"price"}, FreePort());
  ASSERT_TRUE(logged("stage-count-0-standby.log", "standby: another processor is pinned"));
  ASSERT_TRUE(logged("stage-price-standby.log", "standby: another processor is pinned"));
  SleepMs(3000);

  count0->Signal(SIGKILL);
  int64_t killed = SystemClock().NowMs();
  EXPECT_EQ(count0->Wait(5000), 128 + SIGKILL);
  ASSERT_TRUE(logged("stage-count-0-standby.log", "processing LOCATION_EVENTS"));
  const int64_t count_takeover = SystemClock().NowMs() - killed;
  SleepMs(4000);

  processor_->Signal(SIGKILL);
  killed = SystemClock().NowMs();
  EXPECT_EQ(processor_->Wait(5000), 128 + SIGKILL);
  ASSERT_TRUE(logged("stage-price-standby.log", "processing PRICING_UPDATES"));
  const int64_t price_takeover = SystemClock().NowMs() - killed;
  processor_ = std::move(price_standby);  // stopped by ReconcileOutputs
  std::printf(
      "chaos: takeovers %lld ms (count stage, partition 0) and %lld ms (price stage) "
      "after SIGKILL (timeout 5 s)\n",
      static_cast<long long>(count_takeover), static_cast<long long>(price_takeover));
  RecordProperty("takeover_ms",
                 std::to_string(count_takeover) + "," + std::to_string(price_takeover));
  EXPECT_LT(count_takeover, 20000);
  EXPECT_LT(price_takeover, 20000);

  WaitSimulator(120000);
  ASSERT_TRUE(WaitFor([&] { return consumed(0) && consumed(1); }, 60000))
      << "the count stages did not consume the stream to " << StreamLastSeq();
  // The price stage prices the last counted tick once both partitions published it.
  SleepMs(3000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();
}

// The whole cluster dies at once (a power cut, a bad deploy). With sync_interval
// "always" every acknowledged message was on disk on a quorum; with the default
// interval it was only written to each node's page cache, which a killed process does
// not lose (an OS crash or power loss would; README, "Durability").
TEST_F(ChaosTest, AllNodesKilledAtOnceWithSyncAlwaysLoseNoAcknowledgedEvent) {
  UseClusterWithSyncInterval("always");
  readable_from_acks_ = true;  // commits lag the stream's timestamps here (ReadableMs)
  // A third of the other cases' rate: fsyncing every write, these two cores commit
  // about a tenth of the messages per second (docs/performance.md), and at 1,500/s the
  // generator's backlog after the restart kept commits seconds behind for the rest of
  // the run, so every later tick missed events that were stored in time.
  KillEveryNodeAtOnce(500);
}

TEST_F(ChaosTest, AllNodesKilledAtOnceWithTheDefaultSyncIntervalLoseNoAcknowledgedEvent) {
  UseClusterWithSyncInterval(DefaultSyncInterval());
  KillEveryNodeAtOnce(1500);
}

// An operator's rolling restart under load: each node in turn stopped as nats-server
// is meant to be stopped (SIGTERM), started again, and current in every group before
// the next. Publishing and processing may pause for a leader change, no longer than
// the kill cases allow for a whole election (10 s and 15 s).
TEST_F(ChaosTest, RollingRestartOfEveryNodeNeverStopsPublishingOrProcessingForLong) {
  StartProcessor();
  StartSimulator(1500, 60);
  SleepMs(6000);
  const int64_t started_at = NowMs();
  StallWatch watch(this);
  for (int n = 0; n < 3; ++n) {
    const int64_t at = NowMs();
    cluster_->Kill(n, SIGTERM);
    ASSERT_NE(cluster_->Wait(n, 30000), -1) << cluster_->name(n) << " did not stop on SIGTERM";
    cluster_->Restart(n);
    cluster_->WaitReady(60000);
    std::string state;
    ASSERT_TRUE(WaitFor(
        [&] {
          const StreamState s = GetStreamState(client_->js(), "LOCATION_EVENTS");
          const ConsumerState c =
              GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor");
          int current = 0;
          for (const auto& r : s.replicas_status)
            current += r.find(" current") != std::string::npos;
          for (const auto& r : c.replicas_status)
            current += r.find(" current") != std::string::npos;
          state = "stream leader " + s.leader + ", consumer leader " + c.leader;
          return !s.leader.empty() && !c.leader.empty() && current == 4;
        },
        60000))
        << cluster_->name(n) << " restarted but its groups are not current: " << state;
    std::printf("chaos: %s restarted and current again after %.1f s (%s)\n",
                cluster_->name(n).c_str(), (NowMs() - at) / 1000.0, state.c_str());
  }
  watch.Stop();
  disturbances_.push_back({started_at, NowMs()});
  std::printf(
      "chaos: rolling restart of 3 nodes in %.1f s: publishing stood still for at most %.2f s, "
      "processing for at most %.2f s\n",
      (NowMs() - started_at) / 1000.0, watch.longest_publish_stall_s(),
      watch.longest_processing_stall_s());
  EXPECT_LE(watch.longest_publish_stall_s(), 10.0)
      << "publishing stopped for longer than an election";
  EXPECT_LE(watch.longest_processing_stall_s(), 15.0)
      << "processing stopped for longer than an election";
  WaitSimulator(120000);
  ExpectProcessorCaughtUp(60000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();
}

// SIGSTOP of the stream leader past an election, then SIGCONT: one leader, and every
// replica at the same last sequence within 30 s. (On nats-server 2.9.10 the resumed
// node's replica did not converge in 12 of 17 runs: it was a run of messages short
// while the leader called it current, and a reader placed on it missed acknowledged
// events; see docs/chaos.md.)
TEST_F(ChaosTest, StoppedStreamLeaderResumedLeavesOneLeaderAndConvergedReplicas) {
  StartProcessor();
  StartSimulator(1500, 30);
  SleepMs(6000);
  const StreamState before = GetStreamState(client_->js(), "LOCATION_EVENTS");
  const int leader = cluster_->NodeNamed(before.leader);
  ASSERT_GE(leader, 0);
  const int64_t stopped_at = NowMs();
  cluster_->Kill(leader, SIGSTOP);
  // Longer than an election: another node leads while the old leader is frozen.
  ASSERT_TRUE(WaitFor(
      [&] {
        const StreamState s = GetStreamState(client_->js(), "LOCATION_EVENTS");
        return !s.leader.empty() && s.leader != before.leader;
      },
      20000))
      << "no new stream leader while " << before.leader << " was stopped";
  SleepMs(4000);
  cluster_->Kill(leader, SIGCONT);
  const int64_t resumed_at = NowMs();
  // Every node reports the same leader and the same last sequence, once the
  // generator is done.
  std::string views;
  const bool converged =
      WaitFor([&] { return !simulator_->Running() && StreamViewsAgree(&views); }, 60000);
  const double converge_s = (NowMs() - std::max(resumed_at, stopped_at)) / 1000.0;
  std::printf("chaos: %s stopped %.1f s; views agree %.1f s after SIGCONT: %s\n",
              before.leader.c_str(), (resumed_at - stopped_at) / 1000.0, converge_s, views.c_str());
  if (!converged) {
    // Say why: a node still catching up moves on; a diverged one (seen on nats-server
    // 2.9.10) appends one more message after its own, shorter, last sequence.
    const std::vector<NodeView> before_probe = NodeViews();
    const StreamState s = GetStreamState(client_->js(), "LOCATION_EVENTS");
    std::string leader_view;
    for (const auto& r : s.replicas_status) leader_view += (leader_view.empty() ? "" : ", ") + r;
    PublishProbe(client_->js(), "chaos-divergence-probe", 5000);
    SleepMs(3000);
    const std::vector<NodeView> after_probe = NodeViews();
    uint64_t top = 0;
    for (const NodeView& v : before_probe) top = std::max(top, v.last_seq);
    std::string diverged;
    for (int n = 0; n < 3; ++n) {
      const uint64_t seq = before_probe[n].last_seq;
      if (seq < top && after_probe[n].last_seq == seq + 1) {
        diverged += " " + cluster_->name(n) + " (" + std::to_string(top - seq) + " messages short)";
      }
    }
    FAIL() << "replicas did not converge within 60 s: " << views << "leader " << s.leader
           << " reports " << leader_view
           << (diverged.empty() ? std::string("")
                                : "; diverged replica:" + diverged +
                                      " (one more message moved its last sequence by one)");
  }
  EXPECT_LE(converge_s, 30.0) << "replicas converged too late";
  disturbances_.push_back({stopped_at, resumed_at + 5000});
  WaitSimulator(60000);
  ExpectProcessorCaughtUp(60000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();
}

// One node in its own network namespace, joined to the others by a veth pair; taking
// the link down cuts it off from the other nodes and from every client while it keeps
// running. Needs the right to create namespaces (root or CAP_NET_ADMIN); skipped
// otherwise. (On nats-server 2.9.10 the two connected nodes had no stream leader for
// the whole partition in two runs of three.)
TEST_F(ChaosTest, PartitionedStreamLeaderIsReplacedAndRejoinsWithoutSplitBrain) {
  const std::string id = std::to_string(::getpid() % 100000);
  const std::string ns = "pricing-chaos-" + id, veth = "pcv" + id + "h", peer = "pcv" + id + "n";
  const std::string subnet = "10.213." + std::to_string(::getpid() % 250) + ".";
  const std::string host_ip = subnet + "1", ns_ip = subnet + "2";
  if (!Shell("ip netns add " + ns)) {
    GTEST_SKIP() << "cannot create a network namespace (needs root or CAP_NET_ADMIN)";
  }
  netns_ = ns;
  veth_ = veth;
  ASSERT_TRUE(Shell("ip link add " + veth + " type veth peer name " + peer + " netns " + ns));
  ASSERT_TRUE(
      Shell("ip addr add " + host_ip + "/30 dev " + veth + " && ip link set " + veth + " up"));
  ASSERT_TRUE(Shell("ip netns exec " + ns + " sh -c 'ip addr add " + ns_ip + "/30 dev " + peer +
                    " && ip link set " + peer + " up && ip link set lo up'"));
  client_.reset();
  cluster_ = std::make_unique<NatsCluster>(
      3, std::map<int, std::filesystem::path>{},
      std::map<int, NodePlacement>{
          {0, {host_ip, {}}}, {1, {host_ip, {}}}, {2, {ns_ip, {"ip", "netns", "exec", ns}}}});
  WriteConfig(5);
  client_ = std::make_unique<TestClient>(cluster_->urls());
  // The hardest case: the node to be cut off leads LOCATION_EVENTS, and the generator
  // and the processor are connected to it. Each is given that node's URL only and
  // learns the others from the cluster, as a client with one seed does; a client that
  // picked another node at random would not see the partition at all.
  const std::map<std::string, std::string> on_isolated{{"NATS_URL", cluster_->url(2)}};
  StartProcessor(on_isolated);
  const std::string isolated = cluster_->name(2);
  WaitFor(
      [&] {
        if (GetStreamState(client_->js(), "LOCATION_EVENTS").leader == isolated) return true;
        natsMsg* reply = nullptr;
        natsConnection_RequestString(&reply, client_->connection(),
                                     "$JS.API.STREAM.LEADER.STEPDOWN.LOCATION_EVENTS", "", 5000);
        if (reply != nullptr) natsMsg_Destroy(reply);
        SleepMs(1000);
        return false;
      },
      30000);
  const std::string leader_before = GetStreamState(client_->js(), "LOCATION_EVENTS").leader;
  StartSimulator(1500, 35, on_isolated);
  SleepMs(6000);
  ASSERT_NO_FATAL_FAILURE(FaultAndExpectResume(
      isolated + " (stream leader: " + (leader_before == isolated ? "yes" : "no") + ") partitioned",
      [&] { ASSERT_TRUE(Shell("ip link set " + veth + " down")); }, 3.0));
  SleepMs(8000);
  ASSERT_TRUE(Shell("ip link set " + veth + " up"));
  const int64_t healed_at = NowMs();
  std::string views;
  ASSERT_TRUE(WaitFor([&] { return !simulator_->Running() && StreamViewsAgree(&views); }, 90000))
      << "no single leader and converged replicas after the partition healed: " << views;
  const double converge_s = (NowMs() - healed_at) / 1000.0;
  std::printf("chaos: partition healed; views agree %.1f s later (generator done): %s\n",
              converge_s, views.c_str());
  EXPECT_LE(converge_s, 30.0);
  disturbances_.back().to_ms = healed_at + 5000;  // the rejoin may move leaders again
  WaitSimulator(60000);
  ExpectProcessorCaughtUp(60000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();
}

TEST_F(ChaosTest, TwoOfThreeNodesDownFailsPublishesLoudlyAndRecoversByItself) {
  StartProcessor();
  StartSimulator(1000, 40);
  SleepMs(6000);
  const std::string leader = GetStreamState(client_->js(), "LOCATION_EVENTS").leader;
  const int keep = cluster_->NodeNamed(leader) == 0 ? 1 : 0;  // a follower stays up
  std::vector<int> down;
  for (int n = 0; n < 3; ++n)
    if (n != keep) down.push_back(n);
  const int64_t lost_quorum_at = NowMs();
  for (int n : down) cluster_->Kill(n, SIGKILL);
  SleepMs(2000);
  // A publish without quorum is refused or times out: never acknowledged.
  {
    NatsSettings s;
    s.urls = cluster_->url(keep);
    s.name = "chaos-probe";
    auto probe = NatsClient::Connect(s, 10000);
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus st = PublishProbe(probe->js(), "chaos-probe-1", 2000, &jerr);
    EXPECT_NE(st, NATS_OK) << "a publish was acknowledged without a quorum";
    std::printf("chaos: publish without quorum: %s (js error %d)\n", natsStatus_GetText(st),
                static_cast<int>(jerr));
  }
  // The processor waits: alive, not spinning.
  const double cpu_before = CpuSeconds(processor_->pid());
  SleepMs(8000);
  const double cpu_share = (CpuSeconds(processor_->pid()) - cpu_before) / 8.0;
  std::printf("chaos: processor used %.1f %% of a core during 8 s without quorum\n",
              100 * cpu_share);
  EXPECT_TRUE(processor_->Running()) << "the processor died without quorum";
  EXPECT_LT(cpu_share, 0.25) << "the processor spins while the cluster has no quorum";
  for (int n : down) cluster_->Restart(n);
  const int64_t restored_at = NowMs();
  cluster_->WaitReady(60000);
  const uint64_t seq_at_restore = StreamLastSeq();
  ASSERT_TRUE(WaitFor([&] { return AckFloor() > seq_at_restore; }, 60000))
      << "the processor did not recover by itself";
  std::printf("chaos: processing again %.1f s after quorum returned\n",
              (NowMs() - restored_at) / 1000.0);
  disturbances_.push_back({lost_quorum_at, NowMs()});
  WaitSimulator(180000);
  const std::string generator = GeneratorSummary();
  std::printf("chaos: generator: %s\n", generator.c_str());
  EXPECT_EQ(generator.find(" 0 publish errors"), std::string::npos)
      << "the generator reported no publish errors while the cluster had no quorum";
  EXPECT_TRUE(processor_->Running());
  ExpectProcessorCaughtUp(60000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();
}

// One node's store on a nearly full 64 MiB tmpfs (needs the right to mount; skipped
// otherwise). Every stream and the processor's consumer are led elsewhere, so the full
// node is a follower: the other two keep a quorum, so publishes go on being
// acknowledged (an error would be wrong here), and the full node falls behind.
// nats-server 2.9.10 does not recover that node by itself once space frees (its
// monitoring stops answering); after a restart it catches up.
TEST_F(ChaosTest, DiskFullOnOneNodeLosesNothingAndTheNodeCatchesUpAfterARestart) {
  const std::filesystem::path mount_dir = dir_ / "n3-tmpfs";
  std::filesystem::create_directories(mount_dir);
  if (mount("tmpfs", mount_dir.c_str(), "tmpfs", 0, "size=64m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs for the full disk (needs root or CAP_SYS_ADMIN): "
                 << std::strerror(errno);
  }
  mounted_ = mount_dir;
  client_.reset();
  cluster_ = std::make_unique<NatsCluster>(
      3, std::map<int, std::filesystem::path>{{2, mount_dir / "store"}});
  WriteConfig(5);
  client_ = std::make_unique<TestClient>(cluster_->urls());
  StartProcessor();
  // Leaders away from the node whose disk fills.
  const std::string full = cluster_->name(2);
  const auto step_down = [&](const std::string& api) {
    natsMsg* reply = nullptr;
    natsConnection_RequestString(&reply, client_->connection(), api.c_str(), "", 5000);
    if (reply != nullptr) natsMsg_Destroy(reply);
  };
  for (const char* stream : {"LOCATION_EVENTS", "PRICING_UPDATES", "WEBSOCKET_EVENTS",
                             "ANALYTICS_EVENTS", "CONFIG_UPDATES", "DEAD_LETTERS"}) {
    ASSERT_TRUE(WaitFor(
        [&] {
          if (GetStreamState(client_->js(), stream).leader != full) return true;
          step_down(std::string("$JS.API.STREAM.LEADER.STEPDOWN.") + stream);
          return false;
        },
        30000))
        << stream << " stays led by " << full;
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        if (GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor").leader != full)
          return true;
        step_down("$JS.API.CONSUMER.LEADER.STEPDOWN.LOCATION_EVENTS.pricing-processor");
        return false;
      },
      30000));
  // Leave 4 MiB free.
  struct statvfs fs {};
  ASSERT_EQ(statvfs(mount_dir.c_str(), &fs), 0);
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  {
    std::ofstream filler(mount_dir / "filler", std::ios::binary);
    const std::string chunk(1 << 20, 'x');
    for (uint64_t written = 0; written + (4u << 20) < free_bytes; written += chunk.size())
      filler << chunk;
  }
  StartSimulator(3000, 20);
  bool fell_behind = false;
  std::string replicas;
  while (simulator_->Running()) {
    SleepMs(500);
    try {
      const StreamState st = GetStreamState(client_->js(), "LOCATION_EVENTS");
      for (const auto& r : st.replicas_status) {
        if (r.starts_with(full) && r.find("behind") != std::string::npos) {
          fell_behind = true;
          replicas = r;
        }
      }
    } catch (const NatsError&) {
    }
  }
  ASSERT_EQ(statvfs(mount_dir.c_str(), &fs), 0);
  std::printf("chaos: %s's disk: %llu bytes free at the end; its replica: %s\n", full.c_str(),
              static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize,
              fell_behind ? replicas.c_str() : "never behind");
  EXPECT_TRUE(fell_behind) << "the full node never fell behind: the case did not fill its disk";
  WaitSimulator(60000);  // every publish acknowledged by the two nodes with space
  std::filesystem::remove(mount_dir / "filler");
  const int64_t restarted_at = NowMs();
  cluster_->Restart(2);
  cluster_->WaitReady(60000);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& r : GetStreamState(client_->js(), "LOCATION_EVENTS").replicas_status)
          if (r.starts_with(full)) return r.find(" current") != std::string::npos;
        return false;
      },
      60000))
      << full << " did not catch up after space freed and a restart";
  std::printf("chaos: %s current again %.1f s after its restart\n", full.c_str(),
              (NowMs() - restarted_at) / 1000.0);
  disturbances_.push_back({restarted_at, NowMs()});
  ExpectProcessorCaughtUp(60000);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs();
}

TEST_F(ChaosTest, PoisonEventIsRedeliveredMaxDeliverTimesThenDeadLetteredAndOthersFlow) {
  WriteConfig(4);
  StartProcessor({{"PRICING_FAILPOINT_INGEST", "poison-pill"}});
  StartSimulator(1500, 20);
  SleepMs(3000);
  // Healthy events read against events stored, over the time the poison is retried.
  const auto sample = [&] {
    return std::pair{MetricSum(HttpGet(http_port_, "/metrics").body, "pricing_events_read_total"),
                     static_cast<double>(StreamLastSeq())};
  };
  // Three poison events among the healthy ones.
  auto& pub = client_->publisher();
  std::set<std::string> poison;
  const auto first = sample();
  for (int i = 0; i < 3; ++i) {
    const std::string id = "poison-pill-" + std::to_string(i);
    poison.insert(id);
    pub.Publish("location.driver.nyc", id,
                R"({"driver_id":")" + id +
                    R"(","lat":40.75,"lon":-73.98,"status":"available",)"
                    R"("ts":)" +
                    std::to_string(NowMs()) + "}");
    pub.Flush(10000);
    SleepMs(1000);
  }
  SleepMs(8000);  // the redeliveries back off 1, 2 and 3 s
  const auto second = sample();
  const double share = (second.first - first.first) / (second.second - first.second);
  std::printf(
      "chaos: while 3 poison events were retried, %.0f events read of %.0f stored "
      "(%.1f %%)\n",
      second.first - first.first, second.second - first.second, 100 * share);
  EXPECT_GE(share, 0.9) << "healthy events slowed down by the poison";
  WaitSimulator(60000);
  ExpectProcessorCaughtUp(60000);
  // Each poison event: dead-lettered once, with reason poison, after max_deliver.
  const auto dead = ReadStream(*client_, "DEAD_LETTERS", "dlq.>");
  std::map<std::string, int> dead_by_id;
  for (const auto& m : dead) {
    if (m.headers.count("Pricing-Reject-Reason") &&
        m.headers.at("Pricing-Reject-Reason") == "poison")
      ++dead_by_id[m.data.substr(m.data.find("poison-pill-"), 13)];
  }
  EXPECT_EQ(dead_by_id.size(), 3u);
  for (const auto& [id, n] : dead_by_id) EXPECT_EQ(n, 1) << id;
  for (const auto& m : dead) {
    if (m.headers.count("Pricing-Reject-Detail")) {
      EXPECT_NE(m.headers.at("Pricing-Reject-Detail").find("4 deliveries"), std::string::npos)
          << m.headers.at("Pricing-Reject-Detail");
    }
  }
  const HttpResult metrics = HttpGet(http_port_, "/metrics");
  // At most 3 retries each. The server can count a delivery the processor never saw (a
  // message sent to a pull request that had just expired; seen in a clean-clone CI run:
  // deliveries 1, 3, 4 of one event reached the processor), and that one is redelivered
  // after the ack wait without a retry of ours, so fewer is possible.
  const double retried =
      MetricValue(metrics.body, R"(pricing_handling_failures_total{outcome="retried"})");
  EXPECT_LE(retried, 9.0);
  EXPECT_GE(retried, 3.0);
  EXPECT_EQ(
      MetricValue(metrics.body, R"(pricing_handling_failures_total{outcome="dead_lettered"})"),
      3.0);
  ReconcileAcknowledgedEvents();
  ReconcileOutputs(poison);
}

TEST_F(ChaosTest, SoakKeepsMemoryFlatAndLagBounded) {
  const int64_t seconds = EnvInt("PRICING_SOAK_SECONDS", 45);
  const int64_t rate = EnvInt("PRICING_SOAK_RATE", 5000);
  // LOCATION_EVENTS keeps an hour: the whole soak stays in the store, about 210 bytes
  // an event on each node (measured: 4.66 M events filled 1GB with the outputs). A
  // full store makes nats-server 2.9 disable JetStream on the node, so a soak that
  // cannot fit is refused up front.
  const double needed_gb = static_cast<double>(rate) * static_cast<double>(seconds) * 300 / 1e9;
  const char* store = std::getenv("PRICING_TEST_MAX_FILE_STORE");
  const double store_gb = store != nullptr ? std::strtod(store, nullptr) : 1.0;
  ASSERT_LE(needed_gb, store_gb)
      << "the soak needs about " << needed_gb << " GB of JetStream store per node; set "
      << "PRICING_TEST_MAX_FILE_STORE (in GB, e.g. 4GB; scripts/chaos.sh sets it)";
  StartProcessor();
  StartSimulator(static_cast<double>(rate), static_cast<double>(seconds));
  std::vector<double> rss, lag;
  const int64_t start = NowMs();
  while (simulator_->Running()) {
    SleepMs(1000);
    rss.push_back(RssMiB(processor_->pid()));
    try {
      lag.push_back(static_cast<double>(
          GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor").num_pending));
    } catch (const NatsError&) {
    }
    if (NowMs() - start > (seconds + 120) * 1000) break;
  }
  WaitSimulator(60000);
  const std::string generator = GeneratorSummary();
  std::printf("chaos: generator: %s\n", generator.c_str());
  // A soak is only at the rate it names if the generator achieved it.
  double achieved = 0;
  const auto at = generator.find(" s (");
  if (at != std::string::npos) achieved = std::strtod(generator.c_str() + at + 4, nullptr);
  EXPECT_GE(achieved, 0.95 * static_cast<double>(rate))
      << "the generator could not publish " << rate
      << " events/s here; lower PRICING_SOAK_RATE (scripts/chaos.sh --soak-rate)";
  ExpectProcessorCaughtUp(60000);
  ASSERT_GE(rss.size(), 9u);
  // After warm-up (the first third): the last third's median RSS against the middle's.
  const std::size_t third = rss.size() / 3;
  const double middle = Median({rss.begin() + third, rss.begin() + 2 * third});
  const double end = Median({rss.begin() + 2 * third, rss.end()});
  const double lag_middle =
      Median({lag.begin() + lag.size() / 3, lag.begin() + 2 * lag.size() / 3});
  const double lag_end = Median({lag.begin() + 2 * lag.size() / 3, lag.end()});
  std::printf(
      "chaos: soak %lld s at %lld events/s: RSS median %.1f MiB (middle third) -> %.1f "
      "MiB (last third); consumer lag median %.0f -> %.0f events\n",
      static_cast<long long>(seconds), static_cast<long long>(rate), middle, end, lag_middle,
      lag_end);
  EXPECT_LE(end, middle * 1.10 + 8) << "resident memory grows";
  EXPECT_LE(lag_end, lag_middle * 1.5 + rate) << "the consumer falls further behind";
  // Every acknowledged event stored (ids are unique per run, so counts suffice here;
  // the other cases compare the ids themselves).
  std::ifstream acked(dir_ / "acked-1.log");
  const auto acked_count =
      std::count(std::istreambuf_iterator<char>(acked), std::istreambuf_iterator<char>(), '\n');
  EXPECT_EQ(GetStreamState(client_->js(), "LOCATION_EVENTS").messages,
            static_cast<uint64_t>(acked_count));
}

}  // namespace
}  // namespace pricing::test
