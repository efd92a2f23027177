#include "transport/stream_admin.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/clock.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "common/time_format.h"

namespace pricing {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kApiTimeoutMs = 5000;

std::string Seconds(int64_t ns) { return std::to_string(ns / kNsPerSecond) + "s"; }

// A stream's definition as JetStream states it; the fields this project sets.
struct Definition {
  std::vector<std::string> subjects;
  std::string storage = "file", retention = "limits", compression = "none";
  std::string transform_src, transform_dest;
  int64_t max_age_ns = 0, max_msgs_per_subject = -1, max_msg_size = -1, duplicates_ns = 0;
  int64_t replicas = 1;
};

Definition Wanted(const StreamConfig& s) {
  Definition d;
  d.subjects = s.subjects;
  d.compression = s.compression;
  d.transform_src = s.transform_src;
  d.transform_dest = s.transform_dest;
  d.max_age_ns = s.max_age_seconds * kNsPerSecond;
  d.max_msgs_per_subject = s.max_msgs_per_subject;
  d.max_msg_size = s.max_msg_size;
  d.duplicates_ns = s.duplicate_window_seconds * kNsPerSecond;
  d.replicas = s.replicas;
  return d;
}

// The request body of $JS.API.STREAM.CREATE/UPDATE. Written here rather than by
// libnats 3.4.1, whose stream configuration predates compression (nats-server 2.10);
// every field the server is not told keeps its default.
std::string RequestBody(const std::string& name, const Definition& d) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("name").String(name).Key("subjects").BeginArray();
  for (const auto& subject : d.subjects) w.String(subject);
  w.EndArray()
      .Key("retention")
      .String("limits")
      .Key("storage")
      .String("file")
      .Key("num_replicas")
      .Int(d.replicas)
      .Key("max_age")
      .Int(d.max_age_ns)
      .Key("max_msgs_per_subject")
      .Int(d.max_msgs_per_subject)
      .Key("max_msg_size")
      .Int(d.max_msg_size)
      .Key("duplicate_window")
      .Int(d.duplicates_ns)
      .Key("discard")
      .String("old")
      .Key("compression")
      .String(d.compression);
  if (!d.transform_dest.empty()) {
    w.Key("subject_transform")
        .BeginObject()
        .Key("src")
        .String(d.transform_src)
        .Key("dest")
        .String(d.transform_dest)
        .EndObject();
  }
  w.EndObject();
  return out;
}

// One JetStream API request; throws NatsError for a transport failure or an API error
// (its err_code as the JetStream error, so retryable() tells "not now" from "never").
simdjson::dom::element ApiRequest(natsConnection* nc, simdjson::dom::parser& parser,
                                  const std::string& subject, const std::string& body,
                                  const std::string& what) {
  natsMsg* raw = nullptr;
  CheckNats(natsConnection_Request(&raw, nc, subject.c_str(), body.data(),
                                   static_cast<int>(body.size()), kApiTimeoutMs),
            what);
  NatsPtr<natsMsg> reply(raw);
  simdjson::dom::element doc;
  if (parser.parse(natsMsg_GetData(raw), static_cast<std::size_t>(natsMsg_GetDataLength(raw)))
          .get(doc) != simdjson::SUCCESS) {
    throw NatsError(what + ": the JetStream API answered with something that is not JSON", NATS_ERR,
                    static_cast<jsErrCode>(0));
  }
  simdjson::dom::element error;
  if (doc["error"].get(error) == simdjson::SUCCESS) {
    int64_t code = 0;
    std::string_view description = "";
    if (error["err_code"].get(code) != simdjson::SUCCESS) code = 0;
    if (error["description"].get(description) != simdjson::SUCCESS) description = "";
    throw NatsError(
        what + ": " + std::string(description) + " (JetStream error " + std::to_string(code) + ")",
        NATS_ERR, static_cast<jsErrCode>(code));
  }
  return doc;
}

int64_t IntOr(simdjson::dom::element e, const char* key, int64_t fallback) {
  int64_t v = 0;
  return e[key].get(v) == simdjson::SUCCESS ? v : fallback;
}

std::string StringOr(simdjson::dom::element e, const char* key, std::string_view fallback) {
  std::string_view v;
  return std::string(e[key].get(v) == simdjson::SUCCESS ? v : fallback);
}

Definition Stated(simdjson::dom::element config) {
  Definition d;
  simdjson::dom::array subjects;
  if (config["subjects"].get(subjects) == simdjson::SUCCESS) {
    for (auto subject : subjects) {
      std::string_view v;
      if (subject.get(v) == simdjson::SUCCESS) d.subjects.emplace_back(v);
    }
  }
  d.storage = StringOr(config, "storage", "file");
  d.retention = StringOr(config, "retention", "limits");
  d.compression = StringOr(config, "compression", "none");
  simdjson::dom::element transform;
  if (config["subject_transform"].get(transform) == simdjson::SUCCESS) {
    d.transform_src = StringOr(transform, "src", "");
    d.transform_dest = StringOr(transform, "dest", "");
  }
  d.max_age_ns = IntOr(config, "max_age", 0);
  d.max_msgs_per_subject = IntOr(config, "max_msgs_per_subject", -1);
  d.max_msg_size = IntOr(config, "max_msg_size", -1);
  d.duplicates_ns = IntOr(config, "duplicate_window", 0);
  d.replicas = IntOr(config, "num_replicas", 1);
  return d;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out;
}

std::vector<std::string> Differences(const Definition& have, const Definition& want) {
  std::vector<std::string> out;
  const auto changed = [&](const char* what, const std::string& from, const std::string& to) {
    if (from != to) out.push_back(std::string(what) + ": " + from + " -> " + to);
  };
  changed("subjects", Join(have.subjects), Join(want.subjects));
  changed("max_age", Seconds(have.max_age_ns), Seconds(want.max_age_ns));
  changed("max_msgs_per_subject", std::to_string(have.max_msgs_per_subject),
          std::to_string(want.max_msgs_per_subject));
  changed("max_msg_size", std::to_string(have.max_msg_size), std::to_string(want.max_msg_size));
  changed("duplicate_window", Seconds(have.duplicates_ns), Seconds(want.duplicates_ns));
  changed("replicas", std::to_string(have.replicas), std::to_string(want.replicas));
  changed("compression", have.compression, want.compression);
  const auto transform = [](const Definition& d) {
    return d.transform_dest.empty() ? std::string("none")
                                    : d.transform_src + " -> " + d.transform_dest;
  };
  changed("subject_transform", transform(have), transform(want));
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

std::vector<StreamApplyResult> ApplyStreams(natsConnection* nc,
                                            const std::vector<StreamConfig>& streams) {
  std::vector<StreamApplyResult> results;
  simdjson::dom::parser parser;
  for (const StreamConfig& s : streams) {
    StreamApplyResult result;
    result.name = s.name;
    const Definition want = Wanted(s);
    const std::string body = RequestBody(s.name, want);
    Definition have;
    try {
      const simdjson::dom::element info =
          ApiRequest(nc, parser, "$JS.API.STREAM.INFO." + s.name, "", "reading stream " + s.name);
      simdjson::dom::element config;
      if (info["config"].get(config) != simdjson::SUCCESS) {
        throw NatsError("reading stream " + s.name + ": the answer has no config", NATS_ERR,
                        static_cast<jsErrCode>(0));
      }
      have = Stated(config);
    } catch (const NatsError& e) {
      if (e.js_code() != JSStreamNotFoundErr) throw;
      ApiRequest(nc, parser, "$JS.API.STREAM.CREATE." + s.name, body, "creating stream " + s.name);
      result.action = StreamApplyResult::Action::kCreated;
      results.push_back(std::move(result));
      continue;
    }
    if (have.storage != "file" || have.retention != "limits") {
      throw ConfigError("stream " + s.name +
                        " exists with a storage type or retention policy other than file storage "
                        "with limits retention; JetStream cannot change these in place. Move its "
                        "data and delete it deliberately; it is never deleted automatically");
    }
    result.changes = Differences(have, want);
    if (!result.changes.empty()) {
      ApiRequest(nc, parser, "$JS.API.STREAM.UPDATE." + s.name, body, "updating stream " + s.name);
      result.action = StreamApplyResult::Action::kUpdated;
    }
    results.push_back(std::move(result));
  }
  return results;
}

std::vector<StreamApplyResult> ApplyStreamsWhenReady(natsConnection* nc,
                                                     const std::vector<StreamConfig>& streams,
                                                     int64_t deadline_ms) {
  const int64_t give_up = SteadyNowMs() + deadline_ms;
  while (true) {
    try {
      return ApplyStreams(nc, streams);
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
  out.delivered_consumer_seq = info->Delivered.Consumer;
  out.ack_floor_stream_seq = info->AckFloor.Stream;
  out.num_waiting = info->NumWaiting;
  DescribeCluster(info->Cluster, &out.leader, &out.replicas_status);
  return out;
}

namespace {

// "consumer already exists" (with another configuration) and "consumer name already in
// use": another processor made it first. Newer than libnats 3.4.1's error list.
bool MadeByAnother(const NatsError& e) {
  const int code = static_cast<int>(e.js_code());
  return code == 10148 || code == 10013;
}

// RFC 3339 with milliseconds, as JetStream's opt_start_time takes it.
std::string Rfc3339Ms(int64_t ms) {
  std::string out = FormatUtc(ms);  // ...:SSZ
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(((ms % 1000) + 1000) % 1000));
  out.insert(out.size() - 1, frac);
  return out;
}

std::string GroupConsumerBody(const GroupConsumerSpec& spec, uint64_t start_seq) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("stream_name").String(spec.stream).Key("config").BeginObject();
  w.Key("durable_name").String(spec.durable).Key("name").String(spec.durable);
  if (spec.filter_subjects.size() == 1) {
    w.Key("filter_subject").String(spec.filter_subjects.front());
  } else {
    w.Key("filter_subjects").BeginArray();
    for (const std::string& f : spec.filter_subjects) w.String(f);
    w.EndArray();
  }
  w.Key("ack_policy").String("explicit").Key("ack_wait").Int(spec.ack_wait_ms * 1'000'000);
  w.Key("max_ack_pending").Int(spec.max_ack_pending).Key("max_deliver").Int(spec.max_deliver);
  if (start_seq > 0) {
    w.Key("deliver_policy")
        .String("by_start_sequence")
        .Key("opt_start_seq")
        .Int(static_cast<int64_t>(start_seq));
  } else {
    w.Key("deliver_policy")
        .String("by_start_time")
        .Key("opt_start_time")
        .String(Rfc3339Ms(spec.start_ms));
  }
  w.Key("priority_groups").BeginArray().String(spec.group).EndArray();
  w.Key("priority_policy").String("pinned_client");
  w.Key("priority_timeout").Int(spec.priority_timeout_ms * 1'000'000);
  w.EndObject().Key("action").String("create").EndObject();
  return out;
}

}  // namespace

GroupConsumerResult EnsureGroupConsumer(natsConnection* nc, jsCtx* js,
                                        const GroupConsumerSpec& spec) {
  simdjson::dom::parser parser;
  const std::string name = spec.stream + "/" + spec.durable;
  const std::string create = "$JS.API.CONSUMER.CREATE." + spec.stream + "." + spec.durable;
  GroupConsumerResult result;
  for (int attempt = 0;; ++attempt) {
    simdjson::dom::element info;
    try {
      info = ApiRequest(nc, parser, "$JS.API.CONSUMER.INFO." + spec.stream + "." + spec.durable, "",
                        "reading consumer " + name);
    } catch (const NatsError& e) {
      if (e.js_code() != JSConsumerNotFoundErr) throw;
      try {
        ApiRequest(nc, parser, create, GroupConsumerBody(spec, 0), "creating consumer " + name);
        result.action = result.replaced.name.empty() ? GroupConsumerResult::Action::kCreated
                                                     : GroupConsumerResult::Action::kReplaced;
        result.priority_timeout_ms = spec.priority_timeout_ms;
        return result;
      } catch (const NatsError& c) {
        // Another processor made it meanwhile (with another start time): bind to it.
        if (attempt < 3 && MadeByAnother(c)) continue;
        throw;
      }
    }
    simdjson::dom::element config;
    std::string_view policy;
    if (info["config"].get(config) != simdjson::SUCCESS ||
        config["priority_policy"].get(policy) != simdjson::SUCCESS) {
      policy = "none";
    }
    if (policy == "pinned_client") {
      simdjson::dom::array groups;
      bool has_group = false;
      if (config["priority_groups"].get(groups) == simdjson::SUCCESS) {
        for (simdjson::dom::element g : groups) {
          std::string_view v;
          if (g.get(v) == simdjson::SUCCESS && v == spec.group) has_group = true;
        }
      }
      if (!has_group) {
        throw NatsError("consumer " + name + " has priority groups without '" + spec.group +
                            "': it was made for something else; give the processor another "
                            "consumer.durable",
                        NATS_ERR, static_cast<jsErrCode>(0));
      }
      result.priority_timeout_ms = IntOr(config, "priority_timeout", 0) / 1'000'000;
      if (result.action != GroupConsumerResult::Action::kReplaced) {
        result.action = GroupConsumerResult::Action::kBound;
      }
      return result;
    }
    if (policy != "none") {
      throw NatsError("consumer " + name + " has the priority policy '" + std::string(policy) +
                          "'; the processor needs pinned_client: give it another consumer.durable",
                      NATS_ERR, static_cast<jsErrCode>(0));
    }
    // Made by an earlier version, without the group: JetStream cannot add one in place.
    // Made again from its acknowledged floor on; what it had delivered beyond that is
    // re-read by the rebuild and delivered again.
    result.replaced = GetConsumerState(js, spec.stream, spec.durable);
    PRICING_LOG(kWarn) << "consumer " << name
                       << " has no priority group (an earlier version made it): replacing it, "
                          "from sequence "
                       << result.replaced.ack_floor_stream_seq + 1;
    ApiRequest(nc, parser, "$JS.API.CONSUMER.DELETE." + spec.stream + "." + spec.durable, "",
               "deleting consumer " + name);
    try {
      // Nothing acknowledged: from the start time, as a new one.
      const uint64_t floor = result.replaced.ack_floor_stream_seq;
      ApiRequest(nc, parser, create, GroupConsumerBody(spec, floor > 0 ? floor + 1 : 0),
                 "creating consumer " + name);
      result.action = GroupConsumerResult::Action::kReplaced;
      result.priority_timeout_ms = spec.priority_timeout_ms;
      return result;
    } catch (const NatsError& c) {
      if (attempt < 3 && MadeByAnother(c)) continue;
      throw;
    }
  }
}

uint64_t LastSeqOf(natsConnection* nc, const std::string& stream, const std::string& filter) {
  simdjson::dom::parser parser;
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Key("last_by_subj").String(filter).EndObject();
  try {
    const simdjson::dom::element reply = ApiRequest(nc, parser, "$JS.API.STREAM.MSG.GET." + stream,
                                                    body, "reading the last message on " + filter);
    return static_cast<uint64_t>(IntOr(reply["message"], "seq", 0));
  } catch (const NatsError& e) {
    if (e.js_code() == JSNoMessageFoundErr) return 0;
    throw;
  }
}

std::string PinnedClientId(natsConnection* nc, const std::string& stream,
                           const std::string& durable, const std::string& group) {
  simdjson::dom::parser parser;
  const simdjson::dom::element info =
      ApiRequest(nc, parser, "$JS.API.CONSUMER.INFO." + stream + "." + durable, "",
                 "reading consumer " + stream + "/" + durable);
  simdjson::dom::array groups;
  if (info["priority_groups"].get(groups) != simdjson::SUCCESS) return "";
  for (simdjson::dom::element g : groups) {
    std::string_view name, pinned;
    if (g["group"].get(name) == simdjson::SUCCESS && name == group &&
        g["pinned_client_id"].get(pinned) == simdjson::SUCCESS) {
      return std::string(pinned);
    }
  }
  return "";
}

void UnpinGroup(natsConnection* nc, const std::string& stream, const std::string& durable,
                const std::string& group) {
  simdjson::dom::parser parser;
  std::string body;
  JsonWriter(&body).BeginObject().Key("group").String(group).EndObject();
  ApiRequest(nc, parser, "$JS.API.CONSUMER.UNPIN." + stream + "." + durable, body,
             "unpinning " + stream + "/" + durable);
}

}  // namespace pricing
