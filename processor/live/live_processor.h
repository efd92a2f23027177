// `pricing run` on JetStream: the driver between the cluster and the pricing operator
// (operator/pricing_operator.h), which decides everything. This file only moves
// things: it turns delivered messages into input records, carries out the
// operator's actions (acknowledge, negatively acknowledge, publish) and reports
// each publish's fate back.
//
// Start-up, in order: connect and apply the streams (stream_admin.h); bind or create
// the durable pull consumer; stand by while another processor is active (below); read
// CONFIG_UPDATES from the start (every stored document is validated again, which
// yields the accepted sequence the first run had); restore each city's checkpoint
// (`pricing.state.<city>` in PRICING_UPDATES); rebuild: re-read, through an ordered
// consumer from just before the window of the next tick, what the durable had
// delivered to the previous run. Then the loop below until stopped.
//
// One active, the others standing by: the durable's clients form a priority group with
// the pinned_client policy (nats-server 2.11+), so the server delivers its events to
// one processor only, and moves that pin to another once the pinned one has not pulled
// for consumer.takeover_after_seconds (killed, frozen, cut off, or stopped: a clean
// stop hands over at once). A processor starts as a standby when another holds the pin;
// pulls of a standby get nothing. When its pulls are answered with events, it is
// pinned: it restores the checkpoint and rebuilds, as after a restart, so its outputs
// are those of an uninterrupted run. While nobody holds the pin (a new consumer, or no
// event since the last one left), a processor goes ahead unpinned: it receives nothing
// until an event pins it or another, and closes ticks only once it has read every event
// stored before them (below), so an unpinned processor never publishes a tick short of
// events; it stands by again as soon as it sees another pinned. A processor whose pin
// was taken (it was frozen past the timeout) starts again in the same process
// (common/exec_again.h), as a standby with none of its state.
//
// Partitioned pricing (config key partitions, `pricing run --stage`): a count stage
// reads LOCATION_EVENTS with durable <durable>-p<P>of<N>, filtered to its partition's
// subjects and the three-token ones, and publishes counts instead of prices (the
// operator decides which); a price stage reads the counts (pricing.partial.> in
// PRICING_UPDATES) with durable <durable>-price, its rebuild re-reads those stored
// since its checkpoint, and it reports cities held for a partition (held_ticks.h). Each
// stage's durable is a priority group as above.
//
// A tick that falls due is closed only once nothing stored before it is still on its
// way: the stream leader's last sequence is read once per due tick, and the tick
// waits until that sequence was read here (the consumer's own leader answers from its
// copy of the stream, which can be behind).
//
// Threads:
// - Run() owns the operator, the engine, the consumers and every natsMsg it holds;
// - cnats' threads run the publisher's ack handler, which only queues "stored" or
//   "failed" for Run() to report (StoredQueue);
// - the health monitor (observe/health_monitor.h) has its own thread, and its probe
//   (nats_health_probe.h) its own JetStream context; it reads the operator's counters
//   (atomics) and nothing else of Run()'s;
// - the HTTP threads call metrics(), readiness() and alive(), all thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "engine/pricing_engine.h"
#include "observe/health_monitor.h"
#include "observe/held_ticks.h"
#include "observe/metrics.h"
#include "observe/operator_metrics.h"
#include "operator/pricing_operator.h"
#include "transport/js_publisher.h"
#include "transport/nats_client.h"
#include "transport/pull_consumer.h"
#include "transport/stream_admin.h"

namespace pricing {

// A delivered message as the operator takes it; its token is the message itself.
// `m` outlives the record.
InputRecord JetStreamRecord(natsMsg* m, const PullConsumer::Meta& meta);

class LiveProcessor {
 public:
  LiveProcessor(const Config& config, const Clock& clock);
  ~LiveProcessor();

  // Connects, applies streams, recovers, then processes until `stop` is set. On stop:
  // no more fetches, the batch in hand is finished and acknowledged, publishes are
  // flushed. Throws NatsError/ConfigError only for start-up failures.
  void Run(const std::atomic<bool>& stop);

  const OperatorCounters& counters() const { return operator_.counters(); }
  // Run() returned because another processor took over: the caller starts the program
  // again, as a standby (a frozen processor's state must not be used).
  bool demoted() const { return demoted_; }
  const JsPublisher& publisher() const { return publisher_; }
  // Thread-safe, for the HTTP side.
  Metrics& metrics() { return metrics_; }
  Readiness readiness() const { return health_.readiness(); }
  // False when the processing loop has not turned for kStallSeconds: it is stuck, and
  // restarting the process is the cure (what /healthz reports). True while starting:
  // connecting and recovering are bounded by their own deadlines.
  bool alive() const { return health_.alive(); }
  static constexpr int64_t kStallSeconds = HealthMonitor::kStallSeconds;

 private:
  // Publishes whose fate the ack handler learnt, waiting for Run() to report them.
  class StoredQueue {
   public:
    void Push(uint64_t publish, bool stored);
    // Takes everything queued.
    void Drain(std::vector<std::pair<uint64_t, bool>>* out);

   private:
    std::mutex mu_;
    std::vector<std::pair<uint64_t, bool>> queue_;
  };

  void Connect(const std::atomic<bool>& stop);
  void OpenConsumers();
  // Waits while another processor holds the pin. True when this one may go ahead
  // (pinned, or nobody is); false when stopped. Messages a pinning pull brought are
  // kept in in_hand_.
  bool StandBy(const std::atomic<bool>& stop);
  // While recovering: a pull now and then, or the server moves the pin away.
  void KeepPin();
  // Active and not pinned (nobody was, or the pin was lost): true once the server has
  // pinned another processor (the same pin at two looks a second apart).
  bool AnotherPinned();
  // The pin holder's id, or "?" when the consumer cannot be read.
  std::string PinHolder();
  void RestoreConfigs();
  void RestoreCheckpoints();
  void Rebuild();
  // At start (`live` false) reads the stored history; live, takes only what is queued.
  void PollConfigUpdates(bool live);
  // One delivered message through the operator.
  void Handle(NatsPtr<natsMsg>& msg, bool* more_waiting);
  // Carries out actions_ (then clears it). `current` is the message in hand, if any:
  // an ack of its token acknowledges it; other tokens are held messages.
  void Execute(natsMsg* current);
  // Reports every queued publish outcome to the operator, and carries out the result.
  void ReportPublishes();
  // True when events the durable holds for us may still arrive (asked of the server).
  bool InputsOutstanding();
  // True once every event the stream had acknowledged when the due tick's close time
  // came has been read here.
  bool StoredEventsRead();
  // "ticks wait: cannot read <whose> state", at most every 5 s.
  void WarnTicksWait(const char* whose, const NatsError& e);

  const Config& config_;
  const Clock& clock_;
  PricingEngine engine_;
  Metrics metrics_;
  OperatorMetrics listener_;
  PricingOperator operator_;
  JsPublisher publisher_;
  std::unique_ptr<NatsClient> client_;
  Subscription configs_;  // ordered consumer on config.pricing.>
  std::unique_ptr<PullConsumer> puller_;
  HealthMonitor health_;
  HeldTicksReporter held_ticks_;  // stage 2: cities held for a partition's counts
  // What this process reads: LOCATION_EVENTS (location.>), or for stage 2 of partitioned
  // pricing the partitions' counts (PRICING_UPDATES, pricing.partial.>); and its durable.
  const char* const input_stream_;
  const std::string input_filter_;  // all of them (the rebuild reads these)
  // The durable's: a count stage of several partitions reads its partition's subjects
  // and the three-token ones (partition 0: every other shape too).
  const std::vector<std::string> durable_filters_;
  const std::string durable_;

  std::vector<Action> actions_;  // reused: the operator's answer to one call
  // Inputs whose ack waits for their dead letter, by token.
  std::unordered_map<uint64_t, NatsPtr<natsMsg>> held_;
  std::shared_ptr<StoredQueue> stored_ = std::make_shared<StoredQueue>();
  std::vector<std::pair<uint64_t, bool>> reported_;  // reused by ReportPublishes

  uint64_t config_history_seq_ = 0;  // config documents up to here were read at start
  // Deliveries are numbered by the durable: one numbered above both the last read here
  // and the number it had reached when this run began is on its way to us.
  uint64_t consumer_seq_at_start_ = 0;
  uint64_t max_consumer_seq_read_ = 0;
  int64_t last_state_warning_ms_ = 0;
  std::vector<NatsPtr<natsMsg>> in_hand_;  // delivered by the pull that pinned this one
  ConsumerState replaced_;                 // a durable made again (stream_admin.h)
  int64_t last_pin_check_ms_ = 0;
  int64_t last_keep_pin_ms_ = 0;
  bool demoted_ = false;
  // Another processor had events this one did not: its state must not be used again.
  bool stale_ = false;
  std::string suspected_holder_;   // AnotherPinned: the pin seen at the last look
  int64_t barrier_close_ms_ = -1;  // the close time the barrier below was taken for
  uint64_t barrier_seq_ = 0;       // the stream's last sequence then
};

}  // namespace pricing
