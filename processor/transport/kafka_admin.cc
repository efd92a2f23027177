#include "transport/kafka_admin.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "common/config_error.h"
#include "common/log.h"
#include "transport/kafka_handles.h"

namespace pricing {
namespace {

constexpr int kRequestTimeoutMs = 15000;

struct AdminDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
  void operator()(rd_kafka_NewPartitions_t* p) const { rd_kafka_NewPartitions_destroy(p); }
  void operator()(rd_kafka_ConfigResource_t* r) const { rd_kafka_ConfigResource_destroy(r); }
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
template <typename T>
using AdminPtr = std::unique_ptr<T, AdminDeleter>;

// What a topic is now: partitions, replication (of its first partition) and settings.
struct TopicState {
  int32_t partitions = 0;
  int32_t replication = 0;
  std::map<std::string, std::string> configs;  // the ones this project manages
};

AdminPtr<rd_kafka_AdminOptions_t> Options(rd_kafka_t* rk) {
  AdminPtr<rd_kafka_AdminOptions_t> o(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY));
  char err[256];
  rd_kafka_AdminOptions_set_request_timeout(o.get(), kRequestTimeoutMs, err, sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(o.get(), kRequestTimeoutMs, err, sizeof err);
  return o;
}

// Waits for the admin result on `q`; throws on a request-level error.
AdminPtr<rd_kafka_event_t> Await(rd_kafka_queue_t* q, const std::string& what) {
  AdminPtr<rd_kafka_event_t> ev(rd_kafka_queue_poll(q, kRequestTimeoutMs + 5000));
  if (!ev) throw std::runtime_error("kafka: " + what + ": no answer within 20 s");
  if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("kafka: " + what + ": " + rd_kafka_event_error_string(ev.get()));
  return ev;
}

std::map<std::string, TopicState> Describe(rd_kafka_t* rk, const std::vector<TopicSpec>& topics) {
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &raw, kRequestTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error(std::string("kafka: reading the cluster's metadata: ") +
                             rd_kafka_err2str(err));
  AdminPtr<const rd_kafka_metadata_t> md(raw);
  std::map<std::string, TopicState> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR || t.partition_cnt == 0) continue;
    TopicState& s = out[t.topic];
    s.partitions = t.partition_cnt;
    s.replication = t.partitions[0].replica_cnt;
  }
  // The managed settings of the topics that exist.
  std::vector<AdminPtr<rd_kafka_ConfigResource_t>> owned;
  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const TopicSpec& spec : topics) {
    if (!out.contains(spec.name)) continue;
    owned.emplace_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, spec.name.c_str()));
    resources.push_back(owned.back().get());
  }
  if (resources.empty()) return out;
  AdminPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(rk));
  rd_kafka_DescribeConfigs(rk, resources.data(), resources.size(), Options(rk).get(), q.get());
  const auto ev = Await(q.get(), "describing topic settings");
  std::size_t n = 0;
  const rd_kafka_ConfigResource_t** res = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string name = rd_kafka_ConfigResource_name(res[i]);
    if (rd_kafka_ConfigResource_error(res[i]) != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error("kafka: describing topic " + name + ": " +
                               rd_kafka_ConfigResource_error_string(res[i]));
    std::size_t m = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(res[i], &m);
    for (std::size_t j = 0; j < m; ++j) {
      const char* value = rd_kafka_ConfigEntry_value(entries[j]);
      out[name].configs[rd_kafka_ConfigEntry_name(entries[j])] = value ? value : "";
    }
  }
  return out;
}

// Creates the topics; returns the names of those the cluster cannot place yet (too few
// brokers registered for their replication factor), throws on any other refusal.
std::vector<std::string> Create(rd_kafka_t* rk, const std::vector<const TopicSpec*>& specs) {
  std::vector<AdminPtr<rd_kafka_NewTopic_t>> owned;
  std::vector<rd_kafka_NewTopic_t*> topics;
  char err[512];
  for (const TopicSpec* s : specs) {
    rd_kafka_NewTopic_t* t =
        rd_kafka_NewTopic_new(s->name.c_str(), s->partitions, s->replication, err, sizeof err);
    if (t == nullptr) throw ConfigError("kafka topic " + s->name + ": " + err);
    owned.emplace_back(t);
    for (const auto& [k, v] : s->configs) rd_kafka_NewTopic_set_config(t, k.c_str(), v.c_str());
    topics.push_back(t);
  }
  AdminPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, topics.data(), topics.size(), Options(rk).get(), q.get());
  const auto ev = Await(q.get(), "creating topics");
  std::size_t n = 0;
  const rd_kafka_topic_result_t** res =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  std::vector<std::string> not_yet;
  for (std::size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const std::string name = rd_kafka_topic_result_name(res[i]);
    if (e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR) {
      not_yet.push_back(name);
      continue;
    }
    const char* text = rd_kafka_topic_result_error_string(res[i]);
    throw std::runtime_error("kafka: creating topic " + name + ": " +
                             (text ? text : rd_kafka_err2str(e)));
  }
  return not_yet;
}

void AddPartitions(rd_kafka_t* rk, const TopicSpec& spec) {
  char err[512];
  AdminPtr<rd_kafka_NewPartitions_t> p(rd_kafka_NewPartitions_new(
      spec.name.c_str(), static_cast<std::size_t>(spec.partitions), err, sizeof err));
  if (!p) throw ConfigError("kafka topic " + spec.name + ": " + err);
  rd_kafka_NewPartitions_t* raw = p.get();
  AdminPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(rk));
  rd_kafka_CreatePartitions(rk, &raw, 1, Options(rk).get(), q.get());
  const auto ev = Await(q.get(), "adding partitions to " + spec.name);
  std::size_t n = 0;
  const rd_kafka_topic_result_t** res =
      rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev.get()), &n);
  for (std::size_t i = 0; i < n; ++i) {
    if (rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error("kafka: adding partitions to " + spec.name + ": " +
                               rd_kafka_topic_result_error_string(res[i]));
  }
}

// Sets every managed setting of the topic (AlterConfigs replaces the topic's dynamic
// settings as a whole: those this project does not manage go back to the defaults).
void AlterSettings(rd_kafka_t* rk, const TopicSpec& spec) {
  AdminPtr<rd_kafka_ConfigResource_t> r(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, spec.name.c_str()));
  for (const auto& [k, v] : spec.configs)
    rd_kafka_ConfigResource_set_config(r.get(), k.c_str(), v.c_str());
  rd_kafka_ConfigResource_t* raw = r.get();
  AdminPtr<rd_kafka_queue_t> q(rd_kafka_queue_new(rk));
  rd_kafka_AlterConfigs(rk, &raw, 1, Options(rk).get(), q.get());
  const auto ev = Await(q.get(), "changing the settings of " + spec.name);
  std::size_t n = 0;
  const rd_kafka_ConfigResource_t** res =
      rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.get()), &n);
  for (std::size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(res[i]) != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error("kafka: changing the settings of " + spec.name + ": " +
                               rd_kafka_ConfigResource_error_string(res[i]));
  }
}

}  // namespace

std::vector<TopicSpec> KafkaTopicSpecs(const Config& config) {
  std::vector<TopicSpec> out;
  int32_t replication = 3;
  for (const StreamConfig& s : config.streams) {
    TopicSpec t;
    t.name = TopicForStream(s.name);
    t.partitions = s.name == "LOCATION_EVENTS" ? static_cast<int32_t>(config.kafka.partitions) : 1;
    t.replication = static_cast<int32_t>(s.replicas);
    t.configs["cleanup.policy"] = "delete";
    t.configs["retention.ms"] =
        s.max_age_seconds > 0 ? std::to_string(s.max_age_seconds * 1000) : "-1";
    if (s.name == "PRICING_UPDATES") replication = t.replication;
    out.push_back(std::move(t));
  }
  // The project's own topics, one partition each.
  const auto own = [&](const std::string& name, const char* cleanup, std::string retention_ms) {
    TopicSpec t;
    t.name = name;
    t.replication = replication;
    t.configs["cleanup.policy"] = cleanup;
    t.configs["retention.ms"] = std::move(retention_ms);
    out.push_back(std::move(t));
  };
  // The checkpoints: the last one per city is all a restart needs.
  own(config.kafka.checkpoint_topic, "compact", "-1");
  if (config.partitions > 1) {
    // Stage 1's counts, read by stage 2 (and again by its rebuild): kept as long as the
    // events they count, in one partition, in the order they were published.
    std::string retention = "-1";
    for (const TopicSpec& t : out)
      if (t.name == TopicForStream("LOCATION_EVENTS")) retention = t.configs.at("retention.ms");
    own(config.kafka.partials_topic, "delete", retention);
  }
  // Never written: each stage's consumer group hands its one partition to one process
  // at a time, the active one (KafkaStageInputOf).
  own(config.kafka.lease_topic, "delete", "3600000");
  return out;
}

KafkaStageInput KafkaStageInputOf(const Config& config) {
  KafkaStageInput in;
  switch (config.stage) {
    case PricingStage::kWhole:
      in.group = config.kafka.group_id;
      in.topic = TopicForStream("LOCATION_EVENTS");
      break;
    case PricingStage::kCount:
      in.group = config.kafka.group_id + "-p" + std::to_string(config.partition) + "of" +
                 std::to_string(config.partitions);
      in.topic = TopicForStream("LOCATION_EVENTS");
      in.partition = static_cast<int32_t>(config.partition);
      break;
    case PricingStage::kPrice:
      in.group = config.kafka.group_id + "-price";
      in.topic = config.kafka.partials_topic;
      break;
  }
  return in;
}

std::string_view ToString(TopicApplyResult::Action action) {
  switch (action) {
    case TopicApplyResult::Action::kCreated:
      return "created";
    case TopicApplyResult::Action::kUpdated:
      return "updated";
    case TopicApplyResult::Action::kUnchanged:
      break;
  }
  return "unchanged";
}

std::vector<TopicApplyResult> ApplyKafkaTopics(rd_kafka_t* rk, const std::vector<TopicSpec>& topics,
                                               int64_t deadline_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  std::map<std::string, TopicApplyResult> results;
  std::vector<TopicSpec> pending = topics;  // not created or checked yet
  while (true) {
    const std::map<std::string, TopicState> now = Describe(rk, pending);
    std::vector<const TopicSpec*> missing;
    for (const TopicSpec& spec : pending) {
      const auto it = now.find(spec.name);
      if (it == now.end()) {
        missing.push_back(&spec);
        continue;
      }
      TopicApplyResult& r = results[spec.name];
      r.name = spec.name;
      const TopicState& s = it->second;
      if (s.replication != spec.replication)
        throw ConfigError("kafka topic " + spec.name + ": replication factor " +
                          std::to_string(s.replication) + ", the configuration asks " +
                          std::to_string(spec.replication) +
                          "; Kafka changes it only by reassigning partitions, which this command "
                          "does not do");
      if (s.partitions > spec.partitions)
        throw ConfigError("kafka topic " + spec.name + ": " + std::to_string(s.partitions) +
                          " partitions, the configuration asks " + std::to_string(spec.partitions) +
                          "; Kafka cannot remove partitions");
      if (s.partitions < spec.partitions) {
        AddPartitions(rk, spec);
        r.changes.push_back("partitions: " + std::to_string(s.partitions) + " -> " +
                            std::to_string(spec.partitions));
      }
      bool settings_differ = false;
      for (const auto& [k, v] : spec.configs) {
        const auto c = s.configs.find(k);
        const std::string was = c == s.configs.end() ? "(unset)" : c->second;
        if (was == v) continue;
        settings_differ = true;
        r.changes.push_back(k + ": " + was + " -> " + v);
      }
      if (settings_differ) AlterSettings(rk, spec);
      if (!r.changes.empty()) r.action = TopicApplyResult::Action::kUpdated;
    }
    if (missing.empty()) break;
    const std::vector<std::string> not_yet = Create(rk, missing);
    std::vector<TopicSpec> again;
    for (const TopicSpec* spec : missing) {
      if (std::find(not_yet.begin(), not_yet.end(), spec->name) != not_yet.end()) {
        again.push_back(*spec);
        continue;
      }
      TopicApplyResult& r = results[spec->name];
      r.name = spec->name;
      r.action = TopicApplyResult::Action::kCreated;  // with the settings of its spec
    }
    pending = std::move(again);
    if (pending.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("kafka: topic " + not_yet.front() +
                               ": not enough brokers for its replication factor");
    PRICING_LOG(kInfo) << "kafka: " << not_yet.size()
                       << " topic(s) wait for brokers to register (replication factor)";
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::vector<TopicApplyResult> out;
  for (const TopicSpec& spec : topics) out.push_back(results[spec.name]);
  return out;
}

KafkaTopicState GetKafkaTopicState(rd_kafka_t* rk, const std::string& topic) {
  KafkaTopicState out;
  const std::map<std::string, TopicState> all = Describe(rk, {});
  const auto it = all.find(topic);
  const TopicState s = it == all.end() ? TopicState{} : it->second;
  out.partitions = s.partitions;
  out.replication = s.replication;
  for (int32_t p = 0; p < s.partitions; ++p) {
    int64_t low = 0, high = 0;
    const rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, kRequestTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error("kafka: reading the offsets of " + topic + ": " +
                               rd_kafka_err2str(err));
    out.messages += static_cast<uint64_t>(high - low);
  }
  return out;
}

}  // namespace pricing
