#include "kafka/kafka_processor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "common/log.h"
#include "common/time_format.h"
#include "engine/outputs.h"
#include "events/subject.h"
#include "kafka/kafka_health_probe.h"

namespace pricing {
namespace {

constexpr const char* kDeadLetterStream = "DEAD_LETTERS";
constexpr std::string_view kStatePrefix = "pricing.state.";
constexpr int kMetadataTimeoutMs = 5000;

// NATS subject matching: `*` matches one token, `>` the rest.
bool SubjectMatches(std::string_view pattern, std::string_view subject) {
  while (true) {
    const std::size_t pd = pattern.find('.');
    const std::size_t sd = subject.find('.');
    const std::string_view pt = pattern.substr(0, pd);
    const std::string_view st = subject.substr(0, sd);
    if (pt == ">") return !subject.empty();
    if (pt != "*" && pt != st) return false;
    if (pd == std::string_view::npos || sd == std::string_view::npos)
      return pd == std::string_view::npos && sd == std::string_view::npos;
    pattern.remove_prefix(pd + 1);
    subject.remove_prefix(sd + 1);
  }
}

std::string LastToken(std::string_view subject) {
  const std::size_t dot = subject.rfind('.');
  return std::string(dot == std::string_view::npos ? subject : subject.substr(dot + 1));
}

}  // namespace

std::string KafkaInputSubject(rd_kafka_message_t* msg) {
  if (std::string subject = KafkaHeader(*msg, "subject"); !subject.empty()) return subject;
  const std::string key =
      msg->key ? std::string(static_cast<const char*>(msg->key), msg->key_len) : "";
  const std::string_view payload(static_cast<const char*>(msg->payload), msg->len);
  if (payload.find("\"driver_id\"") != std::string_view::npos) return "location.driver." + key;
  if (payload.find("\"request_id\"") != std::string_view::npos) return "location.request." + key;
  return "location.unknown." + key;  // refused by the decoder, dead-lettered
}

int64_t OffsetTracker::Acked(int32_t partition, int64_t offset) {
  auto& open = open_[partition];
  open.erase(offset);
  int64_t& max_acked = max_acked_.try_emplace(partition, -1).first->second;
  max_acked = std::max(max_acked, offset);
  // Everything below the first still open is acknowledged; with none open, everything
  // up to the largest acknowledged.
  const int64_t next = open.empty() ? max_acked + 1 : *open.begin();
  int64_t& last = committable_.try_emplace(partition, -1).first->second;
  if (next <= last) return -1;
  last = next;
  return next;
}

namespace {

constexpr int kPartitionShift = 48;

uint64_t TokenOf(int32_t partition, int64_t offset) {
  return (static_cast<uint64_t>(partition) << kPartitionShift) | static_cast<uint64_t>(offset);
}
int32_t PartitionOf(uint64_t token) { return static_cast<int32_t>(token >> kPartitionShift); }
int64_t OffsetOf(uint64_t token) {
  return static_cast<int64_t>(token & ((uint64_t{1} << kPartitionShift) - 1));
}

Headers KafkaHeaders(const void* source) {
  auto* msg = const_cast<rd_kafka_message_t*>(static_cast<const rd_kafka_message_t*>(source));
  Headers out;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0;
       rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    const std::string key(name);
    // The transport's own headers are not the input's.
    if (key == "subject") continue;
    out.emplace_back(key == "msg-id" ? "Nats-Msg-Id" : key,
                     value ? std::string(static_cast<const char*>(value), size) : "");
  }
  return out;
}

OperatorOptions KafkaOptions(const Config& config) {
  OperatorOptions o;
  // Kafka cannot deliver one message again without holding back its partition: an
  // input whose handling fails is dead-lettered as poison at once.
  o.max_deliver = 1;
  o.max_catch_up_seconds = config.max_catch_up_seconds;
  o.input_stream = KafkaStageInputOf(config).topic;
  o.stage = config.stage;
  o.partition = static_cast<int32_t>(config.partition);
  o.partitions = static_cast<int32_t>(config.partitions);
  // A count stage reads one partition of location-events, which holds the events of its
  // drivers and riders only: any other event in it was put there by a producer that
  // did not key it by its id, and is dead-lettered rather than passed over.
  o.routed_source = config.stage == PricingStage::kCount;
  return o;
}

// An input as the operator takes it; its subject is kept in `subject`, which must outlive
// the record.
InputRecord RecordOf(const rd_kafka_message_t& m, std::string* subject) {
  *subject = KafkaInputSubject(const_cast<rd_kafka_message_t*>(&m));
  rd_kafka_timestamp_type_t type;
  const int64_t stored_ms = rd_kafka_message_timestamp(&m, &type);
  InputRecord r;
  r.subject = *subject;
  r.payload = std::string_view(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  r.position = {static_cast<uint64_t>(m.offset) + 1, m.partition};
  r.stored_ms = stored_ms > 0 ? stored_ms : 0;
  r.token = TokenOf(m.partition, m.offset);
  r.read_headers = &KafkaHeaders;
  r.source = &m;
  return r;
}

}  // namespace

KafkaProcessor::KafkaProcessor(const Config& config, const Clock& clock)
    : config_(config),
      clock_(clock),
      engine_(config.engine(), clock),
      metrics_(MetricsOptions{config.http.zone_metrics,
                              static_cast<std::size_t>(config.http.max_zone_metrics)}),
      listener_(metrics_),
      operator_(engine_, KafkaOptions(config), &listener_),
      health_(config, clock, metrics_),
      held_(metrics_, health_),
      input_(KafkaStageInputOf(config)),
      input_topic_(input_.topic) {
  metrics_.AddScrapeHook([this] {
    metrics_.PublishTotals(
        produced_.load(), produce_errors_.load(), 0, 0, produce_errors_.load(),
        producer_ ? static_cast<uint64_t>(rd_kafka_outq_len(producer_.get())) : 0);
    listener_.CopyTotals(operator_);
  });
}

KafkaProcessor::~KafkaProcessor() {
  health_.Stop();
  if (consumer_) rd_kafka_consumer_close(consumer_.get());
}

void KafkaProcessor::Connect() {
  producer_ = IdempotentProducer(config_.kafka.brokers, "pricing-processor",
                                 config_.kafka.linger_ms, &KafkaProcessor::OnDelivery, this);

  KafkaConf cc;
  cc.Set("bootstrap.servers", config_.kafka.brokers)
      .Set("client.id", "pricing-processor")
      .Set("group.id", input_.group)
      // An event's offset is stored once it is applied; stored offsets are committed
      // every second: at least once.
      .Set("enable.auto.offset.store", "false")
      .Set("enable.auto.commit", "true")
      .Set("auto.commit.interval.ms", "1000")
      .Set("auto.offset.reset", config_.kafka.auto_offset_reset)
      .Set("session.timeout.ms", std::to_string(config_.kafka.session_timeout_ms))
      .Set("heartbeat.interval.ms", std::to_string(config_.kafka.session_timeout_ms / 5))
      .Set("fetch.wait.max.ms", std::to_string(config_.kafka.fetch_wait_max_ms))
      // A processor joining the group takes nothing from one that holds partitions:
      // a second processor stands by instead of taking the work over mid-window.
      .Set("partition.assignment.strategy", "cooperative-sticky")
      .Set("socket.nagle.disable", "true");
  rd_kafka_conf_set_rebalance_cb(cc.get(), &KafkaProcessor::OnRebalance);
  rd_kafka_conf_set_opaque(cc.get(), this);
  consumer_ = cc.Client(RD_KAFKA_CONSUMER);
  rd_kafka_poll_set_consumer(consumer_.get());
  input_partitions_ = PartitionsOf(input_topic_);
  // The group gives out the lease topic's one partition; its holder reads the stage's
  // partitions (Rebalanced).
  PartitionsOf(config_.kafka.lease_topic);
  if (input_.partition >= 0 && input_partitions_ != config_.partitions) {
    // Stage-1 partition P is partition P of location-events: with another number of
    // partitions, events would be counted by the wrong stage, or by none.
    throw ConfigError(config_.source.string() + ": partitions is " +
                      std::to_string(config_.partitions) + ", but the topic " + input_topic_ +
                      " has " + std::to_string(input_partitions_) +
                      " partitions; each stage-1 partition is one of them: run `pricing streams "
                      "apply --config " +
                      config_.source.string() + "` (Kafka can add partitions, never remove them)");
  }
  const std::string& topic = config_.kafka.lease_topic;
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("kafka: subscribing to " + topic + ": " + rd_kafka_err2str(err));
  PRICING_LOG(kInfo) << "kafka: consuming " << input_topic_
                     << (input_.partition >= 0 ? " [" + std::to_string(input_.partition) + "]"
                                               : std::string())
                     << " while holding " << topic << " in group " << input_.group << " from "
                     << config_.kafka.brokers;
}

int32_t KafkaProcessor::PartitionsOf(const std::string& topic) {
  const rd_kafka_metadata_t* md = nullptr;
  KafkaPtr<rd_kafka_topic_t> t(rd_kafka_topic_new(consumer_.get(), topic.c_str(), nullptr));
  int found = -1;
  for (int attempt = 0; attempt < 30 && found < 0; ++attempt) {
    if (rd_kafka_metadata(consumer_.get(), 0, t.get(), &md, kMetadataTimeoutMs) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        found = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
    }
    if (found < 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (found <= 0)
    throw std::runtime_error(
        "kafka: the topic " + topic +
        " is missing or unreadable (for 15 s); `pricing streams apply --config " +
        config_.source.string() + "` makes it");
  return found;
}

std::string KafkaProcessor::TopicFor(const std::string& subject) const {
  if (subject.starts_with("pricing.partial.")) return config_.kafka.partials_topic;
  for (const StreamConfig& s : config_.streams) {
    for (const std::string& pattern : s.subjects)
      if (SubjectMatches(pattern, subject)) return TopicForStream(s.name);
  }
  return TopicForStream(kDeadLetterStream);  // no stream takes it: never dropped silently
}

void KafkaProcessor::Produce(const Action& a, const std::string& topic) {
  const uint64_t publish = a.publish;
  // A zone, or a city; a checkpoint's is its city and, for stage 1, its partition: the
  // compacted topic keeps the last one per key.
  const std::string key = a.what == PublishKind::kCheckpoint && a.subject.starts_with(kStatePrefix)
                              ? a.subject.substr(kStatePrefix.size())
                              : LastToken(a.subject);
  while (true) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(2 + a.headers.size());
    rd_kafka_header_add(headers, "subject", -1, a.subject.data(),
                        static_cast<ssize_t>(a.subject.size()));
    rd_kafka_header_add(headers, "msg-id", -1, a.msg_id.data(),
                        static_cast<ssize_t>(a.msg_id.size()));
    for (const auto& [k, v] : a.headers)
      rd_kafka_header_add(headers, k.c_str(), -1, v.data(), static_cast<ssize_t>(v.size()));
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(a.payload.data()), a.payload.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(publish))),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // the headers belong to the message now
    rd_kafka_headers_destroy(headers);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer_.get(), 10);  // deliveries make room (reports only queue)
      continue;
    }
    ++produce_errors_;
    PRICING_LOG(kError) << "kafka: producing to " << topic << " failed: " << rd_kafka_err2str(err);
    deliveries_.emplace_back(publish, false);
    return;
  }
}

void KafkaProcessor::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<KafkaProcessor*>(opaque);
  const uint64_t publish = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->_private));
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->produced_;
  } else {
    // The idempotent producer has retried for message.timeout.ms already.
    ++self->produce_errors_;
    PRICING_LOG(kError) << "kafka: a message to " << rd_kafka_topic_name(m->rkt)
                        << " was not stored: " << rd_kafka_err2str(m->err);
  }
  // Runs inside Run()'s rd_kafka_poll: only queue, Run() reports to the operator.
  if (publish != 0) self->deliveries_.emplace_back(publish, m->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

void KafkaProcessor::ReportDeliveries() {
  while (!deliveries_.empty()) {
    std::vector<std::pair<uint64_t, bool>> batch;
    batch.swap(deliveries_);
    const int64_t now = clock_.NowMs();
    for (const auto& [id, stored] : batch) {
      if (stored) {
        operator_.OnStored(id, now, &actions_);
      } else {
        operator_.OnFailed(id, &actions_);
      }
    }
    Execute();
  }
}

void KafkaProcessor::Execute() {
  std::vector<Action> actions;
  actions.swap(actions_);
  for (const Action& a : actions) {
    switch (a.kind) {
      case Action::Kind::kAck: {
        const int32_t partition = PartitionOf(a.token);
        const int64_t next = offsets_.Acked(partition, OffsetOf(a.token));
        if (next < 0) break;
        // Everything before `next` is handled: librdkafka commits it within a second.
        rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, input_topic_.c_str(), partition)->offset = next;
        rd_kafka_offsets_store(consumer_.get(), list);
        rd_kafka_topic_partition_list_destroy(list);
        break;
      }
      case Action::Kind::kNak: {
        // Kafka cannot redeliver one message: its offset stays uncommitted (a restart
        // reads it again), and it is handled again now, after the delay, on this thread.
        PRICING_LOG(kWarn) << "kafka: offset " << OffsetOf(a.token) << " of partition "
                           << PartitionOf(a.token)
                           << " stays uncommitted; it is read again after a restart";
        break;
      }
      case Action::Kind::kPublish:
        // Checkpoints go to their compacted topic, keyed by the city.
        Produce(a, a.what == PublishKind::kCheckpoint ? config_.kafka.checkpoint_topic
                                                      : TopicFor(a.subject));
        break;
    }
  }
}

namespace {

constexpr int kRecoveryTimeoutMs = 15000;
constexpr int kBarrierTimeoutMs = 2000;
constexpr int64_t kDueTickPollMs = 5;

// The subject a message of one of the processor's own topics was produced with: its
// `subject` header, else `prefix` and the key.
std::string SubjectOf(const rd_kafka_message_t& m, const std::string& prefix) {
  std::string subject = KafkaHeader(m, "subject");
  if (!subject.empty()) return subject;
  return prefix + (m.key ? std::string(static_cast<const char*>(m.key), m.key_len) : "");
}

std::string_view Payload(const rd_kafka_message_t& m) {
  return {static_cast<const char*>(m.payload), m.payload ? m.len : 0};
}

}  // namespace

void KafkaProcessor::HandleConfig(const rd_kafka_message_t& m) {
  const std::string subject = SubjectOf(m, "config.pricing.");
  if (subject.starts_with("config.pricing.")) {
    operator_.OnConfig(subject, Payload(m), static_cast<uint64_t>(m.offset) + 1, &actions_);
    Execute();
  }
}

void KafkaProcessor::RestoreConfigs() {
  configs_ = std::make_unique<KafkaReader>(config_.kafka.brokers, TopicForStream("CONFIG_UPDATES"),
                                           "pricing-processor-config");
  const std::vector<PartitionRange> ranges = configs_->Retained(kRecoveryTimeoutMs);
  // The history is small (a few documents per city): held whole, so that the answers,
  // which follow their documents, are known before the documents are validated again.
  struct Document {
    std::string subject;
    std::string payload;
    uint64_t seq;
  };
  std::vector<Document> documents;
  const bool complete = configs_->Read(
      ranges,
      [&](const rd_kafka_message_t& m) {
        const std::string subject = SubjectOf(m, "config.pricing.");
        if (subject.starts_with("config.applied.")) {
          const std::string seq = KafkaHeader(m, "Pricing-Config-Seq");
          if (!seq.empty()) operator_.SetAnswered(subject.substr(15), std::stoull(seq));
        } else if (subject.starts_with("config.pricing.")) {
          documents.push_back(
              {subject, std::string(Payload(m)), static_cast<uint64_t>(m.offset) + 1});
        }
      },
      kRecoveryTimeoutMs);
  if (!complete)
    throw std::runtime_error("kafka: reading the history of " + configs_->topic() +
                             " stalled for 15 s");
  for (const Document& d : documents) {
    operator_.OnConfig(d.subject, d.payload, d.seq, &actions_);
    Execute();
  }
  PRICING_LOG(kInfo) << "kafka: " << documents.size() << " configuration documents in "
                     << configs_->topic();
}

void KafkaProcessor::PollConfigs() {
  if (!configs_) return;  // stage 1: no configuration to follow
  while (KafkaPtr<rd_kafka_message_t> m = configs_->Poll(0)) HandleConfig(*m);
}

void KafkaProcessor::RestoreCheckpoints() {
  KafkaReader reader(config_.kafka.brokers, config_.kafka.checkpoint_topic,
                     "pricing-processor-recovery");
  std::map<std::string, std::string, std::less<>> last;  // by subject
  if (!reader.Read(
          reader.Retained(kRecoveryTimeoutMs),
          [&](const rd_kafka_message_t& m) {
            const std::string subject = SubjectOf(m, std::string(kStatePrefix));
            if (!subject.starts_with(kStatePrefix)) return;
            if (m.payload == nullptr) {
              last.erase(subject);  // a tombstone: no checkpoint
            } else {
              last[subject] = std::string(Payload(m));
            }
          },
          kRecoveryTimeoutMs))
    throw std::runtime_error("kafka: reading " + reader.topic() + " stalled for 15 s");
  for (const auto& [key, engine] : engine_.cities()) {
    // Stage 1's checkpoints are its partition's (pricing.state.<city>.p<P>).
    const auto it = last.find(CheckpointSubject(
        key, config_.stage == PricingStage::kCount ? static_cast<int32_t>(config_.partition) : -1));
    operator_.Restore(key,
                      it == last.end() ? std::nullopt : std::optional<std::string_view>(it->second),
                      clock_.NowMs());
  }
}

void KafkaProcessor::Rebuild() {
  const int64_t started_ms = clock_.NowMs();
  KafkaReader reader(config_.kafka.brokers, input_topic_, "pricing-processor-rebuild");
  std::vector<PartitionRange> ranges = reader.Retained(kRecoveryTimeoutMs);
  // A count stage's window holds one partition's events.
  if (input_.partition >= 0)
    std::erase_if(ranges, [&](const PartitionRange& r) { return r.partition != input_.partition; });
  // What the group committed: everything before it was handled by an earlier run.
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size()));
  for (const PartitionRange& r : ranges)
    rd_kafka_topic_partition_list_add(list, input_topic_.c_str(), r.partition);
  // A group coordinator that is still loading, or moving, answers again shortly.
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int attempt = 0; attempt < 30; ++attempt) {
    err = rd_kafka_committed(consumer_.get(), list, kRecoveryTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NOT_COORDINATOR &&
        err != RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS &&
        err != RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE && err != RD_KAFKA_RESP_ERR__TIMED_OUT)
      break;
    PRICING_LOG(kInfo) << "kafka: the committed offsets of group " << input_.group
                       << " are not readable yet (" << rd_kafka_err2str(err) << "); retrying";
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_topic_partition_list_destroy(list);
    throw std::runtime_error("kafka: reading the committed offsets of group " + input_.group +
                             ": " + rd_kafka_err2str(err));
  }
  bool any = false;
  for (PartitionRange& r : ranges) {
    const rd_kafka_topic_partition_t* p =
        rd_kafka_topic_partition_list_find(list, input_topic_.c_str(), r.partition);
    const int64_t committed = p != nullptr && p->offset >= 0 ? p->offset : -1;
    // Offsets below the committed one were acknowledged: sequence (offset + 1) up to it.
    operator_.BeginRebuild({static_cast<uint64_t>(std::max<int64_t>(committed, 0)), r.partition});
    if (committed >= 0) next_offset_[r.partition] = committed;  // where the group goes on
    rebuilt_committed_[r.partition] = committed;
    r.until = committed < 0 ? r.from : std::clamp(committed, r.from, r.until);
    any = any || r.until > r.from;
  }
  rd_kafka_topic_partition_list_destroy(list);
  const int64_t committed_ms = clock_.NowMs();
  uint64_t count = 0;
  if (any) {
    ranges = reader.From(ranges, operator_.RebuildFromMs(), kRecoveryTimeoutMs);
    // Where the re-reading of each partition is, and where it ends.
    std::map<int32_t, std::pair<int64_t, int64_t>> reading;
    for (const PartitionRange& r : ranges) reading[r.partition] = {r.from, r.until};
    const auto waiting = [&](int32_t q) {
      const auto it = reading.find(q);
      return it != reading.end() && it->second.first < it->second.second;
    };
    const bool complete = reader.Read(
        ranges,
        [&](const rd_kafka_message_t& m) {
          std::string subject;
          InputRecord record = RecordOf(m, &subject);
          reading[m.partition].first = m.offset + 1;
          read_stored_ms_[m.partition] = record.stored_ms;
          record.others_stored_ms = OthersStoredMs(m.partition, waiting);
          operator_.Rebuild(record, clock_.NowMs(), &actions_);
          Execute();
          ++count;
        },
        kRecoveryTimeoutMs);
    if (!complete)
      throw std::runtime_error("kafka: re-reading " + input_topic_ + " stalled for 15 s");
  }
  for (const auto& [key, engine] : engine_.cities())
    PRICING_LOG(kInfo) << "city " << key << ": next tick " << FormatUtc(engine->next_tick());
  PRICING_LOG(kInfo) << "re-read " << count << " events handled by an earlier run ("
                     << committed_ms - started_ms << " ms to read the committed offsets, "
                     << clock_.NowMs() - committed_ms << " ms to re-read)";
}

void KafkaProcessor::Handle(rd_kafka_message_t* msg) {
  int64_t low = 0, high = 0;
  // The consumer's lag from the cached high watermark: more waiting means a backlog,
  // read on the inputs' broker time. Unknown: assumed, as the safe side.
  const bool lag_known =
      rd_kafka_get_watermark_offsets(consumer_.get(), rd_kafka_topic_name(msg->rkt), msg->partition,
                                     &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      high > 0;
  std::string subject;
  InputRecord r = RecordOf(*msg, &subject);
  r.pending = lag_known ? static_cast<uint64_t>(std::max<int64_t>(0, high - msg->offset - 1)) : 1;
  offsets_.Received(msg->partition, msg->offset);
  next_offset_[msg->partition] = msg->offset + 1;
  read_stored_ms_[msg->partition] = r.stored_ms;
  if (r.pending > 0) {
    r.others_stored_ms = OthersStoredMs(msg->partition, [&](int32_t q) {
      int64_t lo = 0, hi = 0;
      if (rd_kafka_get_watermark_offsets(consumer_.get(), input_topic_.c_str(), q, &lo, &hi) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          hi < 0)
        return true;  // cannot tell: it may have more
      const auto it = next_offset_.find(q);
      const int64_t position = it != next_offset_.end()
                                   ? it->second
                                   : (config_.kafka.auto_offset_reset == "earliest" ? lo : hi);
      return hi > position;
    });
  }
  operator_.OnInput(r, clock_.NowMs(), &actions_);
  Execute();
}

int64_t KafkaProcessor::OthersStoredMs(int32_t partition,
                                       const std::function<bool(int32_t)>& waiting) const {
  int64_t low = INT64_MAX;
  if (input_.partition >= 0) return low;  // one partition: its own order is stored order
  for (int32_t q = 0; q < input_partitions_; ++q) {
    if (q == partition || !waiting(q)) continue;
    const auto it = read_stored_ms_.find(q);
    if (it == read_stored_ms_.end()) return 0;  // not read yet: no tick may close
    low = std::min(low, it->second);
  }
  return low;
}

bool KafkaProcessor::CaughtUp() {
  rd_kafka_topic_partition_list_t* parts = nullptr;
  if (rd_kafka_assignment(consumer_.get(), &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  bool caught_up =
      parts->cnt > 0 && rd_kafka_position(consumer_.get(), parts) == RD_KAFKA_RESP_ERR_NO_ERROR;
  // The barrier: each partition's high watermark asked of its leader once per due tick
  // (the consumer's cached one is as old as its last fetch, and a stalled fetch would
  // pass for caught up). Every event stored before the tick fell due is below it.
  const int64_t close_ms = engine_.NextCloseMs();
  if (caught_up && barrier_close_ms_ != close_ms) {
    barrier_.clear();
    for (int i = 0; i < parts->cnt; ++i) {
      const rd_kafka_topic_partition_t& p = parts->elems[i];
      int64_t low = 0, high = 0;
      const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          consumer_.get(), p.topic, p.partition, &low, &high, kBarrierTimeoutMs);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        WarnTicksWait(std::string("cannot read the end of ") + p.topic + " [" +
                      std::to_string(p.partition) + "]: " + rd_kafka_err2str(err));
        barrier_.clear();
        caught_up = false;
        break;
      }
      barrier_[p.partition] = high > low ? high : -1;  // -1: empty, nothing to wait for
    }
    if (caught_up) barrier_close_ms_ = close_ms;
  }
  for (int i = 0; caught_up && i < parts->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = parts->elems[i];
    const auto it = barrier_.find(p.partition);
    if (it == barrier_.end()) {
      caught_up = false;
      continue;
    }
    // Where reading is: after the last message read, else where the group committed
    // (a restart with nothing new), else librdkafka's position (RD_KAFKA_OFFSET_INVALID,
    // below any barrier, when nothing was read yet).
    const auto own = next_offset_.find(p.partition);
    const int64_t position = own != next_offset_.end() ? own->second : p.offset;
    if (it->second >= 0 && position < it->second) caught_up = false;
  }
  rd_kafka_topic_partition_list_destroy(parts);
  return caught_up;
}

void KafkaProcessor::WarnTicksWait(const std::string& why) {
  const int64_t now = clock_.NowMs();
  if (now - last_wait_warning_ms_ < 5000) return;
  last_wait_warning_ms_ = now;
  PRICING_LOG(kWarn) << "ticks wait: " << why;
}

void KafkaProcessor::OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<KafkaProcessor*>(opaque)->Rebalanced(err, parts);
}

void KafkaProcessor::Rebalanced(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* given) {
  const bool cooperative =
      std::string_view(rd_kafka_rebalance_protocol(consumer_.get())) == "COOPERATIVE";
  // The group gives out the lease: its holder reads the stage's partitions (a count
  // stage's one, or every one), and gives them up with the lease.
  KafkaPtr<rd_kafka_topic_partition_list_t> work(
      rd_kafka_topic_partition_list_new(std::max(1, input_partitions_)));
  if (given->cnt > 0) {
    for (int32_t p = 0; p < input_partitions_; ++p)
      if (input_.partition < 0 || input_.partition == p)
        rd_kafka_topic_partition_list_add(work.get(), input_topic_.c_str(), p);
  }
  rd_kafka_topic_partition_list_t* parts = work.get();
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    // Assigned after the rebuild: still this processor's only if nobody committed
    // anything of it since (else another processor went on from there).
    if (rebuilt_ && parts->cnt > 0 &&
        rd_kafka_committed(consumer_.get(), parts, kRecoveryTimeoutMs) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < parts->cnt; ++i) {
        const rd_kafka_topic_partition_t& p = parts->elems[i];
        const auto it = rebuilt_committed_.find(p.partition);
        const int64_t then = it == rebuilt_committed_.end() ? -1 : it->second;
        const int64_t now = p.offset >= 0 ? p.offset : -1;
        if (now != then) {
          PRICING_LOG(kWarn) << "kafka: assigned " << p.topic << " [" << p.partition
                             << "], which another processor took from offset " << then << " to "
                             << now << " since this one rebuilt: starting again";
          demoted_ = true;
        }
      }
    }
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_assign(consumer_.get(), parts);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(consumer_.get(), parts);
    }
  } else {
    // Revoked or lost: its entities are in this processor's window, which is no longer
    // the truth for the partitions it keeps.
    if (rebuilt_ && !closing_ && parts->cnt > 0) {
      PRICING_LOG(kWarn) << "kafka: " << parts->cnt << " partitions "
                         << (rd_kafka_assignment_lost(consumer_.get()) ? "lost" : "revoked")
                         << ": starting again";
      demoted_ = true;
    }
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_unassign(consumer_.get(), parts);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(consumer_.get(), nullptr);
    }
  }
  // What the consumer holds now, as it says (not counted here: cooperative and eager
  // rebalances change it differently).
  int held = 0;
  rd_kafka_topic_partition_list_t* now = nullptr;
  if (rd_kafka_assignment(consumer_.get(), &now) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    held = now->cnt;
    rd_kafka_topic_partition_list_destroy(now);
  }
  if (demoted_) {
    health_.SetRole(Role::kStandby, "starting again: another processor went on meanwhile");
    return;
  }
  health_.SetRole(held > 0 ? Role::kActive : Role::kStandby,
                  held > 0
                      ? ""
                      : "standby: another member of the consumer group " + input_.group +
                            " holds " + config_.kafka.lease_topic + " and reads " + input_topic_);
  PRICING_LOG(kInfo) << "kafka: " << (held > 0 ? "active" : "standby") << ", " << held
                     << " partitions of " << input_topic_;
}

void KafkaProcessor::Run(const std::atomic<bool>& stop) {
  Connect();
  HealthMonitor::LastTicks last_ticks;
  for (const auto& [key, engine] : engine_.cities())
    last_ticks.emplace_back(key, &operator_.city_counters(key)->last_stored_tick);
  health_.Start(std::make_unique<KafkaHealthProbe>(config_), std::move(last_ticks));
  // Stage 1 only counts: the model, and so config-updates, are stage 2's.
  if (config_.stage != PricingStage::kCount) RestoreConfigs();
  RestoreCheckpoints();
  Rebuild();
  rebuilt_ = true;
  if (config_.stage == PricingStage::kPrice) health_.SetPartitionsHolding("");
  PRICING_LOG(kInfo) << "processing " << input_topic_ << " (stage " << ToString(config_.stage)
                     << (config_.stage == PricingStage::kCount
                             ? " of partition " + std::to_string(config_.partition) + "/" +
                                   std::to_string(config_.partitions)
                             : std::string())
                     << ", group " << input_.group << ")";
  health_.Processing();
  int64_t last_error_log = 0;
  while (!stop.load() && !demoted_) {
    const int64_t now = clock_.NowMs();
    health_.Beat();
    // Until the next close, at most 50 ms; a due tick that waits for inputs still on
    // their way polls every few ms (a message ends the wait at once), never spins.
    const int wait =
        static_cast<int>(std::clamp<int64_t>(engine_.NextCloseMs() - now, kDueTickPollMs, 50));
    KafkaPtr<rd_kafka_message_t> msg(rd_kafka_consumer_poll(consumer_.get(), wait));
    // The poll ran the rebalance callback, which found this processor's state stale: not
    // one more tick from it, nor the message the same poll brought (it stays
    // uncommitted; the start again reads it).
    if (demoted_) break;
    if (!msg) {
      // Nothing came: ticks close on the wall clock, once nothing is on its way.
      if (operator_.TickDue(clock_.NowMs())) {
        operator_.OnTime(clock_.NowMs(), CaughtUp(), &actions_);
        Execute();
      }
    } else if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Handle(msg.get());
    } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && now - last_error_log > 5000) {
      last_error_log = now;
      PRICING_LOG(kWarn) << "kafka: consumer: " << rd_kafka_message_errstr(msg.get());
    }
    rd_kafka_poll(producer_.get(), 0);  // delivery reports
    ReportDeliveries();
    PollConfigs();
    if (config_.stage == PricingStage::kPrice) held_.Report(operator_, clock_.NowMs());
  }
  if (demoted_) {
    // Nothing more is produced or committed: the state is stale. Leaving the group now
    // hands the partitions on without waiting for the session timeout.
    closing_ = true;
    rd_kafka_consumer_close(consumer_.get());
    consumer_.reset();
    health_.Stop();
    return;
  }
  PRICING_LOG(kInfo) << "stopping: flushing " << rd_kafka_outq_len(producer_.get()) << " messages";
  const bool flushed = rd_kafka_flush(producer_.get(), 15000) == RD_KAFKA_RESP_ERR_NO_ERROR;
  ReportDeliveries();  // dead letters stored: their offsets may be committed now
  rd_kafka_flush(producer_.get(), 5000);
  ReportDeliveries();
  rd_kafka_commit(consumer_.get(), nullptr, 0);  // what was handled, synchronously
  closing_ = true;
  rd_kafka_consumer_close(consumer_.get());
  consumer_.reset();
  health_.Stop();
  PRICING_LOG(kInfo) << (flushed ? "all messages stored" : "some messages were not stored in time");
}

}  // namespace pricing
