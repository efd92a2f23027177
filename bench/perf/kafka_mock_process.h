// librdkafka's mock Kafka cluster (the `kafka_mock_cluster` binary) as a child
// process: started with three brokers, asked to create topics over its standard input
// (the mock has no CreateTopics), and stopped when this object goes, or when our
// process does (its standard input is our pipe).
#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>

namespace pricing::perf {

class MockKafka {
 public:
  // Throws std::runtime_error when `binary` does not start and print its brokers.
  explicit MockKafka(const std::string& binary);
  ~MockKafka();
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }
  pid_t pid() const { return pid_; }
  // Empty on success (or when the topic exists), else the mock's error. Thread-safe.
  std::string CreateTopic(const std::string& topic, int partitions, int replication);

 private:
  std::string ReadLine();

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::mutex mu_;
  std::string bootstraps_;
};

}  // namespace pricing::perf
