// Ownership of cnats handles: every C handle lives in a std::unique_ptr with the
// matching destroy function, and every status is checked through one place that
// classifies it as retryable or fatal. Thread-safety is that of the handles.
#pragma once

#include <nats/nats.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pricing {

struct NatsDeleter {
  void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
  void operator()(natsOptions* p) const { natsOptions_Destroy(p); }
  void operator()(jsCtx* p) const { jsCtx_Destroy(p); }
  // Only for a subscription nothing is delivered to: a JetStream pull subscription
  // that binds a durable whose messages are fetched elsewhere. Anything that receives
  // messages is a Subscription (below). natsSubscription_Destroy keeps the consumer.
  void operator()(natsSubscription* p) const { natsSubscription_Destroy(p); }
  void operator()(natsMsg* p) const { natsMsg_Destroy(p); }
  void operator()(jsStreamInfo* p) const { jsStreamInfo_Destroy(p); }
  void operator()(jsConsumerInfo* p) const { jsConsumerInfo_Destroy(p); }
  void operator()(jsMsgMetaData* p) const { jsMsgMetaData_Destroy(p); }
  void operator()(jsPubAck* p) const { jsPubAck_Destroy(p); }
};

template <typename T>
using NatsPtr = std::unique_ptr<T, NatsDeleter>;

// A subscription that is safe to destroy while messages still arrive for it. libnats
// before 3.6 has a race (nats.c#637) in which its reader thread, delivering to a
// subscription the application destroys at that moment, locks freed memory: the
// process aborts or the reader hangs, and the connection goes silent. Destroying
// here unsubscribes first, then waits for a PING/PONG round trip (the PONG is read
// after every message the server sent before the UNSUB), and only then frees it.
// Once the connection is closed, the reader thread is gone and destroying is safe.
// Unsubscribing deletes a consumer the library created, durable or not (nats.c
// deletes on explicit unsubscribe): use this for core subscriptions and ephemeral
// (ordered) consumers only, never for a durable that must outlive the process.
class Subscription {
 public:
  Subscription() = default;
  Subscription(natsConnection* nc, natsSubscription* sub) : nc_(nc), sub_(sub) {}
  Subscription(Subscription&& other) noexcept { *this = std::move(other); }
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }

  natsSubscription* get() const { return sub_; }
  explicit operator bool() const { return sub_ != nullptr; }
  void reset();

 private:
  natsConnection* nc_ = nullptr;
  natsSubscription* sub_ = nullptr;
};

// A failed cnats call. `retryable` says whether trying again later can succeed (a
// timeout, no responders during an election, a lost connection) or not (bad config,
// a stream that cannot be updated in place, permission denied).
class NatsError : public std::runtime_error {
 public:
  NatsError(const std::string& what, natsStatus status, jsErrCode js_code)
      : std::runtime_error(what), status_(status), js_code_(js_code) {}
  natsStatus status() const { return status_; }
  jsErrCode js_code() const { return js_code_; }
  bool retryable() const;

 private:
  natsStatus status_;
  jsErrCode js_code_;
};

bool IsRetryable(natsStatus status, jsErrCode js_code = static_cast<jsErrCode>(0));

// A message's payload, as a view into it.
inline std::string_view MsgData(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))};
}

// A message's headers, as (key, value) pairs (the first value of each key).
std::vector<std::pair<std::string, std::string>> MsgHeaders(natsMsg* m);

// Throws NatsError naming `what` unless `status` is NATS_OK.
void CheckNats(natsStatus status, const std::string& what,
               jsErrCode js_code = static_cast<jsErrCode>(0));

}  // namespace pricing
