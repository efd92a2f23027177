// The pricing operator: everything the processor decides, written once for every
// source (a replay file, JetStream, Kafka). A functional core: it takes input
// records, the passing of time and the fate of its own publishes, and answers with
// actions as data (acknowledge, negatively acknowledge after a delay, publish). It
// never calls NATS, Kafka or a clock; the drivers around it do (processor/live/,
// processor/kafka/, processor/replay/).
//
// What lives here and nowhere else:
// - applying, skipping (a redelivery of an applied input) or dead-lettering an input,
//   and the encoding of dead letters;
// - poison handling: an input whose handling throws is redelivered with back-off, and
//   dead-lettered with reason `poison` on the last delivery the source allows;
// - "acknowledge only after its outputs are stored": an input that is dead-lettered is
//   acknowledged when its dead letter is stored, never before;
// - the watermark rules: while a backlog is read (the source reports more waiting, or
//   a rebuild re-reads), time is the inputs' stored time, so ticks close as they did,
//   or would have, live; caught up, it is the wall clock;
// - checkpoints: a tick's checkpoint is published once every message of the tick is
//   stored; restore, and the rebuild that re-reads a window after a restart;
// - CONFIG_UPDATES: validation, application from the next tick, one answer per
//   document;
// - partitioned pricing's stages (OperatorOptions::stage): a count stage passes over
//   other partitions' inputs and publishes its counts each tick; a price stage takes
//   counts as inputs, holds a tick until every partition's are in, and prices the sums.
//
// Threads: not thread-safe; one thread (the driver's loop) calls every method. The
// counters may be read from any thread (relaxed atomics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/outputs.h"
#include "engine/pricing_engine.h"

namespace pricing {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Where an input sits in its source: a JetStream stream sequence, or a Kafka
// partition and offset (seq is then offset + 1, so 0 always means "none").
struct Position {
  uint64_t seq = 0;
  int32_t partition = -1;  // -1: a source without partitions
};

// One input as a driver hands it over. The views must stay valid for the call.
struct InputRecord {
  std::string_view subject;
  std::string_view payload;
  Position position;
  int64_t stored_ms = 0;  // when the source stored it (0: unknown)
  // A source read in several partitions (Kafka) hands them over partition by partition,
  // not in stored-time order: reading a backlog (or rebuilding), ticks may close only up
  // to the earliest stored time another partition with more waiting has reached. 0: one
  // of them was not read yet, so no tick closes on this input.
  int64_t others_stored_ms = INT64_MAX;
  uint64_t delivered = 1;  // deliveries so far, this one included
  uint64_t pending = 0;    // inputs waiting behind this one in the source
  uint64_t token = 0;      // the driver's handle for acknowledging this input
  // The input's headers, read only when it is dead-lettered (rarely): a driver hands
  // over a function rather than copying headers for every input.
  Headers (*read_headers)(const void* source) = nullptr;
  const void* source = nullptr;
  Headers headers() const { return read_headers ? read_headers(source) : Headers{}; }
};

enum class PublishKind : uint8_t { kTickOutput, kDeadLetter, kCheckpoint, kConfigAnswer };

struct Action {
  enum class Kind : uint8_t { kAck, kNak, kPublish };
  Kind kind = Kind::kAck;
  uint64_t token = 0;    // kAck, kNak: the input's token
  int64_t delay_ms = 0;  // kNak: redeliver after this long
  uint64_t publish = 0;  // kPublish: report its fate with OnStored / OnFailed
  PublishKind what = PublishKind::kTickOutput;
  std::string subject;  // kPublish
  std::string msg_id;   // kPublish: the broker's de-duplication id
  std::string payload;  // kPublish
  Headers headers;      // kPublish

  static Action Ack(uint64_t token) {
    Action a;
    a.token = token;
    return a;
  }
  static Action Nak(uint64_t token, int64_t delay_ms) {
    Action a;
    a.kind = Kind::kNak;
    a.token = token;
    a.delay_ms = delay_ms;
    return a;
  }
};

// What happened to an input, returned by OnInput.
enum class Disposition : uint8_t {
  kAcked,    // an ack action was emitted
  kNaked,    // a nak action was emitted (handling failed; it comes again)
  kHeld,     // its ack follows once its dead letter is stored: keep what acks it
  kNothing,  // a rebuild input: the durable delivers it again
};

struct OperatorOptions {
  int64_t max_deliver = 5;  // the source's delivery limit (poison after it)
  // Older checkpoints restart at the next tick; a count stage (kCount) catches up always.
  int64_t max_catch_up_seconds = 300;
  // Fault injection for the chaos suite: an input whose payload contains this text
  // fails to be handled. Empty: off.
  std::string failpoint_ingest;
  // The stream whose name builds a dead letter's id when its input carries none.
  std::string input_stream = "LOCATION_EVENTS";
  // A replay: time is the largest event ts read, not a wall clock. Ticks close after
  // each applied input, events are never `future`, and OnTime is not used.
  bool event_time = false;
  PricingStage stage = PricingStage::kWhole;
  int32_t partition = 0;   // kCount: the partition counted here
  int32_t partitions = 1;  // kCount, kPrice
  // kCount: the source hands each input to one partition only (a partition of a keyed
  // Kafka topic): every input read is this partition's to count or to refuse.
  bool routed_source = false;
};

// Per city; incremented by the operator's thread, read by any.
struct CityCounters {
  std::array<std::atomic<uint64_t>, kEventKindCount> read{};
  std::array<std::atomic<uint64_t>, kRejectReasonCount> rejected{};
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> ticks{0};
  std::atomic<uint64_t> config_applied{0};
  std::atomic<uint64_t> config_refused{0};
  std::atomic<int64_t> last_stored_tick{0};  // the last tick whose messages are all stored
};

struct OperatorCounters {
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> skipped{0};  // redeliveries of inputs already applied
  std::atomic<uint64_t> foreign{0};  // kCount: inputs of other partitions, passed over
  std::atomic<uint64_t> failed{0};   // handling threw; redelivery asked for
  std::atomic<uint64_t> poison{0};   // failed max_deliver times: dead-lettered
  std::atomic<uint64_t> ticks{0};
  std::atomic<uint64_t> checkpoints{0};
  std::atomic<uint64_t> configs_applied{0};
  std::atomic<uint64_t> configs_refused{0};
  std::atomic<uint64_t> publish_failures{0};  // publishes the driver gave up on
  CityCounters unrouted;                      // inputs that named no known city
};

// When the events of a tick became visible: per tick, how long before the tick each
// of its events happened, in buckets of `bucket_ms`. Latency = stored time - tick +
// offset; kept per tick instead of per event.
struct TickLatency {
  static constexpr std::size_t kBuckets = 1024;
  int64_t bucket_ms = 1;
  std::array<uint32_t, kBuckets> counts{};  // the last bucket holds everything older
  uint64_t total = 0;
  double sum_offset_ms = 0;
  void Add(int64_t offset_ms);
};

// Told about what the operator does once per tick, configuration document or
// checkpoint (never per input): the drivers' metrics. Called on the operator's thread.
class OperatorListener {
 public:
  virtual ~OperatorListener() = default;
  virtual void TickClosed(const TickResult&, const ZoneSet&) {}
  // Every message of the tick is stored, `now_ms` on the wall clock.
  virtual void TickStored(const std::string& /*city*/, int64_t /*tick*/, int64_t /*now_ms*/,
                          const TickLatency&) {}
  virtual void ConfigAnswered(const std::string& /*city*/, bool /*applied*/) {}
  virtual void HandlingFailed(bool /*final*/) {}
  virtual void Checkpointed() {}
};

class PricingOperator {
 public:
  // `engine` and `listener` outlive the operator; `listener` may be null.
  PricingOperator(PricingEngine& engine, OperatorOptions options,
                  OperatorListener* listener = nullptr);

  // --- Recovery (before the first input) ---
  // A city's stored checkpoint (empty: none). Restores it or, without one (or with a
  // broken one, which is logged), starts the city at the first tick after `now_ms`.
  void Restore(const std::string& city, std::optional<std::string_view> checkpoint, int64_t now_ms);
  // Where reading must start for the window of the next tick (inputs can be stored
  // before their ts by up to the future skew).
  int64_t RebuildFromMs() const;
  // The rebuild re-reads inputs an earlier run was delivered, to refill the window.
  // Inputs up to `handled_through` (in its partition; once per partition) were
  // acknowledged by that run; later ones are delivered again by the source, and
  // acknowledged then.
  void BeginRebuild(Position handled_through);
  // A re-read input: applied into the window (and dead-lettered if it is refused and
  // the earlier run may not have done so); never acknowledged.
  void Rebuild(const InputRecord& in, int64_t now_ms, std::vector<Action>* out);
  uint64_t rebuilt() const { return rebuilt_; }

  // --- Processing ---
  // One delivered input. Appends its actions to `out`.
  Disposition OnInput(const InputRecord& in, int64_t now_ms, std::vector<Action>* out);
  // An input the driver could not even read as one (a replay line that is not a JSON
  // object with subject and data, say): dead-lettered as `malformed` with `detail`.
  Disposition Unreadable(const InputRecord& in, std::string_view detail, std::vector<Action>* out);
  // The wall clock passed `now_ms`. `caught_up`: the driver knows nothing stored
  // before now is still on its way; only then are due ticks closed on the wall clock.
  void OnTime(int64_t now_ms, bool caught_up, std::vector<Action>* out);
  // True when a tick would close at `now_ms` (the driver then checks it is caught up).
  // Never for kPrice: its ticks close when every partition's counts are in.
  bool TickDue(int64_t now_ms) const {
    return options_.stage != PricingStage::kPrice && now_ms >= engine_.NextCloseMs();
  }
  // A publish was stored; `now_ms` is the wall clock.
  void OnStored(uint64_t publish, int64_t now_ms, std::vector<Action>* out);
  // A publish was given up (not retryable). A dead letter's input is negatively
  // acknowledged, so it comes again; a tick whose message failed gets no checkpoint.
  void OnFailed(uint64_t publish, std::vector<Action>* out);

  // --- CONFIG_UPDATES ---
  // The last document of `city` an earlier run answered.
  void SetAnswered(const std::string& city, uint64_t seq) { answered_[city] = seq; }
  // A document on config.pricing.<city>, at stream sequence `seq`.
  void OnConfig(std::string_view subject, std::string_view payload, uint64_t seq,
                std::vector<Action>* out);

  // --- End of input (replay) ---
  // Closes every tick up to and including the first after the largest ts read.
  void Finish(std::vector<Action>* out);

  // --- kPrice: ticks held for a partition's counts ---
  struct HeldTick {
    std::string city;
    int64_t tick = 0;              // the next tick to price
    std::vector<int32_t> missing;  // the partitions whose counts of it are not in
    int64_t overdue_ms = 0;        // since it would have been priced
  };
  // The cities whose next tick is more than one tick interval past its close time
  // (tick + allowed lateness) without every partition's counts.
  std::vector<HeldTick> Held(int64_t now_ms) const;

  const OperatorOptions& options() const { return options_; }
  const OperatorCounters& counters() const { return counters_; }
  const CityCounters* city_counters(std::string_view city) const;
  // Every input up to here (in `partition`) was read, whatever became of it.
  uint64_t max_read_seq(int32_t partition = -1) const;
  // Every input up to here is in the window, except those whose handling failed.
  uint64_t max_applied_seq(int32_t partition = -1) const;
  PricingEngine& engine() { return engine_; }
  const PricingEngine& engine() const { return engine_; }

 private:
  struct City;
  struct PendingTick {
    City* city = nullptr;
    int64_t tick = 0;
    std::size_t remaining = 0;
    bool failed = false;
    std::string checkpoint;
    TickLatency latency;
  };
  struct PendingPublish {
    PublishKind what = PublishKind::kTickOutput;
    uint64_t token = 0;  // kDeadLetter: the input to acknowledge once stored
    Position input;      // kDeadLetter: where that input is
    bool ack_when_stored = false;
    PendingTick* tick = nullptr;  // kTickOutput
  };
  struct City {
    std::string key;
    CityEngine* engine = nullptr;
    CityCounters counters;
    // The latency of events applied live, by the first tick that counts them: a ring
    // by tick number, long enough for every tick an event can first count in (from
    // the next to close to the future skew ahead), so the per-event path never
    // allocates.
    struct LatencySlot {
      int64_t tick = INT64_MIN;  // INT64_MIN: free
      TickLatency latency;
    };
    std::vector<LatencySlot> latency;
    std::unique_ptr<PartialAssembler> assembler;  // kPrice
  };

  // What was read and applied of one partition of the source (-1: unpartitioned).
  struct Progress {
    uint64_t max_applied = 0;
    std::set<uint64_t> failed;  // applied-through exceptions: their handling failed
    uint64_t max_read = 0;
    uint64_t handled_through = 0;  // the rebuild's: acknowledged by an earlier run
    bool Applied(uint64_t seq) const {
      return seq != 0 && seq <= max_applied && !failed.contains(seq);
    }
  };
  Progress& ProgressOf(int32_t partition);
  City* CityOf(const CityEngine* engine);
  void EmitTicks(std::vector<TickResult> ticks, int64_t watermark_ms, std::vector<Action>* out);
  // kCount: publishes each tick's counts, and checkpoints once stored.
  void EmitPartials(std::vector<PartialCounts> partials, std::vector<Action>* out);
  // The latency of the events `tick` counts first, taken out of the city's ring.
  TickLatency TakeLatency(City& city, int64_t tick);
  // kPrice: one partition's counts (delivered, or re-read by the rebuild).
  Disposition OnPartial(const InputRecord& in, bool rebuild, std::vector<Action>* out);
  // Applies one input; false when handling threw (then `what` says why): the one place
  // an exception of the hot path is caught. A refusal (the input's fault) is a Verdict
  // in `outcome`, never an exception.
  bool Apply(const InputRecord& in, int64_t now_ms, IngestOutcome* outcome, std::string* what);
  void CloseTicks(int64_t watermark_ms, std::vector<Action>* out);
  uint64_t Publish(PublishKind what, std::string subject, std::string msg_id, std::string payload,
                   Headers headers, std::vector<Action>* out);
  void DeadLetter(const InputRecord& in, std::string_view city, std::string_view reason,
                  std::string_view detail, bool ack_when_stored, std::vector<Action>* out);
  void HandlingFailed(const InputRecord& in, const std::string& what, std::vector<Action>* out,
                      Disposition* disposition);
  void TickStored(PendingTick& tick, int64_t now_ms, std::vector<Action>* out);

  PricingEngine& engine_;
  const OperatorOptions options_;
  OperatorListener* const listener_;
  OperatorCounters counters_;
  std::deque<City> cities_;  // stable addresses
  std::unordered_map<const CityEngine*, City*> by_engine_;
  std::map<std::string, City*, std::less<>> by_key_;

  std::vector<Progress> progress_;  // by partition + 1
  uint64_t rebuilt_ = 0;

  uint64_t next_publish_ = 1;
  std::unordered_map<uint64_t, PendingPublish> publishes_;  // in flight
  std::deque<std::unique_ptr<PendingTick>> ticks_;          // closed, not yet all stored
  std::map<std::string, uint64_t, std::less<>> answered_;   // by city: last answered document
};

}  // namespace pricing
