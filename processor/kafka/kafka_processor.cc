#include "kafka/kafka_processor.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "common/log.h"
#include "engine/outputs.h"
#include "events/subject.h"

namespace pricing {
namespace {

constexpr const char* kEventsStream = "LOCATION_EVENTS";
constexpr const char* kDeadLetterStream = "DEAD_LETTERS";

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
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(headers, "subject", &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        value != nullptr)
      return std::string(static_cast<const char*>(value), size);
  }
  const std::string key =
      msg->key ? std::string(static_cast<const char*>(msg->key), msg->key_len) : "";
  const std::string_view payload(static_cast<const char*>(msg->payload), msg->len);
  if (payload.find("\"driver_id\"") != std::string_view::npos) return "location.driver." + key;
  if (payload.find("\"request_id\"") != std::string_view::npos) return "location.request." + key;
  return "location.unknown." + key;  // refused by the decoder, dead-lettered
}

KafkaProcessor::KafkaProcessor(const Config& config, const Clock& clock)
    : config_(config),
      clock_(clock),
      engine_(config, clock),
      metrics_(MetricsOptions{config.http.zone_metrics,
                              static_cast<std::size_t>(config.http.max_zone_metrics)}) {
  metrics_.AddScrapeHook([this] {
    metrics_.PublishTotals(
        counters_.produced.load(), counters_.produce_errors.load(), 0, 0,
        counters_.produce_errors.load(),
        producer_ ? static_cast<uint64_t>(rd_kafka_outq_len(producer_.get())) : 0);
  });
}

KafkaProcessor::~KafkaProcessor() {
  if (consumer_) rd_kafka_consumer_close(consumer_.get());
}

bool KafkaProcessor::alive() const {
  const int64_t beat = loop_heartbeat_ms_.load();
  return beat != 0 && clock_.NowMs() - beat < kStallSeconds * 1000;
}

void KafkaProcessor::Connect() {
  KafkaConf pc;
  pc.Set("bootstrap.servers", config_.kafka.brokers)
      .Set("client.id", "pricing-processor")
      // Retries within a session never duplicate or reorder (implies acks=all).
      .Set("enable.idempotence", "true")
      .Set("linger.ms", std::to_string(config_.kafka.linger_ms))
      .Set("socket.nagle.disable", "true");
  rd_kafka_conf_set_dr_msg_cb(pc.get(), &KafkaProcessor::OnDelivery);
  rd_kafka_conf_set_opaque(pc.get(), this);
  producer_ = pc.Client(RD_KAFKA_PRODUCER);

  KafkaConf cc;
  cc.Set("bootstrap.servers", config_.kafka.brokers)
      .Set("client.id", "pricing-processor")
      .Set("group.id", config_.kafka.group_id)
      // An event's offset is stored once it is applied; stored offsets are committed
      // every second: at least once.
      .Set("enable.auto.offset.store", "false")
      .Set("enable.auto.commit", "true")
      .Set("auto.commit.interval.ms", "1000")
      .Set("auto.offset.reset", config_.kafka.auto_offset_reset)
      .Set("fetch.wait.max.ms", std::to_string(config_.kafka.fetch_wait_max_ms))
      .Set("socket.nagle.disable", "true");
  consumer_ = cc.Client(RD_KAFKA_CONSUMER);
  rd_kafka_poll_set_consumer(consumer_.get());
  const std::string topic = TopicForStream(kEventsStream);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("kafka: subscribing to " + topic + ": " + rd_kafka_err2str(err));
  PRICING_LOG(kInfo) << "kafka: consuming " << topic << " as group " << config_.kafka.group_id
                     << " from " << config_.kafka.brokers;
}

std::string KafkaProcessor::TopicFor(const std::string& subject) const {
  for (const StreamConfig& s : config_.streams) {
    for (const std::string& pattern : s.subjects)
      if (SubjectMatches(pattern, subject)) return TopicForStream(s.name);
  }
  return TopicForStream(kDeadLetterStream);  // no stream takes it: never dropped silently
}

void KafkaProcessor::Produce(const std::string& topic, const std::string& key,
                             const std::string& subject, const std::string& msg_id,
                             const std::string& payload,
                             const std::vector<std::pair<std::string, std::string>>& extra) {
  while (true) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(2 + extra.size());
    rd_kafka_header_add(headers, "subject", -1, subject.data(),
                        static_cast<ssize_t>(subject.size()));
    rd_kafka_header_add(headers, "msg-id", -1, msg_id.data(), static_cast<ssize_t>(msg_id.size()));
    for (const auto& [k, v] : extra)
      rd_kafka_header_add(headers, k.c_str(), -1, v.data(), static_cast<ssize_t>(v.size()));
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // the headers belong to the message now
    rd_kafka_headers_destroy(headers);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer_.get(), 10);  // deliveries make room
      continue;
    }
    ++counters_.produce_errors;
    PRICING_LOG(kError) << "kafka: producing to " << topic << " failed: " << rd_kafka_err2str(err);
    return;
  }
}

void KafkaProcessor::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<KafkaProcessor*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->counters_.produced;
    return;
  }
  // The idempotent producer has retried for message.timeout.ms already.
  ++self->counters_.produce_errors;
  PRICING_LOG(kError) << "kafka: a message to " << rd_kafka_topic_name(m->rkt)
                      << " was not stored: " << rd_kafka_err2str(m->err);
}

void KafkaProcessor::CloseTicks(int64_t watermark_ms) {
  if (watermark_ms < engine_.NextCloseMs()) return;
  for (TickResult& tick : engine_.AdvanceWatermark(watermark_ms)) {
    CityEngine* engine = engine_.city(tick.city);
    for (const OutputMessage& m : EncodeTick(tick, engine->zones()))
      Produce(TopicFor(m.subject), LastToken(m.subject), m.subject, m.msg_id, m.payload);
    ++counters_.ticks_closed;
    metrics_.Tick(tick, engine->zones());
  }
}

void KafkaProcessor::Handle(rd_kafka_message_t* msg) {
  const std::string subject = KafkaInputSubject(msg);
  rd_kafka_timestamp_type_t type;
  const int64_t stored_ms = rd_kafka_message_timestamp(msg, &type);
  // Reading a backlog, time is the events' broker time: ticks close as they would
  // have live. Caught up, that is the wall clock give or take a fetch.
  const int64_t now = stored_ms > 0 ? std::min(clock_.NowMs(), stored_ms) : clock_.NowMs();
  CloseTicks(now);
  const std::string_view payload(static_cast<const char*>(msg->payload), msg->len);
  const IngestOutcome outcome =
      engine_.Ingest(subject, payload, static_cast<uint64_t>(msg->offset) + 1, now);
  metrics_.EventRead(outcome.city, outcome.kind);
  if (outcome.ok()) {
    ++counters_.events_applied;
  } else {
    ++counters_.events_rejected;
    metrics_.EventRejected(outcome.city, outcome.reason);
    const std::string city = outcome.city.empty() ? "unknown" : std::string(outcome.city);
    const std::string id = TopicForStream(kEventsStream) + ":" + std::to_string(msg->partition) +
                           ":" + std::to_string(msg->offset);
    Produce(TopicForStream(kDeadLetterStream), city, DeadLetterSubject(outcome.city), id,
            std::string(payload),
            {{"Pricing-Reject-Reason", std::string(ToString(outcome.reason))},
             {"Pricing-Reject-Detail", outcome.detail},
             {"Pricing-Original-Subject", subject}});
    metrics_.DeadLettered(city);
  }
  // Applied (or dead-lettered): its offset may be committed.
  rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset);
}

void KafkaProcessor::Run(const std::atomic<bool>& stop) {
  Connect();
  loop_heartbeat_ms_ = clock_.NowMs();
  int64_t last_error_log = 0;
  while (!stop.load()) {
    const int64_t now = clock_.NowMs();
    loop_heartbeat_ms_.store(now, std::memory_order_relaxed);
    const int wait = static_cast<int>(std::clamp<int64_t>(engine_.NextCloseMs() - now, 0, 50));
    KafkaPtr<rd_kafka_message_t> msg(rd_kafka_consumer_poll(consumer_.get(), wait));
    if (!msg) {
      CloseTicks(clock_.NowMs());  // caught up: ticks close on the wall clock
    } else if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Handle(msg.get());
    } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && now - last_error_log > 5000) {
      last_error_log = now;
      PRICING_LOG(kWarn) << "kafka: consumer: " << rd_kafka_message_errstr(msg.get());
    }
    rd_kafka_poll(producer_.get(), 0);  // delivery reports
  }
  PRICING_LOG(kInfo) << "stopping: flushing " << rd_kafka_outq_len(producer_.get()) << " messages";
  const bool flushed = rd_kafka_flush(producer_.get(), 15000) == RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_commit(consumer_.get(), nullptr, 0);  // what was applied, synchronously
  rd_kafka_consumer_close(consumer_.get());
  consumer_.reset();
  PRICING_LOG(kInfo) << (flushed ? "all messages stored" : "some messages were not stored in time");
}

}  // namespace pricing
