#include "transport/kafka_handles.h"

#include <cctype>
#include <stdexcept>

namespace pricing {

KafkaConf::KafkaConf() : conf_(rd_kafka_conf_new()) {}

KafkaConf::~KafkaConf() {
  if (conf_ != nullptr) rd_kafka_conf_destroy(conf_);
}

KafkaConf& KafkaConf::Set(const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf_, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
    throw std::runtime_error("kafka: " + key + "=" + value + ": " + err);
  return *this;
}

KafkaPtr<rd_kafka_t> KafkaConf::Client(rd_kafka_type_t type) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf_, err, sizeof err);
  if (rk == nullptr) throw std::runtime_error(std::string("kafka: creating a client: ") + err);
  conf_ = nullptr;  // rd_kafka_new owns it now
  return KafkaPtr<rd_kafka_t>(rk);
}

KafkaPtr<rd_kafka_t> IdempotentProducer(
    const std::string& brokers, const std::string& client_id, int64_t linger_ms,
    void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*), void* opaque) {
  KafkaConf c;
  c.Set("bootstrap.servers", brokers)
      .Set("client.id", client_id)
      .Set("enable.idempotence", "true")
      .Set("linger.ms", std::to_string(linger_ms))
      .Set("socket.nagle.disable", "true");
  rd_kafka_conf_set_dr_msg_cb(c.get(), on_delivery);
  rd_kafka_conf_set_opaque(c.get(), opaque);
  return c.Client(RD_KAFKA_PRODUCER);
}

std::string TopicForStream(const std::string& stream) {
  std::string t = stream;
  for (char& c : t)
    c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

std::string KafkaAdminTopic(rd_kafka_t* rk, const std::string& topic, int partitions,
                            int replication, bool create,
                            const std::vector<std::pair<std::string, std::string>>& configs) {
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
  char err[512];
  rd_kafka_AdminOptions_set_operation_timeout(opts, 10000, err, sizeof err);
  rd_kafka_AdminOptions_set_request_timeout(opts, 15000, err, sizeof err);
  rd_kafka_NewTopic_t* nt = nullptr;
  rd_kafka_DeleteTopic_t* dt = nullptr;
  std::string result;
  if (create) {
    nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, replication, err, sizeof err);
    if (nt == nullptr) result = err;
    for (const auto& [key, value] : configs) {
      if (nt == nullptr) break;
      if (rd_kafka_NewTopic_set_config(nt, key.c_str(), value.c_str()) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        result = "topic setting " + key + "=" + value + " refused";
        rd_kafka_NewTopic_destroy(nt);
        nt = nullptr;
      }
    }
    if (nt) rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
  } else {
    dt = rd_kafka_DeleteTopic_new(topic.c_str());
    rd_kafka_DeleteTopics(rk, &dt, 1, opts, q);
  }
  if (nt != nullptr || dt != nullptr) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 20000);
    if (ev == nullptr) {
      result = "no answer within 20 s";
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = rd_kafka_event_error_string(ev);
    } else {
      std::size_t n = 0;
      const rd_kafka_topic_result_t** res =
          create ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n)
                 : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
      for (std::size_t i = 0; i < n; ++i) {
        const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
            (create && e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
          continue;
        const char* text = rd_kafka_topic_result_error_string(res[i]);
        result = text ? text : rd_kafka_err2str(e);
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
  }
  if (nt) rd_kafka_NewTopic_destroy(nt);
  if (dt) rd_kafka_DeleteTopic_destroy(dt);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  return result;
}

}  // namespace pricing
