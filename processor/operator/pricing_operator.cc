#include "operator/pricing_operator.h"

#include <algorithm>
#include <stdexcept>

#include "common/log.h"
#include "common/time_format.h"
#include "engine/config_update.h"
#include "events/subject.h"

namespace pricing {
namespace {

constexpr std::string_view kConfigPrefix = "config.pricing.";

void Count(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

void TickLatency::Add(int64_t offset_ms) {
  const int64_t b = std::max<int64_t>(0, offset_ms) / bucket_ms;
  ++counts[static_cast<std::size_t>(std::min<int64_t>(b, kBuckets - 1))];
  ++total;
  sum_offset_ms += static_cast<double>(offset_ms);
}

PricingOperator::PricingOperator(PricingEngine& engine, OperatorOptions options,
                                 OperatorListener* listener)
    : engine_(engine), options_(std::move(options)), listener_(listener) {
  for (const auto& [key, city] : engine_.cities()) {
    City& c = cities_.emplace_back();
    c.key = key;
    c.engine = city.get();
    const TimingParams& t = c.engine->timing();
    c.latency.resize(static_cast<std::size_t>(t.max_future_skew_ms / t.interval_ms + 4));
    by_engine_[c.engine] = &c;
    by_key_[key] = &c;
    if (options_.stage == PricingStage::kPrice) {
      c.assembler =
          std::make_unique<PartialAssembler>(options_.partitions, c.engine->zones().size());
    }
  }
  if (options_.stage == PricingStage::kCount) {
    engine_.CountPartition(options_.partition, options_.partitions, options_.routed_source);
  }
  if (!options_.failpoint_ingest.empty()) {
    PRICING_LOG(kWarn) << "FAULT INJECTION ON: events containing '" << options_.failpoint_ingest
                       << "' fail to be handled (PRICING_FAILPOINT_INGEST)";
  }
}

const CityCounters* PricingOperator::city_counters(std::string_view city) const {
  const auto it = by_key_.find(city);
  return it == by_key_.end() ? nullptr : &it->second->counters;
}

PricingOperator::Progress& PricingOperator::ProgressOf(int32_t partition) {
  const std::size_t i = static_cast<std::size_t>(std::max<int32_t>(partition, -1) + 1);
  if (i >= progress_.size()) progress_.resize(i + 1);
  return progress_[i];
}

uint64_t PricingOperator::max_read_seq(int32_t partition) const {
  const std::size_t i = static_cast<std::size_t>(std::max<int32_t>(partition, -1) + 1);
  return i < progress_.size() ? progress_[i].max_read : 0;
}

uint64_t PricingOperator::max_applied_seq(int32_t partition) const {
  const std::size_t i = static_cast<std::size_t>(std::max<int32_t>(partition, -1) + 1);
  return i < progress_.size() ? progress_[i].max_applied : 0;
}

PricingOperator::City* PricingOperator::CityOf(const CityEngine* engine) {
  if (engine == nullptr) return nullptr;
  const auto it = by_engine_.find(engine);
  return it == by_engine_.end() ? nullptr : it->second;
}

// --- Recovery -------------------------------------------------------------------

void PricingOperator::Restore(const std::string& city, std::optional<std::string_view> checkpoint,
                              int64_t now_ms) {
  CityEngine* engine = engine_.city(city);
  if (engine == nullptr) return;
  const int64_t interval = engine->timing().interval_ms;
  const int64_t next_tick = (FloorDiv(now_ms, interval) + 1) * interval;
  PartialAssembler* assembler = CityOf(engine)->assembler.get();
  if (checkpoint) {
    // Stage 2 holds a city until every partition counted its tick: a count stage counts
    // every tick it missed, however long it was away (as far as its source holds them).
    const int64_t catch_up_ms = options_.stage == PricingStage::kCount
                                    ? int64_t{INT32_MAX} * 1000
                                    : options_.max_catch_up_seconds * 1000;
    const std::string error =
        engine->RestoreCheckpoint(*checkpoint, now_ms - catch_up_ms, next_tick);
    if (error.empty()) {
      PRICING_LOG(kInfo) << "city " << city << ": restored checkpoint; next tick "
                         << FormatUtc(engine->next_tick());
      // Every tick after it is priced, in order, once all its counts are in.
      if (assembler != nullptr) assembler->StartAfter(engine->next_tick() - interval, false);
      return;
    }
    PRICING_LOG(kWarn) << "city " << city << ": ignoring checkpoint: " << error;
  }
  // No checkpoint: the first tick is the next one. Events of its window (stored before
  // the start too) count; older ones are late, as for a processor that had been
  // running. No ticks before the start are invented.
  engine->StartAt(next_tick);
  // Stage 2 begins at the first tick from then on that every partition counted.
  if (assembler != nullptr) assembler->StartAfter(next_tick - interval, true);
  PRICING_LOG(kInfo) << "city " << city << ": no checkpoint; starting at the next tick";
}

int64_t PricingOperator::RebuildFromMs() const {
  int64_t from_ms = INT64_MAX;
  int64_t skew_ms = 0;
  for (const auto& [key, engine] : engine_.cities()) {
    from_ms = std::min(from_ms, engine->window().late_before());
    skew_ms = engine->timing().max_future_skew_ms;
  }
  return from_ms - skew_ms - 1000;
}

void PricingOperator::BeginRebuild(Position handled_through) {
  ProgressOf(handled_through.partition).handled_through = handled_through.seq;
}

void PricingOperator::Rebuild(const InputRecord& in, int64_t now_ms, std::vector<Action>* out) {
  if (options_.stage == PricingStage::kPrice) {
    OnPartial(in, true, out);
    return;
  }
  const uint64_t seq = in.position.seq;
  Progress& progress = ProgressOf(in.position.partition);
  progress.max_read = std::max(progress.max_read, seq);
  if (progress.Applied(seq)) return;
  if (in.stored_ms > 0) now_ms = std::min(now_ms, in.stored_ms);
  CloseTicks(std::min(now_ms, in.others_stored_ms), out);
  IngestOutcome outcome;
  std::string what;
  if (!Apply(in, now_ms, &outcome, &what)) {
    progress.failed.insert(seq);  // not in the window: the durable delivers it again
    return;
  }
  progress.failed.erase(seq);
  progress.max_applied = std::max(progress.max_applied, seq);
  ++rebuilt_;
  // Refused, and after what the earlier run acknowledged: that run may not have
  // dead-lettered it. The durable redelivers it later and, finding it applied, only
  // acknowledges it; the dead letter's id makes a second copy a duplicate.
  if (!outcome.ok() && seq > progress.handled_through) {
    DeadLetter(in, outcome.city, ToString(outcome.reason), outcome.detail, false, out);
  }
}

// --- Processing -----------------------------------------------------------------

bool PricingOperator::Apply(const InputRecord& in, int64_t now_ms, IngestOutcome* outcome,
                            std::string* what) {
  try {
    if (!options_.failpoint_ingest.empty() &&
        in.payload.find(options_.failpoint_ingest) != std::string_view::npos) {
      throw std::runtime_error("fault injected by PRICING_FAILPOINT_INGEST");
    }
    *outcome = options_.event_time
                   ? engine_.Ingest(in.subject, in.payload, in.position.seq)
                   : engine_.Ingest(in.subject, in.payload, in.position.seq, now_ms);
    return true;
  } catch (const std::exception& e) {
    *what = e.what();
    return false;
  }
}

Disposition PricingOperator::OnInput(const InputRecord& in, int64_t now_ms,
                                     std::vector<Action>* out) {
  if (options_.stage == PricingStage::kPrice) return OnPartial(in, false, out);
  const uint64_t seq = in.position.seq;
  Progress& progress = ProgressOf(in.position.partition);
  progress.max_read = std::max(progress.max_read, seq);
  if (progress.Applied(seq)) {
    // Applied already (during the rebuild, or before a lost ack): acknowledge only.
    out->push_back(Action::Ack(in.token));
    Count(counters_.skipped);
    return Disposition::kAcked;
  }
  // Reading a backlog (more waiting behind this one), time is the stored time: ticks
  // close as they did, or would have, live. Otherwise the wall clock.
  if (in.pending > 0 && in.stored_ms > 0) {
    now_ms = std::min(now_ms, in.stored_ms);
    CloseTicks(std::min(now_ms, in.others_stored_ms), out);
  }
  IngestOutcome outcome;
  std::string what;
  if (!Apply(in, now_ms, &outcome, &what)) {
    Disposition d = Disposition::kNaked;
    HandlingFailed(in, what, out, &d);
    return d;
  }
  if (!progress.failed.empty()) progress.failed.erase(seq);
  progress.max_applied = std::max(progress.max_applied, seq);
  if (outcome.foreign) {
    // Another partition's: its stage 1 counts it.
    out->push_back(Action::Ack(in.token));
    Count(counters_.foreign);
    return Disposition::kAcked;
  }
  City* city = CityOf(outcome.engine);
  CityCounters& cc = city != nullptr ? city->counters : counters_.unrouted;
  Count(cc.read[static_cast<std::size_t>(outcome.kind)]);
  if (outcome.ok()) {
    Count(counters_.applied);
    if (outcome.ts && city != nullptr) {
      // The first tick whose window [T - W, T) holds it, or the next to close.
      const int64_t interval = outcome.engine->timing().interval_ms;
      const int64_t first =
          std::max((FloorDiv(*outcome.ts, interval) + 1) * interval, outcome.engine->next_tick());
      const std::size_t n = city->latency.size();
      auto& slot = city->latency[static_cast<std::size_t>(
          ((FloorDiv(first, interval) % static_cast<int64_t>(n)) + static_cast<int64_t>(n)) %
          static_cast<int64_t>(n))];
      if (slot.tick != first) {
        // Free (ticks are drained when they close, and the ring outlasts the skew).
        slot.tick = first;
        slot.latency = TickLatency{};
        slot.latency.bucket_ms = std::max<int64_t>(1, interval / 100);
      }
      slot.latency.Add(first - *outcome.ts);
    }
    out->push_back(Action::Ack(in.token));
    if (options_.event_time && engine_.max_event_ts()) CloseTicks(*engine_.max_event_ts(), out);
    return Disposition::kAcked;
  }
  Count(counters_.rejected);
  Count(cc.rejected[static_cast<std::size_t>(outcome.reason)]);
  DeadLetter(in, outcome.city, ToString(outcome.reason), outcome.detail, true, out);
  return Disposition::kHeld;
}

Disposition PricingOperator::Unreadable(const InputRecord& in, std::string_view detail,
                                        std::vector<Action>* out) {
  Count(counters_.rejected);
  Count(counters_.unrouted.rejected[static_cast<std::size_t>(RejectReason::kMalformed)]);
  DeadLetter(in, {}, ToString(RejectReason::kMalformed), detail, true, out);
  return Disposition::kHeld;
}

void PricingOperator::HandlingFailed(const InputRecord& in, const std::string& what,
                                     std::vector<Action>* out, Disposition* disposition) {
  const uint64_t seq = in.position.seq;
  Progress& progress = ProgressOf(in.position.partition);
  // Not applied: a redelivery must not be taken for an input already in the window.
  progress.failed.insert(seq);
  const bool last = in.delivered >= static_cast<uint64_t>(options_.max_deliver);
  if (listener_ != nullptr) listener_->HandlingFailed(last);
  if (!last) {
    Count(counters_.failed);
    // Backing off: one second more per delivery, so a passing fault can pass.
    const int64_t delay_ms = 1000 * static_cast<int64_t>(in.delivered);
    PRICING_LOG(kWarn) << "event seq " << seq << " on " << in.subject << ": handling failed ("
                       << what << "), delivery " << in.delivered << " of " << options_.max_deliver
                       << "; redelivery in " << delay_ms << " ms";
    out->push_back(Action::Nak(in.token, delay_ms));
    *disposition = Disposition::kNaked;
    return;
  }
  Count(counters_.poison);
  progress.failed.erase(seq);
  PRICING_LOG(kError) << "event seq " << seq << " on " << in.subject << ": handling failed on all "
                      << in.delivered << " deliveries (" << what
                      << "); dead-lettered with reason poison";
  const auto parsed = ParseInputSubject(in.subject);
  const std::string detail =
      "handling failed on " + std::to_string(in.delivered) + " deliveries (max_deliver): " + what;
  DeadLetter(in, parsed ? parsed->city : std::string_view(), "poison", detail, true, out);
  *disposition = Disposition::kHeld;
}

void PricingOperator::DeadLetter(const InputRecord& in, std::string_view city,
                                 std::string_view reason, std::string_view detail,
                                 bool ack_when_stored, std::vector<Action>* out) {
  Headers headers = in.headers();
  std::string msg_id;
  for (const auto& [k, v] : headers) {
    if (k == "Nats-Msg-Id") msg_id = v;
  }
  std::erase_if(headers, [](const auto& kv) { return kv.first == "Nats-Msg-Id"; });
  if (msg_id.empty()) {
    // The input's own place in its source names it, so a second copy is a duplicate.
    msg_id = options_.input_stream + ":";
    if (in.position.partition >= 0) msg_id += std::to_string(in.position.partition) + ":";
    msg_id += std::to_string(in.position.seq);
  }
  headers.emplace_back("Pricing-Reject-Reason", std::string(reason));
  headers.emplace_back("Pricing-Reject-Detail", std::string(detail));
  if (!in.subject.empty())
    headers.emplace_back("Pricing-Original-Subject", std::string(in.subject));
  if (in.position.partition >= 0)
    headers.emplace_back("Pricing-Partition", std::to_string(in.position.partition));
  headers.emplace_back("Pricing-Stream-Seq", std::to_string(in.position.seq));
  City* c = CityOf(engine_.city(city));
  Count(c != nullptr ? c->counters.dead_lettered : counters_.unrouted.dead_lettered);
  const uint64_t id = Publish(PublishKind::kDeadLetter, DeadLetterSubject(city), std::move(msg_id),
                              std::string(in.payload), std::move(headers), out);
  // The input is acknowledged only once its dead letter is stored: a crash in between
  // redelivers it instead of losing it.
  PendingPublish& p = publishes_[id];
  p.token = in.token;
  p.input = in.position;
  p.ack_when_stored = ack_when_stored;
}

uint64_t PricingOperator::Publish(PublishKind what, std::string subject, std::string msg_id,
                                  std::string payload, Headers headers, std::vector<Action>* out) {
  const uint64_t id = next_publish_++;
  Action a;
  a.kind = Action::Kind::kPublish;
  a.publish = id;
  a.what = what;
  a.subject = std::move(subject);
  a.msg_id = std::move(msg_id);
  a.payload = std::move(payload);
  a.headers = std::move(headers);
  out->push_back(std::move(a));
  publishes_[id].what = what;
  return id;
}

void PricingOperator::OnTime(int64_t now_ms, bool caught_up, std::vector<Action>* out) {
  if (caught_up) CloseTicks(now_ms, out);
}

void PricingOperator::CloseTicks(int64_t watermark_ms, std::vector<Action>* out) {
  if (options_.stage == PricingStage::kPrice) return;  // closed by the counts' arrival
  if (watermark_ms < engine_.NextCloseMs()) return;    // the common case
  if (options_.stage == PricingStage::kCount) {
    EmitPartials(engine_.AdvancePartials(watermark_ms), out);
  } else {
    EmitTicks(engine_.AdvanceWatermark(watermark_ms), watermark_ms, out);
  }
}

TickLatency PricingOperator::TakeLatency(City& city, int64_t tick) {
  TickLatency latency;
  for (auto& slot : city.latency) {
    if (slot.tick == INT64_MIN || slot.tick > tick) continue;
    const TickLatency& l = slot.latency;
    // Offsets are kept relative to the tick that first counts them; moved onto this
    // one they grow by the ticks in between.
    const int64_t shift = tick - slot.tick;
    if (latency.total == 0) latency.bucket_ms = l.bucket_ms;
    for (std::size_t b = 0; b < TickLatency::kBuckets; ++b) {
      if (l.counts[b] == 0) continue;
      const int64_t offset = static_cast<int64_t>(b) * l.bucket_ms + shift;
      const std::size_t to = static_cast<std::size_t>(
          std::min<int64_t>(offset / latency.bucket_ms, TickLatency::kBuckets - 1));
      latency.counts[to] += l.counts[b];
    }
    latency.total += l.total;
    latency.sum_offset_ms += l.sum_offset_ms + static_cast<double>(shift * l.total);
    slot.tick = INT64_MIN;
  }
  return latency;
}

void PricingOperator::EmitPartials(std::vector<PartialCounts> partials, std::vector<Action>* out) {
  for (PartialCounts& p : partials) {
    CityEngine* engine = engine_.city(p.city);
    City* city = CityOf(engine);
    auto pending = std::make_unique<PendingTick>();
    pending->city = city;
    pending->tick = p.tick;
    pending->remaining = 1;
    // The window is rebuilt from the stream; the checkpoint says which tick is next.
    pending->checkpoint = engine->EncodeCheckpoint(p.tick);
    pending->latency = TakeLatency(*city, p.tick);
    PendingTick* raw = pending.get();
    ticks_.push_back(std::move(pending));
    const uint64_t id =
        Publish(PublishKind::kTickOutput, PartialSubject(p.city, p.partition),
                p.city + ":p" + std::to_string(p.partition) + ":" + std::to_string(p.tick),
                EncodePartial(p, engine->zones()), {}, out);
    publishes_[id].tick = raw;
    Count(counters_.ticks);
    Count(city->counters.ticks);
  }
}

Disposition PricingOperator::OnPartial(const InputRecord& in, bool rebuild,
                                       std::vector<Action>* out) {
  const uint64_t seq = in.position.seq;
  Progress& progress = ProgressOf(in.position.partition);
  progress.max_read = std::max(progress.max_read, seq);
  if (progress.Applied(seq)) {
    if (rebuild) return Disposition::kNothing;
    out->push_back(Action::Ack(in.token));
    Count(counters_.skipped);
    return Disposition::kAcked;
  }
  progress.max_applied = std::max(progress.max_applied, seq);
  const auto parsed = ParsePartialSubject(in.subject);
  CityEngine* engine = parsed ? engine_.city(parsed->city) : nullptr;
  std::string error;
  PartialCounts counts;
  if (!parsed) {
    error = "subject is not pricing.partial.<city>.<partition>";
  } else if (engine == nullptr) {
    error = "city is not configured";
  } else {
    counts = DecodePartial(in.payload, engine->zones(), &error);
    if (error.empty() && (counts.city != parsed->city || counts.partition != parsed->partition)) {
      error = "the counts' city or partition is not the subject's";
    } else if (error.empty() && (counts.partitions != options_.partitions ||
                                 counts.partition >= counts.partitions)) {
      error = "counted as partition " + std::to_string(counts.partition) + " of " +
              std::to_string(counts.partitions) + ", but this stage sums " +
              std::to_string(options_.partitions) + " partitions (key partitions)";
    }
  }
  if (!error.empty()) {
    Count(counters_.rejected);
    PRICING_LOG(kWarn) << "partial counts seq " << seq << " on " << in.subject
                       << " dead-lettered: " << error;
    DeadLetter(in, parsed ? parsed->city : std::string_view(), ToString(RejectReason::kMalformed),
               error, !rebuild, out);
    return rebuild ? Disposition::kNothing : Disposition::kHeld;
  }
  City* city = CityOf(engine);
  // Held in memory from here: a restart reads the counts after its checkpoint again.
  city->assembler->Add(std::move(counts));
  if (rebuild) {
    ++rebuilt_;
  } else {
    out->push_back(Action::Ack(in.token));
    Count(counters_.applied);
  }
  while (std::optional<PartialCounts> sum = city->assembler->TakeNext()) {
    // What the partitions read and refused for the tick: this stage's counters are the
    // city's, as one processor's would be.
    for (std::size_t k = 0; k < kEventKindCount; ++k) {
      city->counters.read[k].fetch_add(sum->stats.read[k], std::memory_order_relaxed);
    }
    for (std::size_t r = 0; r < kRejectReasonCount; ++r) {
      city->counters.rejected[r].fetch_add(sum->stats.rejected[r], std::memory_order_relaxed);
    }
    std::vector<TickResult> ticks;
    ticks.push_back(engine->PriceCounts(*sum));
    EmitTicks(std::move(ticks), sum->tick, out);
  }
  return rebuild ? Disposition::kNothing : Disposition::kAcked;
}

std::vector<PricingOperator::HeldTick> PricingOperator::Held(int64_t now_ms) const {
  std::vector<HeldTick> out;
  for (const City& city : cities_) {
    if (!city.assembler || !city.engine->started()) continue;
    const TimingParams& t = city.engine->timing();
    const int64_t next = city.engine->next_tick();
    const int64_t overdue = now_ms - (next + t.allowed_lateness_ms);
    if (overdue <= t.interval_ms) continue;
    HeldTick h;
    h.city = city.key;
    h.tick = next;
    h.missing = city.assembler->MissingAt(next);
    h.overdue_ms = overdue;
    out.push_back(std::move(h));
  }
  return out;
}

void PricingOperator::EmitTicks(std::vector<TickResult> ticks, int64_t watermark_ms,
                                std::vector<Action>* out) {
  for (TickResult& tick : ticks) {
    CityEngine* engine = engine_.city(tick.city);
    City* city = CityOf(engine);
    PRICING_LOG(kDebug) << "city " << tick.city << ": closing tick " << tick.tick
                        << " at watermark " << watermark_ms << ", inputs seq "
                        << tick.input_seqs.first << ".." << tick.input_seqs.last
                        << ", applied through seq " << max_applied_seq();
    auto messages = EncodeTick(tick, engine->zones());
    auto pending = std::make_unique<PendingTick>();
    pending->city = city;
    pending->tick = tick.tick;
    pending->remaining = messages.size();
    // The checkpoint is the state after this tick; it is published once every message
    // of the tick is stored.
    pending->checkpoint = engine->EncodeCheckpoint(tick.tick);
    pending->latency = TakeLatency(*city, tick.tick);
    PendingTick* raw = pending.get();
    ticks_.push_back(std::move(pending));
    for (auto& m : messages) {
      const uint64_t id = Publish(PublishKind::kTickOutput, std::move(m.subject),
                                  std::move(m.msg_id), std::move(m.payload), {}, out);
      publishes_[id].tick = raw;
    }
    Count(counters_.ticks);
    Count(city->counters.ticks);
    if (listener_ != nullptr) listener_->TickClosed(tick, engine->zones());
    if (raw->remaining == 0) TickStored(*raw, tick.computed_at_ms, out);
  }
}

void PricingOperator::OnStored(uint64_t publish, int64_t now_ms, std::vector<Action>* out) {
  const auto it = publishes_.find(publish);
  if (it == publishes_.end()) return;
  const PendingPublish p = it->second;
  publishes_.erase(it);
  switch (p.what) {
    case PublishKind::kDeadLetter:
      if (p.ack_when_stored) out->push_back(Action::Ack(p.token));
      break;
    case PublishKind::kTickOutput:
      if (--p.tick->remaining == 0) TickStored(*p.tick, now_ms, out);
      break;
    case PublishKind::kCheckpoint:
      Count(counters_.checkpoints);
      if (listener_ != nullptr) listener_->Checkpointed();
      break;
    case PublishKind::kConfigAnswer:
      break;
  }
}

void PricingOperator::OnFailed(uint64_t publish, std::vector<Action>* out) {
  const auto it = publishes_.find(publish);
  if (it == publishes_.end()) return;
  const PendingPublish p = it->second;
  publishes_.erase(it);
  Count(counters_.publish_failures);
  switch (p.what) {
    case PublishKind::kDeadLetter:
      // Not stored: the input must come again, and be dead-lettered again then rather
      // than be taken for one already handled.
      if (p.ack_when_stored) {
        ProgressOf(p.input.partition).failed.insert(p.input.seq);
        out->push_back(Action::Nak(p.token, 1000));
      }
      break;
    case PublishKind::kTickOutput:
      // The tick is incomplete: no checkpoint follows it, so a restart recomputes it.
      p.tick->failed = true;
      if (--p.tick->remaining == 0) TickStored(*p.tick, 0, out);
      break;
    case PublishKind::kCheckpoint:
    case PublishKind::kConfigAnswer:
      break;
  }
}

void PricingOperator::TickStored(PendingTick& tick, int64_t now_ms, std::vector<Action>* out) {
  if (!tick.failed) {
    // Every update of the tick is stored: its events are published.
    if (listener_ != nullptr)
      listener_->TickStored(tick.city->key, tick.tick, now_ms, tick.latency);
    std::atomic<int64_t>& last = tick.city->counters.last_stored_tick;
    if (last.load(std::memory_order_relaxed) < tick.tick)
      last.store(tick.tick, std::memory_order_relaxed);
    const bool count = options_.stage == PricingStage::kCount;
    const int32_t partition = count ? options_.partition : -1;
    const std::string id = tick.city->key + ":state" +
                           (count ? ".p" + std::to_string(partition) : std::string()) + ":" +
                           std::to_string(tick.tick);
    Publish(PublishKind::kCheckpoint, CheckpointSubject(tick.city->key, partition), id,
            std::move(tick.checkpoint), {}, out);
  }
  std::erase_if(ticks_, [&](const auto& t) { return t.get() == &tick; });
}

// --- CONFIG_UPDATES -------------------------------------------------------------

void PricingOperator::OnConfig(std::string_view subject, std::string_view payload, uint64_t seq,
                               std::vector<Action>* out) {
  const std::string_view city =
      subject.starts_with(kConfigPrefix) ? subject.substr(kConfigPrefix.size()) : subject;
  CityEngine* engine = engine_.city(city);
  if (engine == nullptr) {
    PRICING_LOG(kWarn) << "config update for unknown city '" << city << "' ignored";
    return;
  }
  City* c = CityOf(engine);
  const ConfigUpdate update =
      ParseConfigUpdate(payload, engine->model().params(), engine->model().overrides(),
                        engine->config_version(), engine->zones());
  if (update.ok()) {
    engine->Reconfigure(update.params, update.overrides, update.version);
    Count(counters_.configs_applied);
    Count(c->counters.config_applied);
    PRICING_LOG(kInfo) << "config " << city << " version " << update.version
                       << " applied from the next tick";
  } else {
    Count(counters_.configs_refused);
    Count(c->counters.config_refused);
    PRICING_LOG(kWarn) << "config " << city << " version " << update.version
                       << " refused: " << update.error;
  }
  if (listener_ != nullptr) listener_->ConfigAnswered(c->key, update.ok());
  const auto answered = answered_.find(city);
  if (answered == answered_.end() || seq > answered->second) {
    answered_[c->key] = seq;
    // One answer per document: its id is the document's stream sequence.
    Publish(PublishKind::kConfigAnswer, "config.applied." + c->key,
            c->key + ":applied:" + std::to_string(seq), EncodeConfigAnswer(update),
            {{"Pricing-Config-Seq", std::to_string(seq)}}, out);
  }
}

void PricingOperator::Finish(std::vector<Action>* out) {
  const std::optional<int64_t> last = engine_.max_event_ts();
  EmitTicks(engine_.Finish(), last.value_or(0), out);
}

}  // namespace pricing
