#include "transport/nats_handles.h"

#include <chrono>
#include <cstdlib>
#include <thread>
#include <utility>

namespace pricing {

bool IsRetryable(natsStatus status, jsErrCode js_code) {
  switch (status) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_NO_SERVER:
    case NATS_SLOW_CONSUMER:
      return true;
    case NATS_ERR:
      // JetStream errors that mean "not now": no leader yet, cluster not ready,
      // insufficient resources while a node is down.
      return js_code == JSClusterNotAvailErr || js_code == JSClusterNotLeaderErr ||
             js_code == JSStreamOfflineErr || js_code == JSInsufficientResourcesErr ||
             js_code == JSClusterNoPeersErr || js_code == 0;
    default:
      return false;
  }
}

bool NatsError::retryable() const { return IsRetryable(status_, js_code_); }

void CheckNats(natsStatus status, const std::string& what, jsErrCode js_code) {
  if (status == NATS_OK) return;
  std::string text = what + ": " + natsStatus_GetText(status);
  if (js_code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(js_code)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') text += ": " + std::string(last);
  throw NatsError(text, status, js_code);
}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    nc_ = std::exchange(other.nc_, nullptr);
    sub_ = std::exchange(other.sub_, nullptr);
  }
  return *this;
}

void Subscription::reset() {
  if (sub_ == nullptr) return;
  if (natsConnection_IsClosed(nc_)) {
    natsSubscription_Destroy(sub_);
  } else {
    natsSubscription_Unsubscribe(sub_);
    if (natsConnection_FlushTimeout(nc_, 5000) != NATS_OK) {
      // Reconnecting: the reader drops messages for a removed subscription; give one
      // already being delivered time to finish.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    natsSubscription_Destroy(sub_);
  }
  sub_ = nullptr;
  nc_ = nullptr;
}

std::vector<std::pair<std::string, std::string>> MsgHeaders(natsMsg* m) {
  std::vector<std::pair<std::string, std::string>> out;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(m, &keys, &count) != NATS_OK) return out;
  for (int i = 0; i < count; ++i) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(m, keys[i], &value) == NATS_OK && value != nullptr) {
      out.emplace_back(keys[i], value);
    }
  }
  free(static_cast<void*>(keys));
  return out;
}

}  // namespace pricing
