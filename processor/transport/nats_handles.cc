#include "transport/nats_handles.h"

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

}  // namespace pricing
