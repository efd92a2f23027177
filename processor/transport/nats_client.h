// A NATS connection with its JetStream context: connects to a list of cluster URLs,
// reconnects on its own forever, and logs every state change. The cnats handles are
// thread-safe; this wrapper's counters are atomics.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/nats_auth.h"
#include "transport/nats_handles.h"

namespace pricing {

struct NatsSettings {
  std::string urls = "nats://127.0.0.1:4222";  // comma-separated
  std::string name = "pricing";                // connection name seen by the server
  int64_t connect_timeout_ms = 2000;
  int64_t reconnect_wait_ms = 250;
  // Send each protocol line at once instead of letting the flusher hold it up to 1 ms:
  // lower latency for acks, fetch requests and publishes at some cost in syscalls.
  bool send_asap = true;
  int64_t publish_max_pending = 4096;  // async publishes awaiting a PubAck
  int64_t request_timeout_ms = 5000;   // JetStream API calls
  // A server that stops answering (frozen, or cut off by a partition) with its TCP
  // connection still open is given up after ping_interval_ms * (max_pings_out + 1),
  // then the client reconnects to another. cnats' defaults (2 min, 2) would leave the
  // client on a dead server for minutes (found by the chaos suite's SIGSTOP case).
  int64_t ping_interval_ms = 1000;
  int max_pings_out = 2;
  // A socket write that cannot finish in this time fails instead of blocking. cnats'
  // default (none: a blocking socket) lets a write to a server cut off by a partition
  // block once the kernel's send buffer is full, holding the connection's lock: the
  // ping timer can then never declare the server gone, and every publish call waits
  // forever (found by the chaos suite's partition case, with a publisher on the
  // isolated node).
  int64_t write_deadline_ms = 2000;
  NatsAuth auth;  // TLS and credentials (config key nats_auth, or NATS_CA, NATS_CERT, ...)
  // How long Connect retries while no server answers (config key
  // nats_connect_wait_seconds); 0: until it connects or is stopped.
  int64_t connect_wait_ms = 60000;
  // Set: connecting, and waiting for JetStream, give up as soon as it turns true (the
  // commands' SIGINT/SIGTERM flag), throwing NatsError with NATS_CONNECTION_CLOSED.
  const std::atomic<bool>* stop = nullptr;
  jsPubAckHandler ack_handler = nullptr;
  void* ack_handler_closure = nullptr;
};

class NatsClient {
 public:
  // Connects, retrying while no server answers, for settings.connect_wait_ms (warning
  // at once, then every 10 s). Throws NatsError when it cannot, or when stopped.
  static std::unique_ptr<NatsClient> Connect(const NatsSettings& settings);
  // The same with another connect wait (tests, benchmarks).
  static std::unique_ptr<NatsClient> Connect(NatsSettings settings, int64_t connect_wait_ms) {
    settings.connect_wait_ms = connect_wait_ms;
    return Connect(settings);
  }
  ~NatsClient();

  natsConnection* connection() const { return conn_.get(); }
  // Another JetStream context on the same connection, for API calls with their own
  // timeout (health checks must not wait as long as the processing path may).
  NatsPtr<jsCtx> NewJetStream(int64_t request_timeout_ms) const;
  jsCtx* js() const { return js_.get(); }
  bool connected() const {
    return natsConnection_Status(conn_.get()) == NATS_CONN_STATUS_CONNECTED;
  }
  uint64_t reconnects() const { return reconnects_.load(); }
  uint64_t disconnects() const { return disconnects_.load(); }
  std::string connected_url() const;

  // Waits until a JetStream API call succeeds (the meta leader exists). A node's
  // /healthz turns green before that.
  void WaitForJetStream(int64_t deadline_ms) const;

  // A one-off read of a stream's history: an ordered consumer on `subject`, read with
  // natsSubscription_NextMsg, from the first message stored at or after `start_ms`
  // (0: from the stream's first). Throws NatsError naming `what`.
  Subscription ReadOrdered(const char* stream, const std::string& subject, int64_t start_ms,
                           const std::string& what) const;

 private:
  NatsClient() = default;
  static void OnDisconnected(natsConnection* nc, void* closure);
  static void OnReconnected(natsConnection* nc, void* closure);
  static void OnClosed(natsConnection* nc, void* closure);
  static void OnError(natsConnection* nc, natsSubscription* sub, natsStatus err, void* closure);

  NatsPtr<natsConnection> conn_;
  NatsPtr<jsCtx> js_;
  const std::atomic<bool>* stop_ = nullptr;  // NatsSettings::stop
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> disconnects_{0};
  std::atomic<bool> closing_{false};
  // libnats runs the connection callbacks on its own thread, after Close returns: the
  // destructor waits for the closed callback (the last one) before freeing `this`.
  std::mutex closed_mu_;
  std::condition_variable closed_cv_;
  bool closed_ = false;
};

}  // namespace pricing
