#include "sim/kafka_event_sink.h"

#include <memory>
#include <stdexcept>

#include "common/log.h"
#include "engine/partials.h"

namespace pricing {

KafkaEventSink::KafkaEventSink(const Config& config)
    : partitions_(static_cast<int32_t>(config.partitions)),
      topic_(TopicForStream("LOCATION_EVENTS")) {
  producer_ = IdempotentProducer(config.kafka.brokers, "pricing-simulator", config.kafka.linger_ms,
                                 &KafkaEventSink::OnDelivery, this);
  PRICING_LOG(kInfo) << "simulate: producing to " << topic_ << " on " << config.kafka.brokers
                     << (partitions_ > 1 ? ", each event in the partition of its driver or rider ("
                                           "partitions: " +
                                               std::to_string(partitions_) + ")"
                                         : std::string());
}

KafkaEventSink::~KafkaEventSink() {
  // Reports still queued own their callbacks: deliver what can be in a second, and
  // report the rest as not stored, before the producer goes.
  rd_kafka_flush(producer_.get(), 1000);
  rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(producer_.get(), 0);
}

void KafkaEventSink::Send(const SimEvent& event, OnStored on_stored) {
  const bool partitioned = partitions_ > 1;
  const std::size_t dot = event.subject.rfind('.');
  const std::string key =
      partitioned ? event.entity
                  : event.subject.substr(dot == std::string::npos ? 0 : dot + 1);  // city or id
  const int32_t partition =
      partitioned ? PartitionOf(event.entity, partitions_) : RD_KAFKA_PARTITION_UA;
  auto* callback = on_stored ? new OnStored(std::move(on_stored)) : nullptr;
  while (true) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(2);
    rd_kafka_header_add(headers, "subject", -1, event.subject.data(),
                        static_cast<ssize_t>(event.subject.size()));
    rd_kafka_header_add(headers, "msg-id", -1, event.msg_id.data(),
                        static_cast<ssize_t>(event.msg_id.size()));
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(event.payload.data()), event.payload.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(callback), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    rd_kafka_headers_destroy(headers);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer_.get(), 10);  // deliveries make room
      continue;
    }
    ++errors_;
    delete callback;
    PRICING_LOG(kError) << "simulate: producing to " << topic_ << ": " << rd_kafka_err2str(err);
    return;
  }
}

void KafkaEventSink::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<KafkaEventSink*>(opaque);
  std::unique_ptr<OnStored> callback(static_cast<OnStored*>(m->_private));
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // The idempotent producer retried for message.timeout.ms already.
    ++self->errors_;
    PRICING_LOG(kError) << "simulate: an event was not stored: " << rd_kafka_err2str(m->err);
    return;
  }
  ++self->acked_;
  if (callback && *callback) (*callback)();
}

void KafkaEventSink::Pump() { rd_kafka_poll(producer_.get(), 0); }

bool KafkaEventSink::Flush(int64_t timeout_ms) {
  const bool flushed =
      rd_kafka_flush(producer_.get(), static_cast<int>(timeout_ms)) == RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_poll(producer_.get(), 0);
  return flushed;
}

EventSink::Counts KafkaEventSink::counts() const {
  return {acked_, errors_, 0,
          static_cast<uint64_t>(std::max(0, rd_kafka_outq_len(producer_.get())))};
}

}  // namespace pricing
