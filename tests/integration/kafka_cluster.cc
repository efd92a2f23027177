#include "kafka_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "cluster_fixture.h"

namespace pricing::test {
namespace {

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string Script(const char* name) {
  return std::string(PRICING_SOURCE_DIR) + "/scripts/" + name;
}

}  // namespace

KafkaCluster::KafkaCluster(const std::filesystem::path& dir) : state_(dir / "kafka") {
  std::filesystem::create_directories(state_);
  // The script refuses ports in use; another base is tried then.
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int base = FreePort();
    if (base + 102 >= 20000) continue;  // the controllers sit at base + 100
    const std::filesystem::path log = state_ / ("start-" + std::to_string(attempt) + ".log");
    ChildProcess start({"bash", Script("start-kafka-cluster.sh"), "--state-dir", state_.string(),
                        "--base-port", std::to_string(base), "--no-topics", "--heap", "384m"},
                       // Compiling less (C1 only) settles a fresh cluster on two cores in
                       // seconds instead of tens of seconds; tests measure no throughput.
                       {{"KAFKA_JVM_OPTS", "-XX:TieredStopAtLevel=1"}}, log);
    const int rc = start.Wait(150000);
    const std::string out = ReadAll(log);
    if (rc == 0) {
      base_port_ = base;
      bootstrap_ = "127.0.0.1:" + std::to_string(base) + ",127.0.0.1:" + std::to_string(base + 1) +
                   ",127.0.0.1:" + std::to_string(base + 2);
      return;
    }
    if (out.find("is in use by another process") == std::string::npos)
      throw std::runtime_error("start-kafka-cluster.sh failed (" + std::to_string(rc) + "):\n" +
                               out + LogTails(20));
  }
  throw std::runtime_error("no free ports for a Kafka cluster after 5 tries");
}

KafkaCluster::~KafkaCluster() {
  ChildProcess stop({"bash", Script("stop-kafka-cluster.sh"), "--state-dir", state_.string()}, {},
                    state_ / "stop.log");
  stop.Wait(60000);
}

int KafkaCluster::Pid(int node) const {
  std::ifstream in(state_ / ("kafka-" + std::to_string(node) + ".pid"));
  int pid = 0;
  in >> pid;
  return pid;
}

void KafkaCluster::Kill(int node) {
  const int pid = Pid(node);
  if (pid <= 0 || ::kill(pid, SIGKILL) != 0)
    throw std::runtime_error("kafka-" + std::to_string(node) + " is not running");
  // Not our child (the script started it): wait until the process is gone.
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i) ::usleep(50'000);
}

void KafkaCluster::Restart() {
  const std::filesystem::path log = state_ / ("restart-" + std::to_string(++starts_) + ".log");
  ChildProcess start({"bash", Script("start-kafka-cluster.sh"), "--state-dir", state_.string(),
                      "--base-port", std::to_string(base_port_), "--no-topics", "--heap", "384m"},
                     {{"KAFKA_JVM_OPTS", "-XX:TieredStopAtLevel=1"}}, log);
  const int rc = start.Wait(150000);
  if (rc != 0)
    throw std::runtime_error("start-kafka-cluster.sh (restart) failed (" + std::to_string(rc) +
                             "):\n" + ReadAll(log) + LogTails(20));
}

std::string KafkaCluster::LogTails(int lines) const {
  std::string out;
  for (int i = 1; i <= 3; ++i) {
    const auto log = state_ / ("kafka-" + std::to_string(i)) / "server.log";
    out += "the end of " + log.string() + ":\n" + TailLines(log, lines);
  }
  return out;
}

std::string ApplyKafkaTopics(const KafkaCluster& cluster, const std::filesystem::path& config) {
  static int runs = 0;
  const std::filesystem::path log =
      config.parent_path() / ("streams-apply-" + std::to_string(++runs) + ".log");
  ChildProcess apply(
      {std::string(PRICING_BIN_DIR) + "/pricing", "streams", "apply", "--config", config.string()},
      {{"KAFKA_BROKERS", cluster.bootstrap()}}, log);
  const int rc = apply.Wait(60000);
  const std::string out = ReadAll(log);
  if (rc != 0)
    throw std::runtime_error("pricing streams apply failed (" + std::to_string(rc) + "):\n" + out);
  return out;
}

}  // namespace pricing::test
