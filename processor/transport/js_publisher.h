// Asynchronous JetStream publishing that never drops or duplicates silently: every
// message carries a deterministic Nats-Msg-Id, is tracked until its PubAck arrives, and
// a failed or timed-out publish is sent again with the same id (the broker's
// de-duplication drops a copy that did land). A full in-flight window blocks the
// caller briefly instead of growing without bound.
// Publish/Pump/Flush run on the owning (processing) thread; the ack handler runs on a
// cnats thread and only touches state under the mutex.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pricing {

class JsPublisher {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  // Runs on a cnats thread once the broker acknowledged the message (or reported it a
  // duplicate, which is the same: it is stored).
  using OnStored = std::function<void()>;
  // Runs on a cnats thread when the broker refused the message for good (no stream
  // for its subject, not permitted, too large): it is not retried.
  using OnFailed = std::function<void()>;

  struct Stats {
    std::atomic<uint64_t> published{0};  // first sends
    std::atomic<uint64_t> acked{0};
    std::atomic<uint64_t> duplicates{0};  // acked as already stored (a retry that had landed)
    std::atomic<uint64_t> retries{0};
    std::atomic<uint64_t> errors{0};  // publish errors seen, retried or not
    std::atomic<uint64_t> failed{0};  // given up: not retryable
  };

  explicit JsPublisher(int64_t ack_wait_ms) : ack_wait_ms_(ack_wait_ms) {}
  JsPublisher(const JsPublisher&) = delete;
  JsPublisher& operator=(const JsPublisher&) = delete;
  ~JsPublisher();

  // The jsPubAckHandler to install in the JetStream context, with `this` as closure.
  static void AckHandler(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
  void Attach(jsCtx* js) { js_ = js; }

  void Publish(std::string_view subject, std::string_view msg_id, std::string_view payload,
               const Headers& headers = {}, OnStored on_stored = {}, OnFailed on_failed = {});
  // Sends again what failed; call regularly from the owning thread.
  void Pump();
  // Pumps until nothing is in flight or `timeout_ms` passed; true when all are stored.
  bool Flush(int64_t timeout_ms);

  uint64_t in_flight() const { return in_flight_.load(); }
  const Stats& stats() const { return stats_; }

 private:
  void Send(natsMsg* msg);
  // Under mu_: a send failed; retries wait a little longer each time in a row.
  void BackOffLocked();

  // Retries back off while publishes keep failing (no leader during an election, no
  // quorum): 10 ms doubling to 1 s, reset by the next ack. Without it a publisher
  // resends hundreds of thousands of times a second at a cluster busy electing.
  static constexpr int64_t kFirstBackoffMs = 10;
  static constexpr int64_t kMaxBackoffMs = 1000;

  jsCtx* js_ = nullptr;
  const int64_t ack_wait_ms_;
  Stats stats_;
  std::atomic<uint64_t> in_flight_{0};
  std::mutex mu_;
  struct Callbacks {
    OnStored stored;
    OnFailed failed;
  };
  std::unordered_map<natsMsg*, Callbacks> callbacks_;  // by message, while in flight
  std::deque<natsMsg*> retry_;                         // failed sends, oldest first
  int64_t backoff_ms_ = 0;                             // 0: the last publish succeeded
  std::chrono::steady_clock::time_point retry_after_{};
};

}  // namespace pricing
