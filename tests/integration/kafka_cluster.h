// A real 3-node Kafka cluster (KRaft combined mode) for a test, started and stopped
// with the project's own scripts (scripts/start-kafka-cluster.sh), on ports of its own
// and a state folder in the test's directory. The pinned broker comes from
// scripts/install-deps.sh.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace pricing::test {

class KafkaCluster {
 public:
  // Starts the cluster in `dir`/kafka; throws with the script's output when it fails.
  explicit KafkaCluster(const std::filesystem::path& dir);
  ~KafkaCluster();
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  // Node `node` (1..3): its process id, SIGKILLed and waited for, or started again (the
  // script keeps the nodes that run). Restart waits until every node serves.
  int Pid(int node) const;
  void Kill(int node);
  void Restart();
  // The ends of the brokers' logs, for a failure message.
  std::string LogTails(int lines) const;

 private:
  std::filesystem::path state_;
  std::string bootstrap_;
  int base_port_ = 0;
  int starts_ = 0;
};

// Runs `pricing streams apply --config CONFIG` against the cluster; returns its output,
// throws when it fails.
std::string ApplyKafkaTopics(const KafkaCluster& cluster, const std::filesystem::path& config);

}  // namespace pricing::test
