// Applies the stream definitions of the configuration idempotently (streams.md):
// create what is missing, update what differs, report what changed, and refuse
// (never "fix" by deleting) a difference JetStream cannot apply in place.
// Functions are thread-safe as far as the jsCtx is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "transport/nats_handles.h"

namespace pricing {

struct StreamApplyResult {
  std::string name;
  enum class Action { kCreated, kUpdated, kUnchanged } action = Action::kUnchanged;
  std::vector<std::string> changes;  // "max_age: 0s -> 3600s", ...
};

std::string_view ToString(StreamApplyResult::Action action);  // "created", "updated", "unchanged"

// Throws NatsError on API failures, ConfigError on a change that needs a new stream.
// Speaks the JetStream API itself (libnats 3.4.1 knows no stream compression).
std::vector<StreamApplyResult> ApplyStreams(natsConnection* nc,
                                            const std::vector<StreamConfig>& streams);

// ApplyStreams, retried while the cluster answers "not now" (a forming cluster has a
// meta leader before every peer joined it: "no suitable peers for placement"), for up
// to `deadline_ms`; each wait is logged. Other errors are thrown at once.
std::vector<StreamApplyResult> ApplyStreamsWhenReady(natsConnection* nc,
                                                     const std::vector<StreamConfig>& streams,
                                                     int64_t deadline_ms);

struct StreamState {
  std::string name;
  std::vector<std::string> subjects;
  int64_t replicas = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::string leader;
  std::vector<std::string> replicas_status;  // "nats-2 current", "nats-3 lag 12"
};

StreamState GetStreamState(jsCtx* js, const std::string& name);

struct ConsumerState {
  std::string stream;
  std::string name;
  uint64_t num_pending = 0;      // in the stream, not yet delivered
  uint64_t num_ack_pending = 0;  // delivered, not yet acknowledged
  uint64_t num_redelivered = 0;
  uint64_t delivered_stream_seq = 0;
  uint64_t delivered_consumer_seq = 0;  // deliveries so far, redeliveries included
  uint64_t ack_floor_stream_seq = 0;
  int64_t num_waiting = 0;
  std::string leader;                        // the consumer's raft group
  std::vector<std::string> replicas_status;  // as StreamState's
};

ConsumerState GetConsumerState(jsCtx* js, const std::string& stream, const std::string& consumer);

// A durable pull consumer whose clients form a priority group with the pinned_client
// policy (nats-server 2.11+): the server delivers to one client of the group, and
// moves the pin to another once that one has not pulled for `priority_timeout_ms`.
struct GroupConsumerSpec {
  std::string stream;
  std::string durable;
  std::vector<std::string> filter_subjects;  // disjoint (JetStream requires it)
  std::string group;
  int64_t ack_wait_ms = 30000;
  int64_t max_ack_pending = 20000;
  int64_t max_deliver = 5;
  int64_t priority_timeout_ms = 5000;
  int64_t start_ms = 0;  // a new consumer delivers what was stored from here on
};

struct GroupConsumerResult {
  // kReplaced: a durable of that name existed without the group (made by an earlier
  // version); it was deleted and made again from its acknowledged floor on.
  enum class Action { kCreated, kBound, kReplaced } action = Action::kBound;
  ConsumerState replaced;           // kReplaced: the old durable's state before it was deleted
  int64_t priority_timeout_ms = 0;  // what the durable has (an existing one keeps its own)
};

// Creates the consumer, or binds to it when it exists with the group. Safe to call from
// several processors at once. Speaks the JetStream API itself: libnats 3.4.1 predates
// priority groups. Throws NatsError.
GroupConsumerResult EnsureGroupConsumer(natsConnection* nc, jsCtx* js,
                                        const GroupConsumerSpec& spec);

// The sequence of the last message of `stream` on a subject matching `filter` (which may
// have wildcards), asked of the stream's leader; 0 when there is none. Throws NatsError.
uint64_t LastSeqOf(natsConnection* nc, const std::string& stream, const std::string& filter);

// The id the server pinned for `group` of the consumer; empty when no client is pinned
// (none was delivered a message yet, or the last pinned one timed out or was unpinned).
std::string PinnedClientId(natsConnection* nc, const std::string& stream,
                           const std::string& durable, const std::string& group);

// Releases the pin of `group` (a processor that stops hands over at once, rather than
// after the priority timeout).
void UnpinGroup(natsConnection* nc, const std::string& stream, const std::string& durable,
                const std::string& group);

}  // namespace pricing
