#include "live/live_processor.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "common/log.h"
#include "engine/config_update.h"
#include "engine/outputs.h"
#include "events/subject.h"
#include "replay/replay.h"
#include "transport/pull_consumer.h"
#include "transport/stream_admin.h"

namespace pricing {
namespace {

constexpr const char* kEventsStream = "LOCATION_EVENTS";
constexpr const char* kPricingStream = "PRICING_UPDATES";
constexpr int64_t kNsPerMs = 1'000'000;

std::string CheckpointSubject(std::string_view city) {
  return "pricing.state." + std::string(city);
}

std::string_view Data(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))};
}

JsPublisher::Headers HeadersOf(natsMsg* m) {
  JsPublisher::Headers out;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(m, &keys, &count) != NATS_OK) return out;
  for (int i = 0; i < count; ++i) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(m, keys[i], &value) == NATS_OK && value != nullptr) {
      out.emplace_back(keys[i], value);
    }
  }
  free(static_cast<void*>(keys));
  return out;
}

}  // namespace

LiveProcessor::LiveProcessor(const Config& config, const Clock& clock)
    : config_(config),
      clock_(clock),
      engine_(config, clock),
      publisher_(config.publish.ack_wait_ms),
      failpoint_ingest_(std::getenv("PRICING_FAILPOINT_INGEST") != nullptr
                            ? std::getenv("PRICING_FAILPOINT_INGEST")
                            : ""),
      metrics_(MetricsOptions{config.http.zone_metrics,
                              static_cast<std::size_t>(config.http.max_zone_metrics)}),
      started_ms_(clock.NowMs()) {
  if (!failpoint_ingest_.empty()) {
    PRICING_LOG(kWarn) << "FAULT INJECTION ON: events containing '" << failpoint_ingest_
                       << "' fail to be handled (PRICING_FAILPOINT_INGEST)";
  }
  for (const auto& [key, engine] : engine_.cities()) {
    last_tick_end_[key] = 0;
    event_ts_[key];
  }
  metrics_.AddScrapeHook([this] {
    const JsPublisher::Stats& s = publisher_.stats();
    metrics_.PublishTotals(s.acked, s.errors, s.retries, s.duplicates, s.failed,
                           publisher_.in_flight());
  });
}

LiveProcessor::~LiveProcessor() {
  StopMonitor();
  // Subscriptions first, while the connection can still unsubscribe them.
  puller_.reset();
  configs_.reset();
  events_.reset();
  client_.reset();
}

void LiveProcessor::Connect() {
  NatsSettings settings;
  settings.urls = config_.nats_url;
  settings.auth = config_.nats_auth;
  settings.name = "pricing-processor";
  settings.send_asap = config_.nats_send_asap;
  settings.publish_max_pending = config_.publish.max_pending;
  settings.ack_handler = &JsPublisher::AckHandler;
  settings.ack_handler_closure = &publisher_;
  client_ = NatsClient::Connect(settings, 60000);
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
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = kEventsStream;
  bool exists = true;
  try {
    GetConsumerState(client_->js(), kEventsStream, config_.consumer.durable);
  } catch (const NatsError& e) {
    if (e.js_code() != JSConsumerNotFoundErr && e.status() != NATS_NOT_FOUND) throw;
    exists = false;
  }
  if (exists) {
    // An existing durable resumes where it was, with the settings it was created with.
    so.Consumer = config_.consumer.durable.c_str();
  } else {
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = config_.consumer.ack_wait_seconds * 1000 * kNsPerMs;
    so.Config.MaxAckPending = config_.consumer.max_ack_pending;
    so.Config.MaxDeliver = config_.consumer.max_deliver;
    // It starts with the events that can still count: the window of the next tick,
    // less the future skew.
    so.Config.DeliverPolicy = js_DeliverByStartTime;
    so.Config.OptStartTime = RebuildFromMs() * kNsPerMs;
  }
  natsSubscription* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  CheckNats(js_PullSubscribe(&raw, client_->js(), "location.>", config_.consumer.durable.c_str(),
                             nullptr, &so, &jerr),
            (exists ? "binding durable consumer " : "creating durable consumer ") +
                config_.consumer.durable,
            jerr);
  events_.reset(raw);
  // The subscription above creates or binds the durable; messages are pulled with
  // explicit requests (see pull_consumer.h).
  puller_ = std::make_unique<PullConsumer>(client_->connection(), kEventsStream,
                                           config_.consumer.durable);
  PRICING_LOG(kInfo) << (exists ? "bound existing" : "created") << " durable consumer "
                     << config_.consumer.durable;
}

void LiveProcessor::RestoreConfigs() {
  // Every stored document is validated again in order, which yields the same accepted
  // sequence as the run that first answered them.
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = "CONFIG_UPDATES";
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  CheckNats(js_SubscribeSync(&raw, client_->js(), "config.pricing.>", nullptr, &so, &jerr),
            "subscribing to config.pricing.>", jerr);
  configs_ = Subscription(client_->connection(), raw);
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
        answered_through_[key] = std::stoull(seq);
      }
    }
  }
  if (config_history_seq_ > 0) PollConfigUpdates(false);
}

void LiveProcessor::PollConfigUpdates(bool live) {
  while (true) {
    natsMsg* raw = nullptr;
    // At start-up, wait for the history to arrive; afterwards only take what is there.
    const int64_t wait = live ? 0 : 500;
    if (natsSubscription_NextMsg(&raw, configs_.get(), wait) != NATS_OK) return;
    NatsPtr<natsMsg> msg(raw);
    const PullConsumer::Meta meta = PullConsumer::MetaOf(msg.get());
    ApplyConfigDocument(natsMsg_GetSubject(msg.get()), Data(msg.get()), meta.seq);
    if (!live && meta.seq >= config_history_seq_) return;
  }
}

void LiveProcessor::ApplyConfigDocument(std::string_view subject, std::string_view payload,
                                        uint64_t seq) {
  constexpr std::string_view kPrefix = "config.pricing.";
  const std::string_view city = subject.substr(kPrefix.size());
  CityEngine* engine = engine_.city(city);
  if (engine == nullptr) {
    PRICING_LOG(kWarn) << "config update for unknown city '" << city << "' ignored";
    return;
  }
  const ConfigUpdate update =
      ParseConfigUpdate(payload, engine->model().params(), engine->model().overrides(),
                        engine->config_version(), engine->zones());
  if (update.ok()) {
    engine->Reconfigure(update.params, update.overrides, update.version);
    ++counters_.configs_applied;
    metrics_.ConfigUpdate(std::string(city), true);
    PRICING_LOG(kInfo) << "config " << city << " version " << update.version
                       << " applied from the next tick";
  } else {
    ++counters_.configs_refused;
    metrics_.ConfigUpdate(std::string(city), false);
    PRICING_LOG(kWarn) << "config " << city << " version " << update.version
                       << " refused: " << update.error;
  }
  const auto answered = answered_through_.find(city);
  if (answered == answered_through_.end() || seq > answered->second) {
    const std::string subject_out = "config.applied." + std::string(city);
    // One answer per document: its id is the document's stream sequence.
    publisher_.Publish(subject_out, std::string(city) + ":applied:" + std::to_string(seq),
                       EncodeConfigAnswer(update), {{"Pricing-Config-Seq", std::to_string(seq)}});
  }
}

void LiveProcessor::RestoreCheckpoints() {
  for (const auto& [key, engine] : engine_.cities()) {
    natsMsg* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const std::string subject = CheckpointSubject(key);
    const natsStatus s =
        js_GetLastMsg(&raw, client_->js(), kPricingStream, subject.c_str(), nullptr, &jerr);
    NatsPtr<natsMsg> msg(raw);
    if (s == NATS_OK) {
      const int64_t interval = config_.interval_ms();
      const int64_t now = clock_.NowMs();
      const std::string error =
          engine->RestoreCheckpoint(Data(msg.get()), now - config_.max_catch_up_seconds * 1000,
                                    (FloorDiv(now, interval) + 1) * interval);
      if (error.empty()) {
        PRICING_LOG(kInfo) << "city " << key << ": restored checkpoint; next tick "
                           << FormatUtc(engine->next_tick());
        continue;
      }
      PRICING_LOG(kWarn) << "city " << key << ": ignoring checkpoint: " << error;
    } else if (s != NATS_NOT_FOUND && jerr != JSNoMessageFoundErr) {
      CheckNats(s, "reading checkpoint " + subject, jerr);
    }
    // No checkpoint: the first tick is the next one. Events of its window (stored
    // before the start too) count; older ones are late, as for a processor that had
    // been running. No ticks before the start are invented.
    const int64_t interval = config_.interval_ms();
    engine->StartAt((FloorDiv(clock_.NowMs(), interval) + 1) * interval);
    PRICING_LOG(kInfo) << "city " << key << ": no checkpoint; starting at the next tick";
  }
}

int64_t LiveProcessor::RebuildFromMs() const {
  int64_t from_ms = INT64_MAX;
  for (const auto& [key, engine] : engine_.cities())
    from_ms = std::min(from_ms, engine->window().late_before());
  // Events may be stored before their ts by up to the future skew.
  return from_ms - config_.max_future_skew_ms - 1000;
}

void LiveProcessor::Rebuild() {
  // Events the durable delivered to an earlier run may or may not have been applied
  // there: they are read again here, into the window, and only acknowledged when the
  // durable redelivers them. Everything after comes from the durable itself.
  const ConsumerState consumer =
      GetConsumerState(client_->js(), kEventsStream, config_.consumer.durable);
  rebuild_unhandled_after_ = consumer.ack_floor_stream_seq;
  delivered_at_start_ = consumer.delivered_stream_seq;
  uint64_t count = 0;
  if (consumer.delivered_stream_seq > 0) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = kEventsStream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartTime;
    so.Config.OptStartTime = RebuildFromMs() * kNsPerMs;
    natsSubscription* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    CheckNats(js_SubscribeSync(&raw, client_->js(), "location.>", nullptr, &so, &jerr),
              "rebuild consumer", jerr);
    Subscription sub(client_->connection(), raw);
    while (max_applied_seq_ < consumer.delivered_stream_seq) {
      natsMsg* m = nullptr;
      if (natsSubscription_NextMsg(&m, sub.get(), 3000) != NATS_OK)
        break;  // nothing newer than the start
      NatsPtr<natsMsg> msg(m);
      if (PullConsumer::MetaOf(msg.get()).seq > consumer.delivered_stream_seq)
        break;  // the durable's part
      HandleInput(msg, clock_.NowMs(), true);
      ++count;
    }
  }
  for (const auto& [key, engine] : engine_.cities()) {
    PRICING_LOG(kInfo) << "city " << key << ": next tick " << FormatUtc(engine->next_tick());
  }
  PRICING_LOG(kInfo) << "re-read " << count
                     << " events delivered to an earlier run, up to sequence " << max_applied_seq_;
}

bool LiveProcessor::HandleInput(NatsPtr<natsMsg>& msg, int64_t now_ms, bool rebuilding) {
  const PullConsumer::Meta meta = PullConsumer::MetaOf(msg.get());
  const bool more_waiting = meta.pending > 0;
  max_read_seq_ = std::max(max_read_seq_, meta.seq);
  if (meta.seq != 0 && meta.seq <= max_applied_seq_ && !failed_seqs_.contains(meta.seq)) {
    // Applied already (during the rebuild, or before a lost ack): acknowledge only.
    if (!rebuilding) PullConsumer::Ack(client_->connection(), msg.get());
    ++counters_.events_skipped;
    if (!rebuilding) metrics_.RedeliverySkipped();
    return more_waiting;
  }
  // Reading a backlog (events re-read, or more waiting behind this one), time is the
  // stream's arrival time: ticks close as they did, or would have, live. Otherwise the
  // wall clock.
  if (rebuilding || more_waiting) {
    now_ms = std::min(now_ms, meta.timestamp_ms);
    CloseTicks(now_ms);
  }
  IngestOutcome outcome;
  try {
    if (!failpoint_ingest_.empty() &&
        Data(msg.get()).find(failpoint_ingest_) != std::string_view::npos) {
      throw std::runtime_error("fault injected by PRICING_FAILPOINT_INGEST");
    }
    outcome = engine_.Ingest(natsMsg_GetSubject(msg.get()), Data(msg.get()), meta.seq, now_ms);
  } catch (const std::exception& e) {
    HandlingFailed(std::move(msg), meta.seq, meta.delivered, rebuilding, e.what());
    return more_waiting;
  }
  if (!failed_seqs_.empty()) failed_seqs_.erase(meta.seq);
  max_applied_seq_ = std::max(max_applied_seq_, meta.seq);
  // Re-read events were counted by the run that first read them.
  if (!rebuilding) metrics_.EventRead(outcome.city, outcome.kind);
  if (outcome.ok()) {
    if (!rebuilding) ++counters_.events_applied;
    if (!rebuilding && outcome.ts) {
      // The first tick whose window [T - W, T) holds it, or the next to close.
      const CityEngine* engine = engine_.city(outcome.city);
      const int64_t interval = config_.interval_ms();
      const int64_t first =
          std::max((FloorDiv(*outcome.ts, interval) + 1) * interval, engine->next_tick());
      auto it = event_ts_.find(outcome.city);
      if (it != event_ts_.end()) it->second[first].push_back(*outcome.ts);
    }
    if (!rebuilding) PullConsumer::Ack(client_->connection(), msg.get());
    return more_waiting;
  }
  if (!rebuilding) ++counters_.events_rejected;
  if (!rebuilding) metrics_.EventRejected(outcome.city, outcome.reason);
  if (!rebuilding) {
    DeadLetter(std::move(msg), outcome.city, ToString(outcome.reason), outcome.detail, meta.seq,
               true);
  } else if (meta.seq > rebuild_unhandled_after_) {
    // The durable redelivers it later and, finding it applied, only acknowledges it.
    DeadLetter(std::move(msg), outcome.city, ToString(outcome.reason), outcome.detail, meta.seq,
               false);
  }
  return more_waiting;
}

void LiveProcessor::HandlingFailed(NatsPtr<natsMsg> msg, uint64_t seq, uint64_t delivered,
                                   bool rebuilding, const char* what) {
  // Not applied: a redelivery must not be taken for an event already in the window.
  failed_seqs_.insert(seq);
  if (rebuilding) return;  // the durable delivers it again
  const bool last = delivered >= static_cast<uint64_t>(config_.consumer.max_deliver);
  metrics_.HandlingFailed(last);
  const std::string subject = natsMsg_GetSubject(msg.get());
  if (!last) {
    ++counters_.events_failed;
    // Backing off: one second more per delivery, so a passing fault can pass.
    const int64_t delay_ms = 1000 * static_cast<int64_t>(delivered);
    PRICING_LOG(kWarn) << "event seq " << seq << " on " << subject << ": handling failed (" << what
                       << "), delivery " << delivered << " of " << config_.consumer.max_deliver
                       << "; redelivery in " << delay_ms << " ms";
    PullConsumer::Nak(client_->connection(), msg.get(), delay_ms);
    return;
  }
  ++counters_.events_poison;
  failed_seqs_.erase(seq);
  PRICING_LOG(kError) << "event seq " << seq << " on " << subject << ": handling failed on all "
                      << delivered << " deliveries (" << what
                      << "); dead-lettered with reason poison";
  const auto parsed = ParseInputSubject(subject);
  const std::string detail =
      "handling failed on " + std::to_string(delivered) + " deliveries (max_deliver): " + what;
  DeadLetter(std::move(msg), parsed ? parsed->city : std::string_view(), "poison", detail, seq,
             true);
}

void LiveProcessor::DeadLetter(NatsPtr<natsMsg> input, std::string_view city,
                               std::string_view reason, std::string_view detail, uint64_t seq,
                               bool ack_when_stored) {
  JsPublisher::Headers headers = HeadersOf(input.get());
  std::string msg_id;
  for (const auto& [k, v] : headers) {
    if (k == "Nats-Msg-Id") msg_id = v;
  }
  std::erase_if(headers, [](const auto& kv) { return kv.first == "Nats-Msg-Id"; });
  if (msg_id.empty()) msg_id = std::string(kEventsStream) + ":" + std::to_string(seq);
  headers.emplace_back("Pricing-Reject-Reason", std::string(reason));
  headers.emplace_back("Pricing-Reject-Detail", std::string(detail));
  headers.emplace_back("Pricing-Original-Subject", natsMsg_GetSubject(input.get()));
  headers.emplace_back("Pricing-Stream-Seq", std::to_string(seq));
  const std::string payload(Data(input.get()));
  // The input is acknowledged only once its dead letter is stored: a crash in between
  // redelivers it instead of losing it. The message lives until then.
  std::shared_ptr<natsMsg> held(input.release(), NatsDeleter{});
  JsPublisher::OnStored on_stored;
  if (ack_when_stored)
    on_stored = [held, conn = client_->connection()] { PullConsumer::Ack(conn, held.get()); };
  publisher_.Publish(DeadLetterSubject(city), msg_id, payload, headers, std::move(on_stored));
  metrics_.DeadLettered(city);
}

void LiveProcessor::CloseTicks(int64_t watermark_ms) {
  if (watermark_ms < engine_.NextCloseMs()) return;  // the common case, once per event in a backlog
  for (TickResult& tick : engine_.AdvanceWatermark(watermark_ms)) {
    CityEngine* engine = engine_.city(tick.city);
    PRICING_LOG(kDebug) << "city " << tick.city << ": closing tick " << tick.tick
                        << " at watermark " << watermark_ms << " (wall clock " << clock_.NowMs()
                        << "), inputs seq " << tick.input_seqs.first << ".." << tick.input_seqs.last
                        << ", applied through seq " << max_applied_seq_;
    auto messages = EncodeTick(tick, engine->zones());
    // The checkpoint follows once every message of the tick is stored.
    auto remaining = std::make_shared<std::atomic<std::size_t>>(messages.size());
    auto checkpoint = std::make_shared<PendingCheckpoint>(
        PendingCheckpoint{tick.city, tick.tick, engine->EncodeCheckpoint(tick.tick), {}});
    if (auto it = event_ts_.find(tick.city); it != event_ts_.end()) {
      auto& by_tick = it->second;
      while (!by_tick.empty() && by_tick.begin()->first <= tick.tick) {
        auto& ts = by_tick.begin()->second;
        checkpoint->event_ts.insert(checkpoint->event_ts.end(), ts.begin(), ts.end());
        by_tick.erase(by_tick.begin());
      }
    }
    for (auto& m : messages) {
      publisher_.Publish(m.subject, m.msg_id, m.payload, {}, [this, remaining, checkpoint] {
        if (--*remaining == 0) {
          // Every update of the tick is stored: its events are published.
          const int64_t now = clock_.NowMs();
          for (const int64_t ts : checkpoint->event_ts)
            metrics_.EventToPublish(checkpoint->city, static_cast<double>(now - ts) / 1000.0);
          checkpoint->event_ts.clear();
          // Prices are fresh as of the last tick whose updates are all stored.
          std::atomic<int64_t>& last = last_tick_end_.find(checkpoint->city)->second;
          int64_t seen = last.load();
          while (seen < checkpoint->tick && !last.compare_exchange_weak(seen, checkpoint->tick)) {
          }
          std::lock_guard<std::mutex> lock(ready_mu_);
          ready_.push_back(*checkpoint);
        }
      });
    }
    ++counters_.ticks_closed;
    metrics_.Tick(tick, engine->zones());
  }
}

void LiveProcessor::PublishReadyCheckpoints() {
  std::vector<PendingCheckpoint> ready;
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    ready.swap(ready_);
  }
  for (const auto& c : ready) {
    publisher_.Publish(CheckpointSubject(c.city), c.city + ":state:" + std::to_string(c.tick),
                       c.payload);
    ++counters_.checkpoints;
    metrics_.Checkpointed();
  }
}

bool LiveProcessor::InputsOutstanding() {
  try {
    const ConsumerState c =
        GetConsumerState(client_->js(), kEventsStream, config_.consumer.durable);
    // Not yet delivered, or delivered (to a pull that had just expired, say) but not yet
    // read here. A delivery lost with a connection comes again after the ack wait.
    return c.num_pending > 0 ||
           c.delivered_stream_seq > std::max(max_applied_seq_, delivered_at_start_);
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
      barrier_seq_ = GetStreamState(client_->js(), kEventsStream).last_seq;
      barrier_close_ms_ = due;
    } catch (const NatsError& e) {
      WarnTicksWait("the stream's", e);
      return false;
    }
  }
  return max_read_seq_ >= barrier_seq_;
}

Readiness LiveProcessor::readiness() const {
  std::lock_guard<std::mutex> lock(readiness_mu_);
  Readiness r = readiness_;
  if (r.checks.empty()) {
    r.checks.push_back({"processing", false, "not evaluated yet"});
    return r;
  }
  // A round takes a few seconds at worst; an older result means the checks are stuck.
  const int64_t age_ms = clock_.NowMs() - r.evaluated_at_ms;
  if (age_ms > (2 * config_.health_check_interval_seconds + 10) * 1000) {
    r.ready = false;
    r.checks.push_back(
        {"evaluation", false, "last evaluated " + std::to_string(age_ms / 1000) + " s ago"});
  }
  return r;
}

bool LiveProcessor::alive() const {
  const int64_t since = processing_since_ms_.load();
  if (since == 0) return true;  // starting: connecting and recovering are bounded
  return clock_.NowMs() - loop_heartbeat_ms_.load() < kStallSeconds * 1000;
}

HealthSnapshot LiveProcessor::TakeSnapshot(jsCtx* js) {
  HealthSnapshot s;
  const int64_t now = clock_.NowMs();
  const int64_t since = processing_since_ms_.load();
  s.processing = since != 0;
  s.connected = natsConnection_Status(client_->connection()) == NATS_CONN_STATUS_CONNECTED;
  metrics_.Connection(s.connected, client_->disconnects(), client_->reconnects());
  try {
    const ConsumerState c = GetConsumerState(js, kEventsStream, config_.consumer.durable);
    metrics_.ConsumerState(c.num_pending, c.num_ack_pending, c.num_redelivered);
    s.consumer_pending = c.num_pending;
  } catch (const NatsError& e) {
    s.consumer_error = e.what();
  }
  bool answering = s.consumer_pending.has_value() || s.connected;
  for (const StreamConfig& stream : config_.streams) {
    if (!answering) {  // one timeout is enough: keep the round short
      s.missing_streams.push_back(stream.name + " (not checked)");
      continue;
    }
    try {
      const StreamState st = GetStreamState(js, stream.name);
      metrics_.StreamState(stream.name, st.messages, st.bytes);
    } catch (const NatsError& e) {
      const bool missing = e.js_code() == JSStreamNotFoundErr || e.status() == NATS_NOT_FOUND;
      s.missing_streams.push_back(missing ? stream.name : stream.name + " (unreadable)");
      answering = missing;
    }
  }
  for (const auto& [city, end] : last_tick_end_) {
    const int64_t last = end.load();
    if (last != 0) {
      s.tick_age_seconds[city] = static_cast<double>(now - last) / 1000.0;
      metrics_.LastTickAge(city, s.tick_age_seconds[city]);
    } else if (since != 0) {
      s.tick_age_seconds[city] = static_cast<double>(now - since) / 1000.0;
    }
  }
  return s;
}

void LiveProcessor::MonitorLoop() {
  HealthLimits limits;
  limits.max_consumer_lag = static_cast<uint64_t>(config_.health.max_consumer_lag);
  limits.max_tick_age_seconds = config_.health.max_tick_age_seconds > 0
                                    ? static_cast<double>(config_.health.max_tick_age_seconds)
                                    : 3.0 * static_cast<double>(config_.interval_seconds) +
                                          static_cast<double>(config_.allowed_lateness_ms) / 1000.0;
  bool was_ready = false;
  // Each API call waits at most a second (or the interval): a round stays short even
  // without a quorum, so readiness follows the cluster.
  const NatsPtr<jsCtx> js = client_->NewJetStream(
      std::clamp<int64_t>(config_.health_check_interval_seconds * 1000, 200, 1000));
  std::unique_lock<std::mutex> lock(monitor_mu_);
  while (!monitor_stop_) {
    lock.unlock();
    Readiness r = EvaluateReadiness(TakeSnapshot(js.get()), limits);
    r.evaluated_at_ms = clock_.NowMs();
    for (const HealthCheck& c : r.checks) metrics_.Health(c.name, c.ok);
    metrics_.Ready(r.ready);
    if (r.ready != was_ready) {
      std::string failing;
      for (const HealthCheck& c : r.checks)
        if (!c.ok) failing += " " + c.name + ": " + c.detail + ";";
      LogStream(r.ready ? LogLevel::kInfo : LogLevel::kWarn)
          << (r.ready ? "ready" : "not ready:") << failing;
      was_ready = r.ready;
    }
    {
      std::lock_guard<std::mutex> guard(readiness_mu_);
      readiness_ = r;
    }
    const bool was_processing = processing_since_ms_.load() != 0;
    lock.lock();
    monitor_cv_.wait_for(lock, std::chrono::seconds(config_.health_check_interval_seconds), [&] {
      return monitor_stop_ || (!was_processing && processing_since_ms_.load() != 0);
    });
  }
}

void LiveProcessor::StopMonitor() {
  {
    std::lock_guard<std::mutex> lock(monitor_mu_);
    monitor_stop_ = true;
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

void LiveProcessor::Run(const std::atomic<bool>& stop) {
  Connect();
  monitor_ = std::thread([this] { MonitorLoop(); });
  RestoreConfigs();
  RestoreCheckpoints();
  OpenConsumers();
  Rebuild();
  PRICING_LOG(kInfo) << "processing LOCATION_EVENTS with durable consumer "
                     << config_.consumer.durable;

  bool backlog = false;  // more events were waiting behind the last batch
  loop_heartbeat_ms_ = clock_.NowMs();
  processing_since_ms_ = clock_.NowMs();
  monitor_cv_.notify_all();  // evaluate readiness now, not an interval later
  while (!stop.load()) {
    const int64_t now = clock_.NowMs();
    loop_heartbeat_ms_.store(now, std::memory_order_relaxed);
    // Idle, the pull waits no longer than the next tick's close (but at least a round
    // trip, or it reports "nothing" while a backlog waits). Reading a backlog, it waits
    // the full time: data is there and a short expiry only cuts batches short.
    const int64_t wait = backlog ? config_.consumer.fetch_wait_ms
                                 : std::clamp<int64_t>(engine_.NextCloseMs() - now, 10,
                                                       config_.consumer.fetch_wait_ms);
    // Each event is handled as it arrives, while the rest of the batch is on its way.
    backlog = false;
    const int handled = puller_->FetchEach(
        static_cast<int>(config_.consumer.batch), wait,
        [&](NatsPtr<natsMsg>& m) { backlog = HandleInput(m, clock_.NowMs(), false); });
    if (!backlog && clock_.NowMs() >= engine_.NextCloseMs()) {
      // A tick is due: close it only once nothing stored before its time is still on
      // its way to us, or it would miss those events.
      backlog = !StoredEventsRead() || (handled == 0 && InputsOutstanding());
    }
    PollConfigUpdates(true);
    // With a backlog still waiting, ticks wait for it (HandleInput closed what it could).
    if (!backlog) CloseTicks(clock_.NowMs());
    PublishReadyCheckpoints();
    publisher_.Pump();
  }
  PRICING_LOG(kInfo) << "stopping: flushing " << publisher_.in_flight() << " publishes";
  const bool flushed = publisher_.Flush(15000);
  PublishReadyCheckpoints();
  publisher_.Flush(5000);
  PRICING_LOG(kInfo) << (flushed ? "all publishes stored"
                                 : "some publishes were not acknowledged in time");
  StopMonitor();
}

}  // namespace pricing
