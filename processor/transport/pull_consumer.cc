#include "transport/pull_consumer.h"

#include <array>
#include <chrono>
#include <cstring>
#include <string>

#include "common/clock.h"
#include "common/log.h"

namespace pricing {
namespace {

bool IsUserMessage(natsMsg* m) {
  const char* reply = natsMsg_GetReply(m);
  return reply != nullptr && std::strncmp(reply, "$JS.ACK.", 8) == 0;
}

}  // namespace

PullConsumer::PullConsumer(natsConnection* conn, std::string stream, std::string durable)
    : conn_(conn) {
  next_subject_ = "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + durable;
  natsInbox* inbox = nullptr;
  CheckNats(natsInbox_Create(&inbox), "creating an inbox");
  inbox_ = inbox;
  natsInbox_Destroy(inbox);
  natsSubscription* raw = nullptr;
  CheckNats(natsConnection_SubscribeSync(&raw, conn_, inbox_.c_str()),
            "subscribing to the pull inbox");
  sub_ = Subscription(conn_, raw);
  // A backlog can deliver many batches ahead of the consumer: let the queue hold them.
  natsSubscription_SetPendingLimits(sub_.get(), 1 << 20, 512 * 1024 * 1024);
}

bool PullConsumer::Collect(int64_t wait_ms, int handed, int room, const OnMessage& on_message,
                           bool* request_done) {
  natsMsg* raw = nullptr;
  if (natsSubscription_NextMsg(&raw, sub_.get(), wait_ms) != NATS_OK) return false;
  NatsPtr<natsMsg> msg(raw);
  if (IsUserMessage(msg.get())) {
    if (!group_.empty() && pin_id_.empty()) {
      // Only the first message of a pin needs reading: later requests carry its id, and
      // the server answers them 423 rather than deliver under another pin.
      const char* pin = nullptr;
      if (natsMsgHeader_Get(msg.get(), "Nats-Pin-Id", &pin) == NATS_OK && pin != nullptr) {
        pin_id_ = pin;
      }
    }
    if (handed < room) {
      Hand(std::move(msg), on_message);
      return true;
    }
    early_.push_back(std::move(msg));
    return false;
  }
  // A status reply: 404 no messages, 408 request expired, 409 (max ack pending, a
  // leadership change, ...) end a request; 100 is a heartbeat.
  const char* status = nullptr;
  if (natsMsgHeader_Get(msg.get(), "Status", &status) == NATS_OK && status != nullptr) {
    if (std::strcmp(status, "100") != 0) *request_done = true;
    if (std::strcmp(status, "423") == 0) {
      // The pin went to another client (this one was silent past the priority timeout,
      // or an operator unpinned it).
      if (!pin_id_.empty()) pin_lost_ = true;
      pin_id_.clear();
    }
    if (std::strcmp(status, "409") == 0) {
      const char* desc = nullptr;
      natsMsgHeader_Get(msg.get(), "Description", &desc);
      PRICING_LOG(kDebug) << "pull request ended: 409 " << (desc ? desc : "");
    }
  }
  return false;
}

void PullConsumer::Hand(NatsPtr<natsMsg> msg, const OnMessage& on_message) {
  on_message(msg);
  if (msg == nullptr) return;
  retired_.push_back(std::move(msg));
  if (retired_.size() >= kRetireEvery) retired_.clear();
}

std::vector<NatsPtr<natsMsg>> PullConsumer::Fetch(int batch, int64_t wait_ms) {
  std::vector<NatsPtr<natsMsg>> out;
  FetchEach(batch, wait_ms, [&out](NatsPtr<natsMsg>& m) { out.push_back(std::move(m)); });
  return out;
}

int PullConsumer::FetchEach(int batch, int64_t wait_ms, const OnMessage& on_message) {
  const int handed = FetchInto(batch, wait_ms, on_message);
  retired_.clear();
  return handed;
}

int PullConsumer::FetchInto(int batch, int64_t wait_ms, const OnMessage& on_message) {
  int handed = 0;
  while (!early_.empty() && handed < batch) {
    NatsPtr<natsMsg> m = std::move(early_.front());
    early_.pop_front();
    Hand(std::move(m), on_message);
    ++handed;
  }
  // Whatever earlier requests brought meanwhile.
  bool done = false;
  int queued = 0;
  natsSubscription_GetPending(sub_.get(), &queued, nullptr);
  for (int i = 0; i < queued && handed < batch && !pin_lost_; ++i) {
    if (Collect(0, handed, batch, on_message, &done)) ++handed;
  }
  // No new request once the pin is lost: the owner decides what to do first.
  if (handed >= batch || pin_lost_) return handed;

  const int want = batch - handed;
  // The server stops a little before the client does, so its 408 arrives in time.
  const int64_t expires_ns = std::max<int64_t>(wait_ms - 2, 1) * 1'000'000;
  if (!Request(want, expires_ns)) return handed;  // disconnected: retried on the next turn
  const int64_t deadline = SteadyNowMs() + wait_ms;
  done = false;
  while (handed < batch && !done) {
    const int64_t left = deadline - SteadyNowMs();
    if (left <= 0) break;
    if (Collect(left, handed, batch, on_message, &done)) ++handed;
  }
  return handed;
}

bool PullConsumer::Request(int batch, int64_t expires_ns) {
  std::string request =
      "{\"batch\":" + std::to_string(batch) + ",\"expires\":" + std::to_string(expires_ns);
  if (!group_.empty()) {
    request += ",\"group\":\"" + group_ + "\"";
    if (!pin_id_.empty()) request += ",\"id\":\"" + pin_id_ + "\"";
  }
  request += "}";
  if (natsConnection_PublishRequest(conn_, next_subject_.c_str(), inbox_.c_str(), request.data(),
                                    static_cast<int>(request.size())) != NATS_OK) {
    return false;
  }
  ++requests_;
  return true;
}

void PullConsumer::KeepPinned() { Request(1, 500 * 1'000'000LL); }

void PullConsumer::Ack(natsConnection* conn, natsMsg* msg) {
  const char* reply = natsMsg_GetReply(msg);
  if (reply != nullptr) natsConnection_Publish(conn, reply, "+ACK", 4);
}

void PullConsumer::Nak(natsConnection* conn, natsMsg* msg, int64_t delay_ms) {
  const char* reply = natsMsg_GetReply(msg);
  if (reply == nullptr) return;
  const std::string body = "-NAK {\"delay\": " + std::to_string(delay_ms * 1'000'000) + "}";
  natsConnection_Publish(conn, reply, body.data(), static_cast<int>(body.size()));
}

namespace {

bool ParseUint(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next < v) return false;
    v = next;
  }
  *out = v;
  return true;
}

}  // namespace

bool PullConsumer::ParseAckReply(std::string_view reply, Meta* out) {
  constexpr std::string_view kPrefix = "$JS.ACK.";
  if (!reply.starts_with(kPrefix)) return false;
  reply.remove_prefix(kPrefix.size());
  std::array<std::string_view, 10> tokens;
  std::size_t n = 0;
  while (n < tokens.size()) {
    const std::size_t dot = reply.find('.');
    tokens[n++] = reply.substr(0, dot);
    if (dot == std::string_view::npos) {
      reply = {};
      break;
    }
    reply.remove_prefix(dot + 1);
  }
  if (!reply.empty() && n == tokens.size()) ++n;  // a trailing token (v2's random part)
  // v1: stream, consumer, delivered, sseq, cseq, tm, pending (7 after the prefix);
  // v2: domain, account hash, then the same (9), and optionally a random token.
  std::size_t first;
  if (n == 7) {
    first = 2;
  } else if (n == 9 || n == 10 || n == 11) {
    first = 4;
  } else {
    return false;
  }
  uint64_t delivered = 0, sseq = 0, cseq = 0, tm = 0, pending = 0;
  if (!ParseUint(tokens[first], &delivered) || !ParseUint(tokens[first + 1], &sseq) ||
      !ParseUint(tokens[first + 2], &cseq) || !ParseUint(tokens[first + 3], &tm) ||
      !ParseUint(tokens[first + 4], &pending))
    return false;
  out->seq = sseq;
  out->timestamp_ms = static_cast<int64_t>(tm / 1'000'000);
  out->delivered = delivered;
  out->pending = pending;
  out->consumer_seq = cseq;
  return true;
}

PullConsumer::Meta PullConsumer::MetaOf(natsMsg* msg) {
  Meta out;
  const char* reply = natsMsg_GetReply(msg);
  if (reply != nullptr && ParseAckReply(reply, &out)) return out;
  // Not a reply this parser knows: ask libnats, which knows every form it supports.
  jsMsgMetaData* raw = nullptr;
  if (natsMsg_GetMetaData(&raw, msg) != NATS_OK) return Meta{};
  const NatsPtr<jsMsgMetaData> meta(raw);
  out.seq = meta->Sequence.Stream;
  out.timestamp_ms = meta->Timestamp / 1'000'000;
  out.delivered = meta->NumDelivered;
  out.pending = meta->NumPending;
  return out;
}

}  // namespace pricing
