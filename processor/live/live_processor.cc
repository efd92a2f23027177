#include "live/live_processor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>

#include "common/log.h"
#include "common/time_format.h"
#include "events/subject.h"
#include "live/nats_health_probe.h"
#include "transport/pull_consumer.h"
#include "transport/stream_admin.h"

namespace pricing {
namespace {

constexpr const char* kEventsStream = "LOCATION_EVENTS";
constexpr const char* kPricingStream = "PRICING_UPDATES";
constexpr int64_t kNsPerMs = 1'000'000;
// The priority group of the processors sharing the durable.
constexpr const char* kGroup = "processors";

Headers HeadersOf(const void* source) {
  return MsgHeaders(const_cast<natsMsg*>(static_cast<const natsMsg*>(source)));
}

OperatorOptions OptionsOf(const Config& config) {
  OperatorOptions o;
  o.max_deliver = config.consumer.max_deliver;
  o.max_catch_up_seconds = config.max_catch_up_seconds;
  if (const char* f = std::getenv("PRICING_FAILPOINT_INGEST")) o.failpoint_ingest = f;
  o.input_stream = config.stage == PricingStage::kPrice ? kPricingStream : kEventsStream;
  o.stage = config.stage;
  o.partition = static_cast<int32_t>(config.partition);
  o.partitions = static_cast<int32_t>(config.partitions);
  return o;
}

// The durable a stage reads: the configured name, or that name with the stage's suffix.
std::string DurableOf(const Config& config) {
  switch (config.stage) {
    case PricingStage::kCount:
      // The split in the name: another split reads other subjects, with a new durable.
      return config.consumer.durable + "-p" + std::to_string(config.partition) + "of" +
             std::to_string(config.partitions);
    case PricingStage::kPrice:
      return config.consumer.durable + "-price";
    case PricingStage::kWhole:
      break;
  }
  return config.consumer.durable;
}

std::vector<std::string> DurableFiltersOf(const Config& config) {
  if (config.stage == PricingStage::kPrice) return {"pricing.partial.>"};
  if (config.stage != PricingStage::kCount || config.partitions == 1) return {"location.>"};
  // LOCATION_EVENTS stores location.<kind>.<city>.<id> as ...<city>.<partition>
  // (config.cc): a partition's own, and the three-token subjects every partition reads.
  std::vector<std::string> filters = {"location.*.*",
                                      "location.*.*." + std::to_string(config.partition)};
  // Subjects of any other shape are partition 0's to dead-letter.
  if (config.partition == 0) {
    filters.push_back("location.*");
    filters.push_back("location.*.*.*.>");
  }
  return filters;
}

}  // namespace

InputRecord JetStreamRecord(natsMsg* m, const PullConsumer::Meta& meta) {
  InputRecord r;
  r.subject = natsMsg_GetSubject(m);
  r.payload = MsgData(m);
  r.position.seq = meta.seq;
  r.stored_ms = meta.timestamp_ms;
  r.delivered = meta.delivered;
  r.pending = meta.pending;
  r.token = reinterpret_cast<uintptr_t>(m);
  r.read_headers = &HeadersOf;
  r.source = m;
  return r;
}

void LiveProcessor::StoredQueue::Push(uint64_t publish, bool stored) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.emplace_back(publish, stored);
}

void LiveProcessor::StoredQueue::Drain(std::vector<std::pair<uint64_t, bool>>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  out->swap(queue_);
}

LiveProcessor::LiveProcessor(const Config& config, const Clock& clock)
    : config_(config),
      clock_(clock),
      engine_(config.engine(), clock),
      metrics_(MetricsOptions{config.http.zone_metrics,
                              static_cast<std::size_t>(config.http.max_zone_metrics)}),
      listener_(metrics_),
      operator_(engine_, OptionsOf(config), &listener_),
      publisher_(config.publish.ack_wait_ms),
      health_(config, clock, metrics_),
      held_ticks_(metrics_, health_),
      input_stream_(config.stage == PricingStage::kPrice ? kPricingStream : kEventsStream),
      input_filter_(config.stage == PricingStage::kPrice ? "pricing.partial.>" : "location.>"),
      durable_filters_(DurableFiltersOf(config)),
      durable_(DurableOf(config)) {
  metrics_.AddScrapeHook([this] {
    const JsPublisher::Stats& s = publisher_.stats();
    metrics_.PublishTotals(s.acked, s.errors, s.retries, s.duplicates, s.failed,
                           publisher_.in_flight());
    listener_.CopyTotals(operator_);
  });
}

LiveProcessor::~LiveProcessor() {
  health_.Stop();
  // Subscriptions first, while the connection can still unsubscribe them.
  held_.clear();
  in_hand_.clear();
  puller_.reset();
  configs_.reset();
  client_.reset();
}

void LiveProcessor::Connect(const std::atomic<bool>& stop) {
  NatsSettings settings;
  settings.urls = config_.nats_url;
  settings.auth = config_.nats_auth;
  settings.name = "pricing-processor";
  settings.send_asap = config_.nats_send_asap;
  settings.publish_max_pending = config_.publish.max_pending;
  settings.ack_handler = &JsPublisher::AckHandler;
  settings.ack_handler_closure = &publisher_;
  settings.connect_wait_ms = config_.nats_connect_wait_seconds * 1000;
  settings.stop = &stop;
  client_ = NatsClient::Connect(settings);
  publisher_.Attach(client_->js());
  client_->WaitForJetStream(60000);
  for (const auto& r : ApplyStreamsWhenReady(client_->connection(), config_.streams, 60000)) {
    const std::string_view action = ToString(r.action);
    std::string changes;
    for (const auto& c : r.changes) changes += "; " + c;
    PRICING_LOG(kInfo) << "stream " << r.name << ": " << action << changes;
  }
}

void LiveProcessor::OpenConsumers() {
  GroupConsumerSpec spec;
  spec.stream = input_stream_;
  spec.durable = durable_;
  spec.filter_subjects = durable_filters_;
  spec.group = kGroup;
  spec.ack_wait_ms = config_.consumer.ack_wait_seconds * 1000;
  spec.max_ack_pending = config_.consumer.max_ack_pending;
  spec.max_deliver = config_.consumer.max_deliver;
  spec.priority_timeout_ms = config_.consumer.takeover_after_seconds * 1000;
  // A new durable starts with the events that can still count: the window of the tick
  // after the checkpoint (restored before this), less the future skew.
  spec.start_ms = operator_.RebuildFromMs();
  const GroupConsumerResult r = EnsureGroupConsumer(client_->connection(), client_->js(), spec);
  replaced_ = r.replaced;
  const char* how = r.action == GroupConsumerResult::Action::kCreated ? "created"
                    : r.action == GroupConsumerResult::Action::kBound ? "bound existing"
                                                                      : "replaced";
  PRICING_LOG(kInfo) << how << " durable consumer " << durable_ << " (priority group " << kGroup
                     << ", takeover after " << r.priority_timeout_ms / 1000.0
                     << " s without pulls)";
  if (r.priority_timeout_ms != spec.priority_timeout_ms) {
    PRICING_LOG(kWarn) << "consumer.takeover_after_seconds is "
                       << config_.consumer.takeover_after_seconds << " but the durable " << durable_
                       << " was made with " << r.priority_timeout_ms / 1000.0
                       << " s, which applies";
  }
  puller_ = std::make_unique<PullConsumer>(client_->connection(), input_stream_, durable_);
  puller_->JoinGroup(kGroup);
}

std::string LiveProcessor::PinHolder() {
  try {
    return PinnedClientId(client_->connection(), input_stream_, durable_, kGroup);
  } catch (const NatsError& e) {
    PRICING_LOG(kDebug) << "cannot read who is pinned: " << e.what();
    return "?";
  }
}

bool LiveProcessor::StandBy(const std::atomic<bool>& stop) {
  std::string holder = PinHolder();
  if (holder.empty()) return true;  // nobody: go ahead, the first event pins one of us
  const std::string what = std::string(input_stream_) + "/" + durable_;
  const std::string detail = "standby: another processor is pinned to " + what +
                             "; taking over once it has not pulled for " +
                             std::to_string(config_.consumer.takeover_after_seconds) + " s";
  health_.SetRole(Role::kStandby, detail);
  PRICING_LOG(kInfo) << detail << " (pin " << holder << ")";
  int64_t checked = clock_.NowMs();
  while (!stop.load()) {
    health_.Beat();
    puller_->FetchEach(static_cast<int>(config_.consumer.batch), 500,
                       [&](NatsPtr<natsMsg>& m) { in_hand_.push_back(std::move(m)); });
    if (puller_->pinned()) {
      PRICING_LOG(kInfo) << "taking over " << what << ": pinned (pin " << puller_->pin_id()
                         << ", the previous " << holder << ")";
      return true;
    }
    const int64_t now = clock_.NowMs();
    if (now - checked >= 1000) {
      checked = now;
      holder = PinHolder();
      if (holder.empty()) {
        PRICING_LOG(kInfo) << "taking over " << what << ": nobody is pinned any more";
        return true;
      }
    }
  }
  return false;
}

void LiveProcessor::KeepPin() {
  if (!puller_->pinned()) return;
  const int64_t now = clock_.NowMs();
  if (now - last_keep_pin_ms_ < 1000) return;
  last_keep_pin_ms_ = now;
  puller_->KeepPinned();
}

bool LiveProcessor::AnotherPinned() {
  if (puller_->pinned()) return false;
  const int64_t now = clock_.NowMs();
  if (now - last_pin_check_ms_ < 1000) return false;
  last_pin_check_ms_ = now;
  const std::string holder = PinHolder();
  if (holder.empty() || holder == "?") {
    suspected_holder_.clear();
    return false;
  }
  // The same pin a second later, still not this processor's: the first message of a pin
  // the server gave this one may have been on its way at the first look.
  if (holder == suspected_holder_) return true;
  suspected_holder_ = holder;
  return false;
}

void LiveProcessor::RestoreConfigs() {
  configs_ = client_->ReadOrdered("CONFIG_UPDATES", "config.pricing.>", 0,
                                  "subscribing to config.pricing.>");
  const StreamState state = GetStreamState(client_->js(), "CONFIG_UPDATES");
  config_history_seq_ = state.last_seq;
  // Documents up to the last one answered were answered by an earlier run; later ones,
  // published while no processor ran, are answered now.
  for (const auto& [key, engine] : engine_.cities()) {
    natsMsg* raw_msg = nullptr;
    jsErrCode jerr2 = static_cast<jsErrCode>(0);
    const std::string subject = "config.applied." + key;
    if (js_GetLastMsg(&raw_msg, client_->js(), "CONFIG_UPDATES", subject.c_str(), nullptr,
                      &jerr2) == NATS_OK) {
      NatsPtr<natsMsg> last(raw_msg);
      const char* seq = nullptr;
      if (natsMsgHeader_Get(last.get(), "Pricing-Config-Seq", &seq) == NATS_OK && seq != nullptr) {
        operator_.SetAnswered(key, std::stoull(seq));
      }
    }
  }
  if (config_history_seq_ > 0) PollConfigUpdates(false);
}

void LiveProcessor::PollConfigUpdates(bool live) {
  if (!configs_) return;  // stage 1: no configuration to follow
  while (true) {
    natsMsg* raw = nullptr;
    // At start-up, wait for the history to arrive; afterwards only take what is there.
    const int64_t wait = live ? 0 : 500;
    if (!live) KeepPin();
    if (natsSubscription_NextMsg(&raw, configs_.get(), wait) != NATS_OK) return;
    NatsPtr<natsMsg> msg(raw);
    const PullConsumer::Meta meta = PullConsumer::MetaOf(msg.get());
    operator_.OnConfig(natsMsg_GetSubject(msg.get()), MsgData(msg.get()), meta.seq, &actions_);
    Execute(nullptr);
    if (!live && meta.seq >= config_history_seq_) return;
  }
}

void LiveProcessor::RestoreCheckpoints() {
  for (const auto& [key, engine] : engine_.cities()) {
    natsMsg* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const std::string subject = CheckpointSubject(
        key, config_.stage == PricingStage::kCount ? static_cast<int32_t>(config_.partition) : -1);
    // A cluster without a quorum (or electing a leader) answers "not now": wait for it,
    // as start-up waits for JetStream, rather than give up (a processor starting again
    // as a standby can meet one).
    const int64_t deadline = SteadyNowMs() + 60000;
    natsStatus s = NATS_OK;
    while (true) {
      jerr = static_cast<jsErrCode>(0);
      s = js_GetLastMsg(&raw, client_->js(), kPricingStream, subject.c_str(), nullptr, &jerr);
      if (s == NATS_OK || s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr ||
          !IsRetryable(s, jerr) || SteadyNowMs() > deadline) {
        break;
      }
      PRICING_LOG(kWarn) << "reading checkpoint " << subject << ": the cluster is not ready ("
                         << natsStatus_GetText(s) << "); retrying";
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    NatsPtr<natsMsg> msg(raw);
    if (s != NATS_OK && s != NATS_NOT_FOUND && jerr != JSNoMessageFoundErr) {
      CheckNats(s, "reading checkpoint " + subject, jerr);
    }
    operator_.Restore(
        key, s == NATS_OK ? std::optional<std::string_view>(MsgData(msg.get())) : std::nullopt,
        clock_.NowMs());
  }
}

void LiveProcessor::Rebuild() {
  // Events the durable delivered to an earlier run may or may not have been applied
  // there: they are read again here, into the window, and only acknowledged when the
  // durable redelivers them. Everything after comes from the durable itself.
  const ConsumerState consumer = GetConsumerState(client_->js(), input_stream_, durable_);
  // A durable made again (stream_admin.h) starts at the old one's acknowledged floor:
  // what the old one had delivered beyond is read here as well.
  const uint64_t delivered =
      std::max(consumer.delivered_stream_seq, replaced_.delivered_stream_seq);
  operator_.BeginRebuild({consumer.ack_floor_stream_seq, -1});
  consumer_seq_at_start_ = consumer.delivered_consumer_seq;
  uint64_t count = 0;
  if (delivered > 0) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = input_stream_;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartTime;
    so.Config.OptStartTime = operator_.RebuildFromMs() * kNsPerMs;
    natsSubscription* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    CheckNats(js_SubscribeSync(&raw, client_->js(), input_filter_.c_str(), nullptr, &so, &jerr),
              "rebuild consumer", jerr);
    Subscription sub(client_->connection(), raw);
    while (operator_.max_applied_seq() < delivered) {
      KeepPin();
      natsMsg* m = nullptr;
      if (natsSubscription_NextMsg(&m, sub.get(), 3000) != NATS_OK)
        break;  // nothing newer than the start
      NatsPtr<natsMsg> msg(m);
      const PullConsumer::Meta meta = PullConsumer::MetaOf(msg.get());
      if (meta.seq > delivered) break;  // the durable's part
      operator_.Rebuild(JetStreamRecord(msg.get(), meta), clock_.NowMs(), &actions_);
      Execute(nullptr);
      ++count;
    }
  }
  for (const auto& [key, engine] : engine_.cities()) {
    PRICING_LOG(kInfo) << "city " << key << ": next tick " << FormatUtc(engine->next_tick());
  }
  PRICING_LOG(kInfo) << "re-read " << count
                     << " events delivered to an earlier run, up to sequence "
                     << operator_.max_applied_seq();
}

void LiveProcessor::Handle(NatsPtr<natsMsg>& msg, bool* more_waiting) {
  if (stale_) return;  // left unacknowledged: the processor that is active has it again
  const PullConsumer::Meta meta = PullConsumer::MetaOf(msg.get());
  *more_waiting = meta.pending > 0;
  max_consumer_seq_read_ = std::max(max_consumer_seq_read_, meta.consumer_seq);
  const Disposition d =
      operator_.OnInput(JetStreamRecord(msg.get(), meta), clock_.NowMs(), &actions_);
  Execute(msg.get());
  // Its ack waits for its dead letter: the message lives until then.
  if (d == Disposition::kHeld) {
    natsMsg* raw = msg.release();
    held_.emplace(reinterpret_cast<uintptr_t>(raw), NatsPtr<natsMsg>(raw));
  }
}

void LiveProcessor::Execute(natsMsg* current) {
  for (Action& a : actions_) {
    switch (a.kind) {
      case Action::Kind::kAck:
      case Action::Kind::kNak: {
        natsMsg* m = nullptr;
        NatsPtr<natsMsg> held;
        if (current != nullptr && a.token == reinterpret_cast<uintptr_t>(current)) {
          m = current;
        } else if (auto it = held_.find(a.token); it != held_.end()) {
          held = std::move(it->second);
          held_.erase(it);
          m = held.get();
        }
        if (m == nullptr) break;  // a rebuild input: the durable delivers it again
        if (a.kind == Action::Kind::kAck) {
          PullConsumer::Ack(client_->connection(), m);
        } else {
          PullConsumer::Nak(client_->connection(), m, a.delay_ms);
        }
        break;
      }
      case Action::Kind::kPublish: {
        const uint64_t id = a.publish;
        std::weak_ptr<StoredQueue> queue = stored_;
        publisher_.Publish(
            a.subject, a.msg_id, a.payload, a.headers,
            [queue, id] {
              if (auto q = queue.lock()) q->Push(id, true);
            },
            [queue, id] {
              if (auto q = queue.lock()) q->Push(id, false);
            });
        break;
      }
    }
  }
  actions_.clear();
}

void LiveProcessor::ReportPublishes() {
  stored_->Drain(&reported_);
  if (reported_.empty()) return;
  const int64_t now = clock_.NowMs();
  for (const auto& [id, stored] : reported_) {
    if (stored) {
      operator_.OnStored(id, now, &actions_);
    } else {
      operator_.OnFailed(id, &actions_);
    }
  }
  Execute(nullptr);
}

bool LiveProcessor::InputsOutstanding() {
  try {
    const ConsumerState c = GetConsumerState(client_->js(), input_stream_, durable_);
    // Not yet delivered, or delivered (to a pull that had just expired, say) but not yet
    // read here: the consumer numbers its deliveries, redeliveries included, so one it
    // made beyond the last read here (or, before any, beyond the earlier run's) is on
    // its way. A delivery lost with a connection comes again after the ack wait. (Its
    // delivered stream sequence would not do: a durable that filters part of the stream
    // moves it past the messages it skips.)
    return c.num_pending > 0 ||
           c.delivered_consumer_seq > std::max(max_consumer_seq_read_, consumer_seq_at_start_);
  } catch (const NatsError& e) {
    // Cannot tell (an election, a lost connection): wait rather than close early.
    WarnTicksWait("the consumer's", e);
    return true;
  }
}

void LiveProcessor::WarnTicksWait(const char* whose, const NatsError& e) {
  const int64_t now = clock_.NowMs();
  if (now - last_state_warning_ms_ < 5000) return;
  last_state_warning_ms_ = now;
  PRICING_LOG(kWarn) << "ticks wait: cannot read " << whose << " state: " << e.what();
}

bool LiveProcessor::StoredEventsRead() {
  const int64_t due = engine_.NextCloseMs();
  if (barrier_close_ms_ != due) {
    try {
      if (durable_filters_.size() == 1) {
        barrier_seq_ = GetStreamState(client_->js(), input_stream_).last_seq;
      } else {
        // Only its own subjects reach this durable: the last of those.
        barrier_seq_ = 0;
        for (const std::string& f : durable_filters_) {
          barrier_seq_ = std::max(barrier_seq_, LastSeqOf(client_->connection(), input_stream_, f));
        }
      }
      barrier_close_ms_ = due;
    } catch (const NatsError& e) {
      WarnTicksWait("the stream's", e);
      return false;
    }
  }
  return operator_.max_read_seq() >= barrier_seq_;
}

void LiveProcessor::Run(const std::atomic<bool>& stop) {
  Connect(stop);
  HealthMonitor::LastTicks last_ticks;
  for (const auto& [key, engine] : engine_.cities())
    last_ticks.emplace_back(key, &operator_.city_counters(key)->last_stored_tick);
  health_.Start(
      std::make_unique<NatsHealthProbe>(config_, *client_, metrics_, input_stream_, durable_),
      std::move(last_ticks));
  // The checkpoint first: a new durable starts where it needs events from.
  RestoreCheckpoints();
  OpenConsumers();
  if (!StandBy(stop)) {
    PRICING_LOG(kInfo) << "stopping: was standing by";
    health_.Stop();
    return;
  }
  health_.SetRole(Role::kActive, "");
  // Whatever the processor before this one did meanwhile: its last checkpoint, and the
  // window after it.
  // Stage 1 only counts: the model, and so CONFIG_UPDATES, are stage 2's.
  if (config_.stage != PricingStage::kCount) RestoreConfigs();
  RestoreCheckpoints();
  Rebuild();
  if (config_.stage == PricingStage::kPrice) health_.SetPartitionsHolding("");
  std::string filters;
  for (const std::string& f : durable_filters_) filters += (filters.empty() ? "" : " ") + f;
  PRICING_LOG(kInfo) << "processing " << input_stream_ << " (" << filters << ", stage "
                     << ToString(config_.stage)
                     << (config_.stage == PricingStage::kCount
                             ? " of partition " + std::to_string(config_.partition) + "/" +
                                   std::to_string(config_.partitions)
                             : std::string())
                     << ") with durable consumer " << durable_
                     << (puller_->pinned() ? " (active: pinned)"
                                           : " (active: nobody is pinned yet; the first event "
                                             "pins this processor or another)");

  bool backlog = false;  // more events were waiting behind the last batch
  // The events the pull that pinned this processor brought (the rebuild re-read them:
  // they are acknowledged now, as redeliveries).
  for (NatsPtr<natsMsg>& m : in_hand_) Handle(m, &backlog);
  in_hand_.clear();
  health_.Processing();
  bool was_pinned = puller_->pinned();
  while (!stop.load()) {
    const int64_t now = clock_.NowMs();
    health_.Beat();
    // Idle, the pull waits no longer than the next tick's close (but at least a round
    // trip, or it reports "nothing" while a backlog waits). Reading a backlog, it waits
    // the full time: data is there and a short expiry only cuts batches short.
    const int64_t wait = backlog ? config_.consumer.fetch_wait_ms
                                 : std::clamp<int64_t>(engine_.NextCloseMs() - now, 10,
                                                       config_.consumer.fetch_wait_ms);
    // Each event is handled as it arrives, while the rest of the batch is on its way.
    backlog = false;
    const int handled = puller_->FetchEach(static_cast<int>(config_.consumer.batch), wait,
                                           [&](NatsPtr<natsMsg>& m) { Handle(m, &backlog); });
    if (puller_->TakePinLost()) {
      // The server moved the pin: this processor was silent past the timeout (frozen,
      // cut off), or the consumer's leader changed and did not keep it. Only another
      // processor holding it, or having been given events meanwhile, makes this one's
      // state stale; otherwise the next event pins this one again.
      const std::string holder = PinHolder();
      if (!holder.empty() && holder != "?") {
        stale_ = true;
      } else {
        PRICING_LOG(kWarn) << "lost the pin of " << input_stream_ << "/" << durable_
                           << " (a consumer leader change, or no pull for "
                           << config_.consumer.takeover_after_seconds
                           << " s); nobody holds it: going on, to be pinned again";
        was_pinned = false;
      }
    }
    if (stale_ || AnotherPinned()) {
      // Another processor restores the checkpoint and goes on. Nothing here may be
      // published any more; the pending publishes are the new active one's to make.
      PRICING_LOG(kWarn) << "another processor is active on " << input_stream_ << "/" << durable_
                         << ": dropping this run's state to stand by";
      demoted_ = true;
      health_.Stop();
      return;
    }
    if (!was_pinned && puller_->pinned()) {
      was_pinned = true;
      PRICING_LOG(kInfo) << "pinned to " << input_stream_ << "/" << durable_ << " (pin "
                         << puller_->pin_id() << ")";
    }
    ReportPublishes();
    // One reading of the clock for the check and the close: a tick that fell due in
    // between would close unchecked.
    const int64_t checked_at = clock_.NowMs();
    bool caught_up = !backlog;
    if (caught_up && operator_.TickDue(checked_at)) {
      // A tick is due: close it only once nothing stored before its time is still on
      // its way to us, or it would miss those events.
      caught_up = StoredEventsRead() && !(handled == 0 && InputsOutstanding());
      backlog = !caught_up;
      PRICING_LOG(kDebug) << "tick due: read through seq " << operator_.max_read_seq()
                          << ", the stream at seq " << barrier_seq_ << ", " << handled
                          << " handled in the last fetch: " << (caught_up ? "closing" : "waiting");
    }
    PollConfigUpdates(true);
    if (config_.stage == PricingStage::kPrice) held_ticks_.Report(operator_, clock_.NowMs());
    // With a backlog still waiting, ticks wait for it (the operator closed what it could).
    operator_.OnTime(checked_at, caught_up, &actions_);
    Execute(nullptr);
    publisher_.Pump();
  }
  PRICING_LOG(kInfo) << "stopping: flushing " << publisher_.in_flight() << " publishes";
  const bool flushed = publisher_.Flush(15000);
  // Stored outputs may complete ticks (their checkpoints follow) and dead letters (their
  // inputs are acknowledged).
  ReportPublishes();
  publisher_.Flush(5000);
  ReportPublishes();
  PRICING_LOG(kInfo) << (flushed ? "all publishes stored"
                                 : "some publishes were not acknowledged in time");
  if (puller_->pinned()) {
    // A standby takes over now rather than after the timeout.
    try {
      UnpinGroup(client_->connection(), input_stream_, durable_, kGroup);
      PRICING_LOG(kInfo) << "released the pin: a standby takes over at once";
    } catch (const NatsError& e) {
      PRICING_LOG(kWarn) << "could not release the pin (a standby takes over after "
                         << config_.consumer.takeover_after_seconds << " s): " << e.what();
    }
  }
  health_.Stop();
}

}  // namespace pricing
