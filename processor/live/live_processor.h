// The processor as operators run it: consumes LOCATION_EVENTS from JetStream with a
// durable pull consumer, applies events to the pricing core, dead-letters bad input,
// closes ticks on the wall clock and publishes their outputs, applies CONFIG_UPDATES,
// and recovers its window and model state after a restart.
//
// Recovery: after every tick whose outputs are all acknowledged, the city's model
// state is checkpointed to `pricing.state.<city>` (PRICING_UPDATES). On start the
// processor restores the latest checkpoint and re-reads, from just before the window
// of the next tick, the events its durable consumer had delivered to the previous run;
// the durable then delivers the rest. While a backlog is read, the stream's arrival
// times are the watermark, so ticks close as they did (or would have) live;
// republished ticks carry the same message ids and the broker's de-duplication drops
// them.
//
// Single-threaded: Run() owns the core; cnats threads only acknowledge publishes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "engine/pricing_engine.h"
#include "observe/health.h"
#include "observe/metrics.h"
#include "transport/js_publisher.h"
#include "transport/nats_client.h"
#include "transport/pull_consumer.h"

namespace pricing {

// Inputs re-read while rebuilding the window are not counted here (the rebuild logs
// its own count): these are what this run consumed from its durable.
struct LiveCounters {
  std::atomic<uint64_t> events_applied{0};
  std::atomic<uint64_t> events_rejected{0};
  std::atomic<uint64_t> events_skipped{0};  // redeliveries of events already applied
  std::atomic<uint64_t> events_failed{0};   // handling threw; redelivery asked for
  std::atomic<uint64_t> events_poison{0};   // failed max_deliver times: dead-lettered
  std::atomic<uint64_t> ticks_closed{0};
  std::atomic<uint64_t> checkpoints{0};
  std::atomic<uint64_t> configs_applied{0};
  std::atomic<uint64_t> configs_refused{0};
};

class LiveProcessor {
 public:
  LiveProcessor(const Config& config, const Clock& clock);
  ~LiveProcessor();

  // Connects, applies streams, recovers, then processes until `stop` is set. On stop:
  // no more fetches, the batch in hand is finished and acknowledged, publishes are
  // flushed. Throws NatsError/ConfigError only for start-up failures.
  void Run(const std::atomic<bool>& stop);

  const LiveCounters& counters() const { return counters_; }
  const JsPublisher& publisher() const { return publisher_; }
  // Thread-safe, for the HTTP side.
  Metrics& metrics() { return metrics_; }
  Readiness readiness() const;  // the last evaluation (not ready before the first)
  // False when the processing loop has not turned for kStallSeconds: it is stuck, and
  // restarting the process is the cure (what /healthz reports).
  bool alive() const;
  static constexpr int64_t kStallSeconds = 30;

 private:
  struct PendingCheckpoint {
    std::string city;
    int64_t tick;
    std::string payload;
    std::vector<int64_t> event_ts;  // events first counted in this tick, for the latency
  };

  void Connect();
  void OpenConsumers();
  void RestoreConfigs();
  void RestoreCheckpoints();
  void Rebuild();
  // Applies, skips or dead-letters one input; returns whether more wait behind it.
  // Takes `msg` only when it must outlive the call (a dead letter, a failure); the
  // caller frees what is left.
  bool HandleInput(NatsPtr<natsMsg>& msg, int64_t now_ms, bool rebuilding);
  // Handling threw: asks for redelivery, or dead-letters it as poison on the last
  // delivery the consumer allows (max_deliver).
  void HandlingFailed(NatsPtr<natsMsg> msg, uint64_t seq, uint64_t delivered, bool rebuilding,
                      const char* what);
  void DeadLetter(NatsPtr<natsMsg> input, std::string_view city, std::string_view reason,
                  std::string_view detail, uint64_t seq, bool ack_when_stored);
  // At start (`live` false) reads the stored history; live, takes only what is queued.
  void PollConfigUpdates(bool live);
  void ApplyConfigDocument(std::string_view subject, std::string_view payload, uint64_t seq);
  // True when events the durable holds for us may still arrive (asked of the server).
  bool InputsOutstanding();
  // True once every event the stream had acknowledged when the due tick's close time
  // came has been read here. Asked of the stream's leader, once per tick: the
  // consumer's own leader answers from its copy of the stream, which can be behind.
  bool StoredEventsRead();
  // "ticks wait: cannot read <whose> state", at most every 5 s.
  void WarnTicksWait(const char* whose, const NatsError& e);
  void CloseTicks(int64_t watermark_ms);
  void PublishReadyCheckpoints();
  // Where reading LOCATION_EVENTS must start for the window of the next tick.
  int64_t RebuildFromMs() const;
  // Every health_check_interval_seconds: reads stream and consumer state, updates the
  // gauges, evaluates readiness. Runs on its own thread while Run() runs.
  void MonitorLoop();
  void StopMonitor();
  HealthSnapshot TakeSnapshot(jsCtx* js);

  const Config& config_;
  const Clock& clock_;
  PricingEngine engine_;
  JsPublisher publisher_;
  std::unique_ptr<NatsClient> client_;
  NatsPtr<natsSubscription> events_;  // durable pull consumer on LOCATION_EVENTS
  Subscription configs_;              // ordered consumer on config.pricing.>
  std::unique_ptr<PullConsumer> puller_;
  uint64_t max_applied_seq_ = 0;    // inputs up to here are in the window already
  std::set<uint64_t> failed_seqs_;  // ... except these, whose handling failed
  uint64_t max_read_seq_ = 0;       // every input up to here was read here, whatever became of it
  // Fault injection for the chaos suite (PRICING_FAILPOINT_INGEST): an event whose
  // payload contains this text fails to be handled. Empty: off.
  const std::string failpoint_ingest_;
  uint64_t config_history_seq_ = 0;  // config documents up to here were read at start
  std::map<std::string, uint64_t, std::less<>>
      answered_through_;                  // by city: last answered document
  uint64_t rebuild_unhandled_after_ = 0;  // the durable's ack floor when the rebuild began
  // What the durable had delivered when this run began (read again by the rebuild, or
  // older than the window): a later delivered sequence above both this and
  // max_applied_seq_ is on its way to us.
  uint64_t delivered_at_start_ = 0;

  Metrics metrics_;
  const int64_t started_ms_;
  std::atomic<int64_t> processing_since_ms_{0};  // 0 until the fetch loop begins
  std::atomic<int64_t> loop_heartbeat_ms_{0};
  // By city: the last tick whose updates are all stored (0: none yet).
  std::map<std::string, std::atomic<int64_t>, std::less<>> last_tick_end_;
  // By city, then by the first tick that counts them: ts of events applied live.
  std::map<std::string, std::map<int64_t, std::vector<int64_t>>, std::less<>> event_ts_;
  mutable std::mutex readiness_mu_;
  Readiness readiness_;
  std::mutex monitor_mu_;
  std::condition_variable monitor_cv_;
  bool monitor_stop_ = false;
  std::thread monitor_;
  int64_t last_state_warning_ms_ = 0;
  int64_t barrier_close_ms_ = -1;  // the close time the barrier below was taken for
  uint64_t barrier_seq_ = 0;       // the stream's last sequence then
  LiveCounters counters_;
  std::mutex ready_mu_;
  std::vector<PendingCheckpoint> ready_;  // checkpoints whose tick is fully stored
};

}  // namespace pricing
