// Kafka through librdkafka, against a real broker list or against librdkafka's mock
// cluster (run by `kafka_mock_cluster`, in its own process). One producer, one
// consumer assigned every partition from the beginning, a topic of its own per cell.
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "perf/backend.h"
#include "perf/schedule.h"
#include "transport/kafka_handles.h"

namespace pricing::perf {
namespace {

class KafkaBackend : public Backend {
 public:
  KafkaBackend(const Endpoints& e, bool fsync, bool group)
      : fsync_(fsync),
        group_(group),
        brokers_(e.kafka_brokers),
        is_mock_(e.kafka_is_mock),
        replication_(e.kafka_replication),
        create_topic_(e.kafka_create_topic) {}
  ~KafkaBackend() override { Close(); }

  std::string Label() const override {
    if (is_mock_)
      return fsync_ ? "kafka-mock-fsync (in-memory, no replication)"
                    : "kafka-mock (in-memory, no replication)";
    if (group_) return "kafka-group";
    return fsync_ ? "kafka-fsync" : "kafka";
  }
  std::string Durability() const override {
    if (is_mock_) {
      return "librdkafka's mock cluster: in memory in one process, every broker on one "
             "thread, acks=all is accepted but nothing is replicated or written to disk";
    }
    if (fsync_) {
      return "acks=all, replication factor " + std::to_string(replication_) +
             ", topic flush.messages=1: acknowledged once every in-sync replica has written "
             "and fsynced it";
    }
    return "acks=all, replication factor " + std::to_string(replication_) +
           ": acknowledged once every in-sync replica has it; Kafka does not fsync per "
           "message by default, so an ack means in the page cache of the in-sync replicas";
  }
  bool HasAcks() const override { return true; }
  std::string Consumer() const override {
    if (group_) {
      return "a consumer group (subscribe), each offset stored once received and committed "
             "every second, as pricing run commits";
    }
    return "a consumer assigned every partition: no group, no offset commits";
  }
  std::string Leader() const override {
    if (!producer_ || topic_handle_ == nullptr) return "";
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(producer_.get(), 0, topic_handle_, &md, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
      return "";
    std::string leader;
    if (md->topic_cnt == 1 && md->topics[0].partition_cnt > 0 &&
        md->topics[0].partitions[0].leader >= 0)
      leader = "kafka-" + std::to_string(md->topics[0].partitions[0].leader);
    rd_kafka_metadata_destroy(md);
    return leader;
  }

  void Open(const CellSpec& cell, OnReceive on_receive, OnAck on_ack) override {
    on_receive_ = std::move(on_receive);
    on_ack_ = std::move(on_ack);
    static std::atomic<int> cells{0};
    topic_ = "perf-" + std::to_string(::getpid()) + "-" + std::to_string(cells++);
    const bool tuned = cell.profile == Profile::kTuned;

    KafkaConf pc;
    pc.Set("bootstrap.servers", brokers_).Set("acks", "all");  // the durability compared
    if (tuned) pc.Set("linger.ms", "0").Set("socket.nagle.disable", "true");
    // OMB's Kafka driver (its latency workloads): a short linger, large batches.
    if (cell.profile == Profile::kOmb) pc.Set("linger.ms", "1").Set("batch.size", "131072");
    rd_kafka_conf_set_dr_msg_cb(pc.get(), &KafkaBackend::OnDelivery);
    rd_kafka_conf_set_opaque(pc.get(), this);
    producer_ = pc.Client(RD_KAFKA_PRODUCER);
    const std::string err = create_topic_
                                ? create_topic_(topic_, cell.partitions, replication_)
                                : KafkaAdminTopic(producer_.get(), topic_, cell.partitions,
                                                  replication_, /*create=*/true, TopicConfigs());
    if (!err.empty()) throw std::runtime_error("kafka: creating topic " + topic_ + ": " + err);
    topic_created_ = true;
    topic_handle_ = rd_kafka_topic_new(producer_.get(), topic_.c_str(), nullptr);

    KafkaConf cc;
    cc.Set("bootstrap.servers", brokers_)
        .Set("group.id", topic_)
        .Set("enable.auto.commit", "false");  // offsets are not the subject here
    if (tuned) {
      // The broker answers a fetch at once when data is there; this bounds the wait
      // of an empty one (the mock cluster always waits it out).
      cc.Set("fetch.wait.max.ms", "1").Set("fetch.error.backoff.ms", "1");
      cc.Set("socket.nagle.disable", "true");
    }
    if (group_) {
      // As pricing run: offsets stored by hand once a message is handled, committed by
      // librdkafka every second.
      cc.Set("group.id", topic_ + "-group")
          .Set("enable.auto.offset.store", "false")
          .Set("enable.auto.commit", "true")
          .Set("auto.commit.interval.ms", "1000")
          .Set("auto.offset.reset", "earliest");
    }
    consumer_ = cc.Client(RD_KAFKA_CONSUMER);
    if (group_) {
      Subscribe();
    } else {
      rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(cell.partitions);
      for (int p = 0; p < cell.partitions; ++p) {
        rd_kafka_topic_partition_list_add(parts, topic_.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
      }
      const rd_kafka_resp_err_t aerr = rd_kafka_assign(consumer_.get(), parts);
      rd_kafka_topic_partition_list_destroy(parts);
      if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw std::runtime_error(std::string("kafka: assigning partitions: ") +
                                 rd_kafka_err2str(aerr));
    }

    stop_ = false;
    consumer_thread_ = std::thread([this] { ConsumeLoop(); });
    poller_ = std::thread([this] {
      while (!stop_) rd_kafka_poll(producer_.get(), 50);  // delivery reports
    });
  }

  bool Send(int partition, const std::string& payload) override {
    while (true) {
      const int r =
          rd_kafka_produce(topic_handle_, partition, RD_KAFKA_MSG_F_COPY,
                           const_cast<char*>(payload.data()), payload.size(), nullptr, 0, nullptr);
      if (r == 0) return true;
      // The producer's queue is full: wait for room, as the JetStream window does.
      if (rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      return false;
    }
  }

  void Flush(int64_t timeout_ms) override {
    if (producer_) rd_kafka_flush(producer_.get(), static_cast<int>(timeout_ms));
  }

  void Close() override {
    stop_ = true;
    if (consumer_thread_.joinable()) consumer_thread_.join();
    if (poller_.joinable()) poller_.join();
    if (consumer_) {
      rd_kafka_consumer_close(consumer_.get());
      consumer_.reset();
    }
    if (topic_handle_ != nullptr) {
      rd_kafka_topic_destroy(topic_handle_);
      topic_handle_ = nullptr;
    }
    // (The mock cluster cannot delete topics; it goes away with its process.)
    if (producer_ && topic_created_ && !create_topic_) {
      const std::string err = KafkaAdminTopic(producer_.get(), topic_, 0, 0, false);
      if (!err.empty())
        std::fprintf(stderr, "kafka: deleting topic %s: %s\n", topic_.c_str(), err.c_str());
    }
    topic_created_ = false;
    producer_.reset();
  }

 private:
  // Joins the cell's group and waits until it was given the partitions (at most 30 s).
  void Subscribe() {
    rd_kafka_topic_partition_list_t* t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic_.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), t);
    rd_kafka_topic_partition_list_destroy(t);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error(std::string("kafka: subscribing: ") + rd_kafka_err2str(err));
    const int64_t deadline = MonoNowNs() + 30'000'000'000;
    while (MonoNowNs() < deadline) {
      // Nothing is sent yet: a poll only drives the join.
      if (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_.get(), 100))
        rd_kafka_message_destroy(m);
      rd_kafka_topic_partition_list_t* assigned = nullptr;
      if (rd_kafka_assignment(consumer_.get(), &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const bool ready = assigned->cnt > 0;
        rd_kafka_topic_partition_list_destroy(assigned);
        if (ready) return;
      }
    }
    throw std::runtime_error("kafka: the group was given no partitions of " + topic_ +
                             " within 30 s");
  }

  std::vector<std::pair<std::string, std::string>> TopicConfigs() const {
    if (!fsync_) return {};
    return {{"flush.messages", "1"}};
  }

  void ConsumeLoop() {
    while (!stop_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_.get(), 50);
      if (m == nullptr) continue;
      const int64_t now = MonoNowNs();
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        on_receive_(m->payload, m->len, now);
        if (group_) rd_kafka_offset_store(m->rkt, m->partition, m->offset);
      }
      rd_kafka_message_destroy(m);
    }
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    const int64_t now = MonoNowNs();
    auto* self = static_cast<KafkaBackend*>(opaque);
    self->on_ack_(m->payload, m->len, now, m->err == RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  bool fsync_;
  bool group_;
  std::string brokers_;
  bool is_mock_;
  int replication_;
  Endpoints::TopicCreator create_topic_;
  std::string topic_;
  OnReceive on_receive_;
  OnAck on_ack_;
  KafkaPtr<rd_kafka_t> producer_, consumer_;
  rd_kafka_topic_t* topic_handle_ = nullptr;
  bool topic_created_ = false;
  std::atomic<bool> stop_{false};
  std::thread consumer_thread_, poller_;
};

}  // namespace

std::unique_ptr<Backend> MakeKafkaBackend(const Endpoints& endpoints, bool fsync, bool group) {
  return std::make_unique<KafkaBackend>(endpoints, fsync, group);
}

}  // namespace pricing::perf
