#include "transport/stream_admin.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/clock.h"
#include "common/log.h"

namespace pricing {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;

std::string Seconds(int64_t ns) { return std::to_string(ns / kNsPerSecond) + "s"; }

std::string Join(const char** items, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += (i ? "," : "") + std::string(items[i]);
  return out;
}

// Fills `cfg` (whose subject array must outlive the call) from a StreamConfig.
void ToJetStream(const StreamConfig& s, std::vector<const char*>* subjects, jsStreamConfig* cfg) {
  jsStreamConfig_Init(cfg);
  subjects->clear();
  for (const auto& subj : s.subjects) subjects->push_back(subj.c_str());
  cfg->Name = s.name.c_str();
  cfg->Subjects = subjects->data();
  cfg->SubjectsLen = static_cast<int>(subjects->size());
  cfg->Storage = js_FileStorage;
  cfg->Retention = js_LimitsPolicy;
  cfg->Replicas = s.replicas;
  cfg->MaxAge = s.max_age_seconds * kNsPerSecond;
  cfg->MaxMsgsPerSubject = s.max_msgs_per_subject;
  cfg->MaxMsgSize = s.max_msg_size;
  cfg->Duplicates = s.duplicate_window_seconds * kNsPerSecond;
}

std::vector<std::string> Differences(const jsStreamConfig& have, const jsStreamConfig& want) {
  std::vector<std::string> out;
  const std::string have_subjects = Join(have.Subjects, have.SubjectsLen);
  std::vector<std::string> want_list(want.Subjects, want.Subjects + want.SubjectsLen);
  std::string want_subjects;
  for (std::size_t i = 0; i < want_list.size(); ++i) want_subjects += (i ? "," : "") + want_list[i];
  if (have_subjects != want_subjects)
    out.push_back("subjects: " + have_subjects + " -> " + want_subjects);
  if (have.MaxAge != want.MaxAge)
    out.push_back("max_age: " + Seconds(have.MaxAge) + " -> " + Seconds(want.MaxAge));
  if (have.MaxMsgsPerSubject != want.MaxMsgsPerSubject) {
    out.push_back("max_msgs_per_subject: " + std::to_string(have.MaxMsgsPerSubject) + " -> " +
                  std::to_string(want.MaxMsgsPerSubject));
  }
  if (have.MaxMsgSize != want.MaxMsgSize) {
    out.push_back("max_msg_size: " + std::to_string(have.MaxMsgSize) + " -> " +
                  std::to_string(want.MaxMsgSize));
  }
  if (have.Duplicates != want.Duplicates) {
    out.push_back("duplicate_window: " + Seconds(have.Duplicates) + " -> " +
                  Seconds(want.Duplicates));
  }
  if (have.Replicas != want.Replicas) {
    out.push_back("replicas: " + std::to_string(have.Replicas) + " -> " +
                  std::to_string(want.Replicas));
  }
  return out;
}

}  // namespace

std::string_view ToString(StreamApplyResult::Action action) {
  switch (action) {
    case StreamApplyResult::Action::kCreated:
      return "created";
    case StreamApplyResult::Action::kUpdated:
      return "updated";
    case StreamApplyResult::Action::kUnchanged:
      return "unchanged";
  }
  return "unchanged";
}

std::vector<StreamApplyResult> ApplyStreams(jsCtx* js, const std::vector<StreamConfig>& streams) {
  std::vector<StreamApplyResult> results;
  for (const StreamConfig& s : streams) {
    StreamApplyResult result;
    result.name = s.name;
    std::vector<const char*> subjects;
    jsStreamConfig want;
    ToJetStream(s, &subjects, &want);

    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus st = js_GetStreamInfo(&raw, js, s.name.c_str(), nullptr, &jerr);
    NatsPtr<jsStreamInfo> info(raw);
    if (st == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
      raw = nullptr;
      st = js_AddStream(&raw, js, &want, nullptr, &jerr);
      NatsPtr<jsStreamInfo> created(raw);
      CheckNats(st, "creating stream " + s.name, jerr);
      result.action = StreamApplyResult::Action::kCreated;
      results.push_back(std::move(result));
      continue;
    }
    CheckNats(st, "reading stream " + s.name, jerr);
    const jsStreamConfig& have = *info->Config;
    if (have.Storage != js_FileStorage || have.Retention != js_LimitsPolicy) {
      throw ConfigError("stream " + s.name +
                        " exists with a storage type or retention policy other than file storage "
                        "with limits retention; JetStream cannot change these in place. Move its "
                        "data and delete it deliberately; it is never deleted automatically");
    }
    result.changes = Differences(have, want);
    if (!result.changes.empty()) {
      raw = nullptr;
      st = js_UpdateStream(&raw, js, &want, nullptr, &jerr);
      NatsPtr<jsStreamInfo> updated(raw);
      CheckNats(st, "updating stream " + s.name, jerr);
      result.action = StreamApplyResult::Action::kUpdated;
    }
    results.push_back(std::move(result));
  }
  return results;
}

std::vector<StreamApplyResult> ApplyStreamsWhenReady(jsCtx* js,
                                                     const std::vector<StreamConfig>& streams,
                                                     int64_t deadline_ms) {
  const int64_t give_up = SteadyNowMs() + deadline_ms;
  while (true) {
    try {
      return ApplyStreams(js, streams);
    } catch (const NatsError& e) {
      if (!e.retryable() || SteadyNowMs() >= give_up) throw;
      PRICING_LOG(kWarn) << e.what() << "; the cluster is not ready, retrying";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

namespace {

// The raft group's leader and a line per other replica: "n2 current", "n3 behind lag 12".
void DescribeCluster(const jsClusterInfo* cluster, std::string* leader,
                     std::vector<std::string>* replicas) {
  if (cluster == nullptr) return;
  if (cluster->Leader != nullptr) *leader = cluster->Leader;
  for (int i = 0; i < cluster->ReplicasLen; ++i) {
    const jsPeerInfo* p = cluster->Replicas[i];
    std::string line = p->Name ? p->Name : "?";
    line += p->Current ? " current" : " behind";
    if (p->Offline) line += " offline";
    if (p->Lag) line += " lag " + std::to_string(p->Lag);
    replicas->push_back(line);
  }
}

}  // namespace

StreamState GetStreamState(jsCtx* js, const std::string& name) {
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  CheckNats(js_GetStreamInfo(&raw, js, name.c_str(), nullptr, &jerr), "reading stream " + name,
            jerr);
  NatsPtr<jsStreamInfo> info(raw);
  StreamState out;
  out.name = name;
  for (int i = 0; i < info->Config->SubjectsLen; ++i)
    out.subjects.emplace_back(info->Config->Subjects[i]);
  out.replicas = info->Config->Replicas;
  out.messages = info->State.Msgs;
  out.bytes = info->State.Bytes;
  out.first_seq = info->State.FirstSeq;
  out.last_seq = info->State.LastSeq;
  DescribeCluster(info->Cluster, &out.leader, &out.replicas_status);
  return out;
}

ConsumerState GetConsumerState(jsCtx* js, const std::string& stream, const std::string& consumer) {
  jsConsumerInfo* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  CheckNats(js_GetConsumerInfo(&raw, js, stream.c_str(), consumer.c_str(), nullptr, &jerr),
            "reading consumer " + stream + "/" + consumer, jerr);
  NatsPtr<jsConsumerInfo> info(raw);
  ConsumerState out;
  out.stream = stream;
  out.name = consumer;
  out.num_pending = info->NumPending;
  out.num_ack_pending = static_cast<uint64_t>(info->NumAckPending);
  out.num_redelivered = static_cast<uint64_t>(info->NumRedelivered);
  out.delivered_stream_seq = info->Delivered.Stream;
  out.ack_floor_stream_seq = info->AckFloor.Stream;
  out.num_waiting = info->NumWaiting;
  DescribeCluster(info->Cluster, &out.leader, &out.replicas_status);
  return out;
}

}  // namespace pricing
