// One messaging system under test, as the comparison harness drives it: a sender that
// must not block (it runs on the open-loop schedule), a receiver, and acknowledgements
// of stored messages where the system has them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pricing::perf {

// Client settings: what the library does out of the box, tuned for latency, or (Kafka
// only) the OpenMessaging Benchmark's Kafka driver: linger.ms 1, batch.size 128 KiB.
enum class Profile { kDefault, kTuned, kOmb };
const char* ToString(Profile p);

struct CellSpec {
  // loopback, nats-core, jetstream-r1, jetstream-r3, jetstream-r3-pull, jetstream-r3-fsync,
  // kafka, kafka-group, kafka-fsync
  std::string backend;
  Profile profile = Profile::kDefault;
  std::size_t message_bytes = 100;
  int partitions = 1;         // subjects / topic partitions, messages spread round-robin
  double rate = 1000;         // messages per second, open loop
  double warmup_seconds = 2;  // sent, not recorded
  double seconds = 10;        // recorded
};

// Called on the receiving thread with the message body and its arrival time.
using OnReceive = std::function<void(const void* data, std::size_t len, int64_t recv_ns)>;
// Called when the system confirms a message stored: the body (which carries the send
// time) and the time of the confirmation. `ok` false for a failed publish.
using OnAck = std::function<void(const void* data, std::size_t len, int64_t ack_ns, bool ok)>;

class Backend {
 public:
  virtual ~Backend() = default;

  // Shown in every output: "kafka-mock (in-memory, no replication)", ...
  virtual std::string Label() const = 0;
  // What an acknowledgement means and what reaches a disk, stated as measured.
  virtual std::string Durability() const = 0;
  virtual bool HasAcks() const = 0;
  // How the receiving side reads, which every row states: not every consumer kind
  // costs the same (the processor pulls from a durable and acknowledges each event).
  virtual std::string Consumer() const = 0;
  // The processes of the system under test (brokers, servers), whose CPU and memory
  // each cell reports; empty for none (the loopback floor).
  virtual std::vector<int> ServerPids() const { return {}; }
  // While open: the node that leads the cell's stream or first partition ("nats-2",
  // "kafka-1"), for the failover run; empty when it cannot tell.
  virtual std::string Leader() const { return ""; }

  // Creates what the cell needs (fresh each cell: stream, topic, subjects), starts
  // receiving, and returns once the receiver is ready to see the first message.
  virtual void Open(const CellSpec& cell, OnReceive on_receive, OnAck on_ack) = 0;
  // Sends without waiting for the system (bounded buffering inside is the backend's
  // business; a full window retries rather than drops). False: not sent, counted as
  // a send error by the caller.
  virtual bool Send(int partition, const std::string& payload) = 0;
  // Waits until every sent message is acknowledged (or `timeout_ms` passes).
  virtual void Flush(int64_t timeout_ms) = 0;
  // Stops receiving and removes what Open created.
  virtual void Close() = 0;
};

struct Endpoints {
  std::string nats_urls = "nats://127.0.0.1:4222";
  // The servers' jetstream.sync_interval ("always" or a duration), for the labels that
  // say what an acknowledgement means; empty: not known.
  std::string nats_sync_interval;
  // A second nats-server cluster whose servers fsync before they acknowledge
  // (sync_interval always), for jetstream-r3-fsync; empty: none.
  std::string nats_fsync_urls;
  std::vector<int> nats_fsync_pids;
  std::string kafka_brokers;  // empty: none
  bool kafka_is_mock = false;
  int kafka_replication = 3;  // of the topics the harness creates
  // Creates a topic where the admin API cannot (the mock cluster): empty text on
  // success, else the error. Unset: topics are created with CreateTopics.
  using TopicCreator =
      std::function<std::string(const std::string& topic, int partitions, int replication)>;
  TopicCreator kafka_create_topic;
  // The server processes, for the cost columns (empty: not known, not reported).
  std::vector<int> nats_pids;
  std::vector<int> kafka_pids;
};

// What a JetStream acknowledgement means on servers that fsync on `sync_interval`, for
// `replicas` replicas: one sentence for the labels of the harness's tables.
std::string JetStreamAckMeaning(int replicas, const std::string& sync_interval);

// nullptr for an unknown name.
std::unique_ptr<Backend> MakeBackend(const std::string& name, const Endpoints& endpoints);
std::vector<std::string> BackendNames();

std::unique_ptr<Backend> MakeLoopbackBackend();
std::unique_ptr<Backend> MakeNatsCoreBackend(const std::string& urls);
// `label`: empty for "jetstream-rN". durable_pull: read through a durable pull consumer
// with an ack per message instead of an ordered push consumer.
std::unique_ptr<Backend> MakeJetStreamBackend(const std::string& urls, int replicas,
                                              const std::string& sync_interval,
                                              const std::string& label = "",
                                              bool durable_pull = false);
// fsync: the cell's topic has flush.messages=1 (every replica fsyncs each append).
// group: read through a consumer group that stores and commits offsets, as pricing run.
std::unique_ptr<Backend> MakeKafkaBackend(const Endpoints& endpoints, bool fsync = false,
                                          bool group = false);

}  // namespace pricing::perf
