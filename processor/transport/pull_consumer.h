// A JetStream pull consumer over plain NATS requests, for a durable that exists
// already: publishes `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>` requests with a
// batch and an expiry, and collects the replies from its own inbox. It never returns
// more messages than asked: messages of an earlier request that arrive late are kept
// for the next call, never dropped.
//
// Why not natsSubscription_Fetch: libnats 3.4.1 was seen returning 993 messages for a
// batch of 512 under a backlog (messages left over from an expired request are
// counted, then the end-of-batch test is stepped over), overrunning its own array.
//
// Not thread-safe: owned by the processing thread. Ack() may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transport/nats_handles.h"

namespace pricing {

class PullConsumer {
 public:
  PullConsumer(natsConnection* conn, std::string stream, std::string durable);

  // Up to `batch` messages: those waiting from earlier requests first, then what a new
  // request brings within `wait_ms`. Empty when nothing arrived in time.
  std::vector<NatsPtr<natsMsg>> Fetch(int batch, int64_t wait_ms);

  // The same, but hands each message to `on_message` as soon as it is there rather than
  // once the batch is complete: the work on a batch overlaps its delivery, with still
  // one request in flight. Returns how many messages were handed over.
  //
  // `on_message` may keep a message by moving it out; one it leaves is freed with
  // others, kRetireEvery at a time and at the end of the call. libnats frees a received
  // message on its garbage-collector thread and wakes that thread when it is idle:
  // freed one at a time between two events' work, every message cost a futex wake and
  // a context switch (40 % of the processor's loop in a profile of a drain).
  using OnMessage = std::function<void(NatsPtr<natsMsg>&)>;
  int FetchEach(int batch, int64_t wait_ms, const OnMessage& on_message);
  static constexpr std::size_t kRetireEvery = 256;

  // Acknowledges a message fetched here (publishes +ACK to its reply subject).
  static void Ack(natsConnection* conn, natsMsg* msg);
  // Asks for redelivery after `delay_ms` (-NAK with a delay; counts as a delivery).
  static void Nak(natsConnection* conn, natsMsg* msg, int64_t delay_ms);
  // A fetched message's JetStream metadata (all 0 when it carries none).
  struct Meta {
    uint64_t seq = 0;          // its stream sequence
    int64_t timestamp_ms = 0;  // when the stream stored it
    uint64_t delivered = 0;
    uint64_t pending = 0;       // messages behind this one not yet delivered to the consumer
    uint64_t consumer_seq = 0;  // the consumer's count of deliveries, this one included
  };
  static Meta MetaOf(natsMsg* msg);
  // The same, read from a `$JS.ACK.` reply subject (both the 9-token form and the
  // 11/12-token form with domain and account hash). False when it is not one.
  // MetaOf reads the reply itself: libnats' natsMsg_GetMetaData allocates a struct and
  // copies the stream and consumer names for every message.
  static bool ParseAckReply(std::string_view reply, Meta* out);

  uint64_t requests() const { return requests_; }

  // --- Priority groups (nats-server 2.11+, a consumer with the pinned_client policy) ---
  // Every request names `group`. The server delivers to one pinned client only: the
  // first message it gets carries a Nats-Pin-Id header, and later requests send that
  // id back; a request with an id the server no longer pins is answered 423, and this
  // client is then no longer pinned (it may be pinned again later, with a new id).
  // libnats 3.4.1 knows none of this: the fields are written into the requests here.
  void JoinGroup(std::string group) { group_ = std::move(group); }
  bool pinned() const { return !pin_id_.empty(); }
  const std::string& pin_id() const { return pin_id_; }
  // True once after a 423: the pin was given to another client.
  bool TakePinLost() { return std::exchange(pin_lost_, false); }
  // Sends a request for one message without waiting for it: the server sees a pull
  // from the pinned client (and keeps the pin) while its owner is busy elsewhere. What
  // it brings is kept for the next fetch.
  void KeepPinned();

 private:
  // Waits up to `wait_ms` for one reply: a message is handed to `on_message` while
  // fewer than `room` were handed over, kept for the next call beyond; a status reply
  // ending the request sets `request_done`. True when a message was handed over.
  bool Collect(int64_t wait_ms, int handed, int room, const OnMessage& on_message,
               bool* request_done);
  // FetchEach, without freeing what is left of the messages at the end.
  int FetchInto(int batch, int64_t wait_ms, const OnMessage& on_message);
  // Hands `msg` over and keeps it, if left, to be freed with others.
  void Hand(NatsPtr<natsMsg> msg, const OnMessage& on_message);
  // Publishes a pull request; false when the connection refused it.
  bool Request(int batch, int64_t expires_ns);

  natsConnection* conn_;
  std::string next_subject_;
  std::string inbox_;
  Subscription sub_;
  std::deque<NatsPtr<natsMsg>> early_;     // arrived beyond a batch: first in the next one
  std::vector<NatsPtr<natsMsg>> retired_;  // handed over and left: freed together
  uint64_t requests_ = 0;
  std::string group_;   // empty: no priority group
  std::string pin_id_;  // the server's pin for this client; empty: not pinned
  bool pin_lost_ = false;
};

}  // namespace pricing
