#include "transport/kafka_reader.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <stdexcept>

#include "common/log.h"

namespace pricing {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

}  // namespace

std::string KafkaHeader(const rd_kafka_message_t& m, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_message_headers(const_cast<rd_kafka_message_t*>(&m), &headers) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr)
    return "";
  return std::string(static_cast<const char*>(value), size);
}

KafkaReader::KafkaReader(const std::string& brokers, std::string topic,
                         const std::string& client_id)
    : topic_(std::move(topic)) {
  static std::atomic<int> serial{0};
  KafkaConf conf;
  // A group id of its own, never joined (assign, not subscribe) and never committed to:
  // librdkafka's consumer queue needs one.
  conf.Set("bootstrap.servers", brokers)
      .Set("client.id", client_id)
      .Set("group.id", "pricing-reader-" + std::to_string(::getpid()) + "-" +
                           std::to_string(serial.fetch_add(1)))
      .Set("enable.auto.commit", "false")
      .Set("enable.auto.offset.store", "false")
      .Set("enable.partition.eof", "true")
      .Set("fetch.wait.max.ms", "50")
      .Set("socket.nagle.disable", "true");
  rk_ = conf.Client(RD_KAFKA_CONSUMER);
  rd_kafka_poll_set_consumer(rk_.get());
}

KafkaReader::~KafkaReader() {
  if (rk_) rd_kafka_consumer_close(rk_.get());
}

std::vector<PartitionRange> KafkaReader::Retained(int timeout_ms) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk_.get(), topic_.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_.get(), 0, t, &md, timeout_ms);
  rd_kafka_topic_destroy(t);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("kafka: reading the metadata of " + topic_ + ": " +
                             rd_kafka_err2str(err));
  std::vector<PartitionRange> out;
  const rd_kafka_resp_err_t topic_err =
      md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
  if (topic_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < md->topics[0].partition_cnt; ++i)
      out.push_back({md->topics[0].partitions[i].id, 0, 0});
  }
  rd_kafka_metadata_destroy(md);
  if (out.empty())
    throw std::runtime_error("kafka: topic " + topic_ + " is not there (" +
                             rd_kafka_err2str(topic_err) +
                             "): create the topics with `pricing streams apply`");
  for (PartitionRange& r : out) {
    const rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
        rk_.get(), topic_.c_str(), r.partition, &r.from, &r.until, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error("kafka: reading the offsets of " + topic_ + " [" +
                               std::to_string(r.partition) + "]: " + rd_kafka_err2str(e));
  }
  return out;
}

std::vector<PartitionRange> KafkaReader::From(std::vector<PartitionRange> ranges, int64_t ms,
                                              int timeout_ms) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
  for (const PartitionRange& r : ranges)
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), r.partition)->offset = ms;
  const rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk_.get(), list.get(), timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("kafka: finding the offsets of " + topic_ +
                             " by time: " + rd_kafka_err2str(err));
  for (PartitionRange& r : ranges) {
    const rd_kafka_topic_partition_t* p =
        rd_kafka_topic_partition_list_find(list.get(), topic_.c_str(), r.partition);
    if (p == nullptr || p->err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error(
          "kafka: finding the offset of " + topic_ + " [" + std::to_string(r.partition) +
          "] by time: " + rd_kafka_err2str(p ? p->err : RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION));
    // -1: every message is older. An answer that is still the timestamp was not
    // answered at all (librdkafka leaves the input in place).
    if (p->offset == ms) throw std::runtime_error("kafka: no offset by time for " + topic_);
    r.from = p->offset < 0 ? r.until : std::min(std::max(p->offset, r.from), r.until);
  }
  return ranges;
}

void KafkaReader::Assign(const std::vector<PartitionRange>& ranges) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
  for (const PartitionRange& r : ranges)
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), r.partition)->offset = r.from;
  const rd_kafka_resp_err_t err = rd_kafka_assign(rk_.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("kafka: assigning " + topic_ + ": " + rd_kafka_err2str(err));
}

void KafkaReader::Follow(const std::vector<PartitionRange>& ranges) { Assign(ranges); }

bool KafkaReader::Read(const std::vector<PartitionRange>& ranges,
                       const std::function<void(const rd_kafka_message_t&)>& fn, int idle_ms) {
  std::map<int32_t, int64_t> open;  // partition -> until, while unfinished
  for (const PartitionRange& r : ranges)
    if (r.from < r.until) open[r.partition] = r.until;
  Assign(ranges);
  int64_t last_progress = SteadyMs();
  while (!open.empty()) {
    KafkaPtr<rd_kafka_message_t> m(rd_kafka_consumer_poll(rk_.get(), 100));
    if (!m) {
      if (SteadyMs() - last_progress > idle_ms) return false;
      continue;
    }
    const auto it = open.find(m->partition);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (it != open.end() && m->offset >= it->second) open.erase(it);
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const int64_t now = SteadyMs();
      if (now - last_error_log_ms_ > 5000) {
        last_error_log_ms_ = now;
        PRICING_LOG(kWarn) << "kafka: reading " << topic_ << ": "
                           << rd_kafka_message_errstr(m.get());
      }
      continue;
    }
    last_progress = SteadyMs();
    if (it == open.end() || m->offset >= it->second) continue;  // past its range
    fn(*m);
    if (m->offset + 1 >= it->second) open.erase(it);
  }
  return true;
}

KafkaPtr<rd_kafka_message_t> KafkaReader::Poll(int timeout_ms) {
  while (true) {
    KafkaPtr<rd_kafka_message_t> m(rd_kafka_consumer_poll(rk_.get(), timeout_ms));
    if (!m || m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return m;
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      const int64_t now = SteadyMs();
      if (now - last_error_log_ms_ > 5000) {
        last_error_log_ms_ = now;
        PRICING_LOG(kWarn) << "kafka: following " << topic_ << ": "
                           << rd_kafka_message_errstr(m.get());
      }
    }
    timeout_ms = 0;  // an event was there: only take what else is
  }
}

}  // namespace pricing
