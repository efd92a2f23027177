#include "transport/js_publisher.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "common/log.h"
#include "transport/nats_handles.h"

namespace pricing {

JsPublisher::~JsPublisher() {
  std::lock_guard<std::mutex> lock(mu_);
  for (natsMsg* m : retry_) natsMsg_Destroy(m);
}

void JsPublisher::Publish(std::string_view subject, std::string_view msg_id,
                          std::string_view payload, const Headers& headers, OnStored on_stored,
                          OnFailed on_failed) {
  natsMsg* raw = nullptr;
  const std::string subj(subject);
  CheckNats(
      natsMsg_Create(&raw, subj.c_str(), nullptr, payload.data(), static_cast<int>(payload.size())),
      "creating message for " + subj);
  NatsPtr<natsMsg> msg(raw);
  for (const auto& [k, v] : headers) {
    CheckNats(natsMsgHeader_Set(msg.get(), k.c_str(), v.c_str()), "setting header " + k);
  }
  if (!msg_id.empty()) {
    CheckNats(natsMsgHeader_Set(msg.get(), "Nats-Msg-Id", std::string(msg_id).c_str()),
              "setting Nats-Msg-Id");
  }
  if (on_stored || on_failed) {
    std::lock_guard<std::mutex> lock(mu_);
    callbacks_.emplace(msg.get(), Callbacks{std::move(on_stored), std::move(on_failed)});
  }
  ++in_flight_;
  ++stats_.published;
  Send(msg.release());
}

void JsPublisher::Send(natsMsg* msg) {
  jsPubOptions opts;
  jsPubOptions_Init(&opts);
  opts.MaxWait = ack_wait_ms_;  // a lost PubAck surfaces as a timeout in the ack handler
  while (true) {
    natsMsg* m = msg;
    const natsStatus s = js_PublishMsgAsync(js_, &m, &opts);
    if (s == NATS_OK) return;         // the library owns the message until the ack handler
    if (s == NATS_TIMEOUT) continue;  // the in-flight window is full: wait for room
    // Not sent (connection closed, ...): keep it for Pump to try again.
    ++stats_.errors;
    PRICING_LOG(kWarn) << "publish of " << natsMsg_GetSubject(msg)
                       << " failed to send: " << natsStatus_GetText(s) << "; will retry";
    std::lock_guard<std::mutex> lock(mu_);
    retry_.push_back(msg);
    BackOffLocked();
    return;
  }
}

void JsPublisher::BackOffLocked() {
  backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(backoff_ms_ * 2, kMaxBackoffMs);
  retry_after_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms_);
}

void JsPublisher::AckHandler(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* self = static_cast<JsPublisher*>(closure);
  if (pa != nullptr) {
    ++self->stats_.acked;
    if (pa->Duplicate) ++self->stats_.duplicates;
    OnStored callback;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->backoff_ms_ = 0;
      auto it = self->callbacks_.find(msg);
      if (it != self->callbacks_.end()) {
        callback = std::move(it->second.stored);
        self->callbacks_.erase(it);
      }
    }
    natsMsg_Destroy(msg);
    --self->in_flight_;
    if (callback) callback();
    return;
  }
  ++self->stats_.errors;
  const natsStatus err = pae != nullptr ? pae->Err : NATS_ERR;
  const jsErrCode code = pae != nullptr ? pae->ErrCode : static_cast<jsErrCode>(0);
  // Permanent refusals (permissions, no stream for the subject, too large) would fail
  // forever; anything else (timeouts, elections, lost connection) is retried.
  const bool permanent =
      code == JSStreamNotFoundErr || err == NATS_NOT_PERMITTED || err == NATS_MAX_PAYLOAD;
  if (permanent) {
    ++self->stats_.failed;
    PRICING_LOG(kError) << "publish of " << natsMsg_GetSubject(msg)
                        << " refused for good: " << natsStatus_GetText(err) << " ("
                        << (pae && pae->ErrText ? pae->ErrText : "") << ")";
    OnFailed callback;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = self->callbacks_.find(msg);
      if (it != self->callbacks_.end()) {
        callback = std::move(it->second.failed);
        self->callbacks_.erase(it);
      }
    }
    natsMsg_Destroy(msg);
    --self->in_flight_;
    if (callback) callback();
    return;
  }
  std::lock_guard<std::mutex> lock(self->mu_);
  self->retry_.push_back(msg);
  self->BackOffLocked();
}

void JsPublisher::Pump() {
  std::deque<natsMsg*> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (retry_.empty() || std::chrono::steady_clock::now() < retry_after_) return;
    batch.swap(retry_);
  }
  for (natsMsg* m : batch) {
    ++stats_.retries;
    Send(m);
  }
}

bool JsPublisher::Flush(int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (in_flight_.load() > 0) {
    Pump();
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace pricing
