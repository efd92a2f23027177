#include "kafka/kafka_health_probe.h"

#include <algorithm>
#include <map>

namespace pricing {

KafkaHealthProbe::KafkaHealthProbe(const Config& config)
    : config_(config),
      // Each request waits at most a second (or the interval): a round stays short
      // with the brokers gone, so readiness follows the cluster.
      timeout_ms_(static_cast<int>(
          std::clamp<int64_t>(config.health_check_interval_seconds * 1000, 200, 1000))),
      input_(KafkaStageInputOf(config)) {
  for (const TopicSpec& t : KafkaTopicSpecs(config)) topics_.push_back(t.name);
  KafkaConf c;
  c.Set("bootstrap.servers", config.kafka.brokers)
      .Set("client.id", "pricing-health")
      .Set("group.id", input_.group)  // to read its committed offsets
      .Set("enable.auto.commit", "false")
      .Set("socket.nagle.disable", "true");
  client_ = c.Client(RD_KAFKA_CONSUMER);
}

void KafkaHealthProbe::Probe(HealthSnapshot* s) {
  s->connection_check = "kafka_connected";
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(client_.get(), 1, nullptr, &md, timeout_ms_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    s->connected = false;
    for (const std::string& t : topics_) s->missing_streams.push_back(t + " (not checked)");
    s->consumer_error = std::string("no broker answered: ") + rd_kafka_err2str(err);
    return;
  }
  s->connected = md->broker_cnt > 0;
  std::map<std::string, int> partitions;  // the topics the cluster has, error-free
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR) partitions[t.topic] = t.partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  for (const std::string& t : topics_)
    if (!partitions.contains(t)) s->missing_streams.push_back(t);
  const auto input = partitions.find(input_.topic);
  if (input == partitions.end()) {
    s->consumer_error = input_.topic + " is missing";
    return;
  }
  uint64_t lag = 0;
  if (GroupLag(input->second, &lag, &s->consumer_error)) s->consumer_pending = lag;
}

bool KafkaHealthProbe::GroupLag(int partitions, uint64_t* lag, std::string* error) {
  KafkaPtr<rd_kafka_topic_partition_list_t> list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    // A count stage's lag is on its own partition.
    if (input_.partition < 0 || input_.partition == p)
      rd_kafka_topic_partition_list_add(list.get(), input_.topic.c_str(), p);
  }
  rd_kafka_resp_err_t err = rd_kafka_committed(client_.get(), list.get(), timeout_ms_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    *error = "group " + input_.group + ": " + rd_kafka_err2str(err);
    return false;
  }
  *lag = 0;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    int64_t low = 0, high = 0;
    err = rd_kafka_query_watermark_offsets(client_.get(), input_.topic.c_str(), p.partition, &low,
                                           &high, timeout_ms_);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      *error =
          input_.topic + " partition " + std::to_string(p.partition) + ": " + rd_kafka_err2str(err);
      return false;
    }
    // Without a committed offset the group starts where auto_offset_reset says.
    const int64_t from =
        p.offset >= 0 ? p.offset : (config_.kafka.auto_offset_reset == "earliest" ? low : high);
    *lag += static_cast<uint64_t>(std::max<int64_t>(0, high - std::max(from, low)));
  }
  return true;
}

}  // namespace pricing
