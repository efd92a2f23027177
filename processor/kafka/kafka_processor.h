// `pricing run` on Kafka (backend: kafka): the same pricing core as the JetStream
// processor, between a librdkafka consumer of `location-events` and an idempotent
// producer of `pricing-updates`, `websocket-events`, `analytics-events` and
// `dead-letters` (events.md: a stream's topic is its name in lower case with `_`
// turned to `-`, keyed by the subject's last token; the full subject travels in a
// `subject` header).
//
// The driver between Kafka and the pricing operator (operator/pricing_operator.h),
// which decides everything, as it does for JetStream: this file turns consumed
// messages into input records, carries out the operator's actions and reports each
// produced message's fate back.
//
// Delivery: at least once. An input's offset is committed only once the operator
// acknowledged it, and in order per partition: an input whose ack waits (its dead
// letter is not stored yet) holds back every later offset of its partition
// (OffsetTracker), so a crash redelivers it instead of losing it. librdkafka commits
// stored offsets every second. Ticks close on the inputs' broker timestamps while a
// backlog is read (the consumer's lag, from the cached high watermark), and on the
// wall clock once caught up: when every event stored before the tick fell due was read
// (each partition's high watermark, asked of its leader once per due tick).
//
// Start-up, in order, as on JetStream:
// - the configuration history: every document of config-updates (subject
//   config.pricing.<city>) is validated again; the last answer per city
//   (config.applied.<city>, header Pricing-Config-Seq) says which were answered. A
//   document's sequence is its offset + 1 (the topic has one partition; a city's
//   documents are keyed by the city and so keep their order in any case);
// - each city's checkpoint: the last message per city of the compacted checkpoint
//   topic (kafka.checkpoint_topic; subject pricing.state.<city>, keyed by the city);
// - the rebuild: per partition of location-events, the events from just before the
//   window of the next tick up to the group's committed offset are read again into the
//   window (they were handled by an earlier run and are not acknowledged again); the
//   group consumer then goes on from the committed offset. A group without a committed
//   offset starts at kafka.auto_offset_reset and rebuilds nothing.
// Then the loop, which also follows config-updates from its end.
//
// Partitioned pricing (config key partitions: N, `pricing run --stage`), the stages of
// the JetStream processor with Kafka's own means (KafkaStageInputOf):
// - stage-1 partition P is partition P of location-events (N partitions), which holds
//   the events of the drivers and riders whose id hashes to P (PartitionOf; a producer
//   keys each event by its id and puts it there, as `pricing simulate` does). The count
//   stage reads that partition alone, so every event in it is its to count or refuse: one
//   whose id belongs to another partition is dead-lettered (schema), never passed over.
//   Its group is <group_id>-p<P>of<N>. It publishes its counts to the partials topic
//   and checkpoints as pricing.state.<city>.p<P> (keyed by city and partition in the
//   compacted topic);
// - the price stage reads the partials topic in the group <group_id>-price.
//
// Active and standby: every stage's group subscribes to the one-partition lease topic
// (kafka.lease_topic), never to what it reads. The member the group gives the lease is
// active and assigns itself the stage's partitions (Rebalanced); the others stand by. A
// group subscribed to a topic of several partitions would share them out: a standby
// would take part of the work, and two processors would each price a city from part
// of its events.
//
// Outputs carry the message id as a `msg-id` header. Kafka has no broker-side
// de-duplication by id: after a crash, the ticks between the last checkpoint and the
// crash are published again, with the same ids and values (their `computed_at`
// differs). A reader that keeps the last value per zone (the gateway) is unaffected;
// one that counts messages de-duplicates by `msg-id`.
//
// Threads: Run() owns the operator, the consumer and the producer; librdkafka's
// delivery reports run inside Run()'s rd_kafka_poll and only queue. The health monitor
// has its own thread, and its probe (kafka_health_probe.h) a client of its own; it
// reads the operator's counters (atomics) and nothing else of Run()'s. The HTTP
// threads call metrics(), readiness() and alive(), all thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "engine/pricing_engine.h"
#include "observe/health_monitor.h"
#include "observe/held_ticks.h"
#include "observe/metrics.h"
#include "observe/operator_metrics.h"
#include "operator/pricing_operator.h"
#include "transport/kafka_admin.h"
#include "transport/kafka_handles.h"
#include "transport/kafka_reader.h"

namespace pricing {

// Which offsets of each partition may be committed: those below the first offset
// received and not yet acknowledged. Pure; owned by one thread.
class OffsetTracker {
 public:
  void Received(int32_t partition, int64_t offset) { open_[partition].insert(offset); }
  // Returns the offset to commit for `partition` (the next to read after the
  // acknowledged prefix) when the prefix grew, else -1.
  int64_t Acked(int32_t partition, int64_t offset);

 private:
  std::map<int32_t, std::set<int64_t>> open_;  // received, not acknowledged
  std::map<int32_t, int64_t> max_acked_;       // per partition, the largest acked
  std::map<int32_t, int64_t> committable_;     // per partition, the last returned
};

class KafkaProcessor {
 public:
  static constexpr int64_t kStallSeconds = Liveness::kStallSeconds;

  KafkaProcessor(const Config& config, const Clock& clock);
  ~KafkaProcessor();

  // Consumes until `stop`, then flushes what it produced and commits what it applied.
  void Run(const std::atomic<bool>& stop);

  Metrics& metrics() { return metrics_; }
  bool alive() const { return health_.alive(); }
  Readiness readiness() const { return health_.readiness(); }
  const OperatorCounters& counters() const { return operator_.counters(); }
  uint64_t produced() const { return produced_.load(); }
  // Run() returned because the group moved a partition to or from this processor after
  // its state was rebuilt (a standby given the work of one that died, or an active one
  // that lost it): the caller starts the program again, to rebuild from what the group
  // committed since.
  bool demoted() const { return demoted_; }

 private:
  void Connect();
  // The partitions of `topic`, asked of the cluster for up to 15 s; throws when it has
  // none (missing: `pricing streams apply` makes it).
  int32_t PartitionsOf(const std::string& topic);
  void RestoreConfigs();
  void RestoreCheckpoints();
  void Rebuild();
  // New configuration documents, if any (never waits).
  void PollConfigs();
  // One configuration document or answer, through the operator.
  void HandleConfig(const rd_kafka_message_t& m);
  void Handle(rd_kafka_message_t* msg);
  void Execute();
  void ReportDeliveries();
  // Several partitions come in batches, not in stored-time order: the earliest stored
  // time read in any other partition that `waiting` says has more (0: one of them was
  // not read yet; INT64_MAX: none, or one partition read). InputRecord::others_stored_ms.
  int64_t OthersStoredMs(int32_t partition, const std::function<bool(int32_t)>& waiting) const;
  // True when the consumer has its partitions and has read each to the high watermark
  // its leader gave when the due tick fell due: nothing stored before then is still on
  // its way. Before the group assigned partitions it is not.
  bool CaughtUp();
  // "ticks wait: <why>", at most every 5 s.
  void WarnTicksWait(const std::string& why);
  void Produce(const Action& a, const std::string& topic);
  std::string TopicFor(const std::string& subject) const;
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  // The group's (cooperative-sticky) assignment changes: assigns or unassigns, and marks
  // the processor demoted when its state no longer fits the partitions it holds.
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque);
  void Rebalanced(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);

  const Config& config_;
  const Clock& clock_;
  PricingEngine engine_;
  Metrics metrics_;
  OperatorMetrics listener_;
  PricingOperator operator_;
  HealthMonitor health_;
  HeldTicksReporter held_;  // stage 2's cities held for a partition's counts
  OffsetTracker offsets_;
  std::vector<Action> actions_;
  std::vector<std::pair<uint64_t, bool>> deliveries_;  // queued by OnDelivery
  std::atomic<uint64_t> produced_{0};
  std::atomic<uint64_t> produce_errors_{0};
  KafkaPtr<rd_kafka_t> consumer_;
  KafkaPtr<rd_kafka_t> producer_;
  const KafkaStageInput input_;  // what this stage reads, in which group
  const std::string input_topic_;
  int32_t input_partitions_ = 0;               // of input_topic_, read at start
  std::unique_ptr<KafkaReader> configs_;       // follows config-updates
  int64_t barrier_close_ms_ = -1;              // the close time the barrier was taken for
  std::map<int32_t, int64_t> barrier_;         // per partition: its high watermark then
  std::map<int32_t, int64_t> next_offset_;     // per partition: the next offset to read
  std::map<int32_t, int64_t> read_stored_ms_;  // per partition: the last read's stored time
  // Per partition: what the group had committed when the rebuild read it (-1: nothing).
  // A partition assigned later with another committed offset was processed by another
  // processor meanwhile: this one's window and checkpoint are stale.
  std::map<int32_t, int64_t> rebuilt_committed_;
  bool rebuilt_ = false;
  bool demoted_ = false;
  bool closing_ = false;  // leaving the group: a revocation now is no demotion
  int64_t last_wait_warning_ms_ = 0;
};

// The subject of a Kafka input: its `subject` header, else rebuilt from the key (the
// city) and the payload's kind (a driver_id makes a ping, a request_id a request).
std::string KafkaInputSubject(rd_kafka_message_t* msg);

}  // namespace pricing
