#include "transport/nats_client.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/log.h"

namespace pricing {
void NatsClient::OnDisconnected(natsConnection*, void* closure) {
  auto* self = static_cast<NatsClient*>(closure);
  if (self->closing_.load()) return;  // our own Close()
  ++self->disconnects_;
  PRICING_LOG(kWarn) << "nats: disconnected; reconnecting";
}

void NatsClient::OnReconnected(natsConnection* nc, void* closure) {
  auto* self = static_cast<NatsClient*>(closure);
  ++self->reconnects_;
  char url[256] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  PRICING_LOG(kInfo) << "nats: reconnected to " << url;
}

void NatsClient::OnClosed(natsConnection*, void* closure) {
  auto* self = static_cast<NatsClient*>(closure);
  PRICING_LOG(kDebug) << "nats: connection closed";
  std::lock_guard<std::mutex> lock(self->closed_mu_);
  self->closed_ = true;
  self->closed_cv_.notify_all();  // under the lock: the waiter frees us only after
}

void NatsClient::OnError(natsConnection*, natsSubscription*, natsStatus err, void*) {
  PRICING_LOG(kWarn) << "nats: asynchronous error: " << natsStatus_GetText(err);
}

namespace {

void ThrowIfStopped(const std::atomic<bool>* stop, const std::string& what) {
  if (stop != nullptr && stop->load())
    throw NatsError("stopped while " + what, NATS_CONNECTION_CLOSED, static_cast<jsErrCode>(0));
}

}  // namespace

std::unique_ptr<NatsClient> NatsClient::Connect(const NatsSettings& settings) {
  std::unique_ptr<NatsClient> client(new NatsClient());
  client->stop_ = settings.stop;
  natsOptions* raw_opts = nullptr;
  CheckNats(natsOptions_Create(&raw_opts), "creating NATS options");
  NatsPtr<natsOptions> opts(raw_opts);
  // A comma-separated list of cluster URLs: every one is a seed for (re)connecting.
  std::vector<std::string> urls;
  for (std::size_t start = 0; start <= settings.urls.size();) {
    const std::size_t comma = std::min(settings.urls.find(',', start), settings.urls.size());
    std::string url = settings.urls.substr(start, comma - start);
    url.erase(0, url.find_first_not_of(' '));
    url.erase(url.find_last_not_of(' ') + 1);
    if (!url.empty()) urls.push_back(url);
    start = comma + 1;
  }
  std::vector<const char*> url_ptrs;
  for (const auto& u : urls) url_ptrs.push_back(u.c_str());
  CheckNats(natsOptions_SetServers(opts.get(), url_ptrs.data(), static_cast<int>(url_ptrs.size())),
            "NATS URLs '" + settings.urls + "'");
  CheckNats(natsOptions_SetName(opts.get(), settings.name.c_str()), "connection name");
  CheckNats(natsOptions_SetTimeout(opts.get(), settings.connect_timeout_ms), "connect timeout");
  CheckNats(natsOptions_SetMaxReconnect(opts.get(), -1), "reconnect forever");
  CheckNats(natsOptions_SetReconnectWait(opts.get(), settings.reconnect_wait_ms), "reconnect wait");
  CheckNats(natsOptions_SetReconnectBufSize(opts.get(), 64 * 1024 * 1024), "reconnect buffer");
  CheckNats(natsOptions_SetPingInterval(opts.get(), settings.ping_interval_ms), "ping interval");
  CheckNats(natsOptions_SetMaxPingsOut(opts.get(), settings.max_pings_out),
            "max pings outstanding");
  CheckNats(natsOptions_SetWriteDeadline(opts.get(), settings.write_deadline_ms), "write deadline");
  CheckNats(natsOptions_SetSendAsap(opts.get(), settings.send_asap), "send asap");
  const NatsAuth& a = settings.auth;
  if (a.tls()) {
    CheckNats(natsOptions_SetSecure(opts.get(), true), "TLS");
    if (!a.ca_file.empty()) {
      CheckNats(natsOptions_LoadCATrustedCertificates(opts.get(), a.ca_file.c_str()),
                "loading CA file " + a.ca_file);
    }
    if (!a.cert_file.empty()) {
      CheckNats(
          natsOptions_LoadCertificatesChain(opts.get(), a.cert_file.c_str(), a.key_file.c_str()),
          "loading client certificate " + a.cert_file + " and key " + a.key_file);
    }
  }
  if (!a.user.empty()) {
    CheckNats(natsOptions_SetUserInfo(opts.get(), a.user.c_str(), a.password.c_str()),
              "user and password");
  }
  if (!a.creds_file.empty()) {
    CheckNats(natsOptions_SetUserCredentialsFromFiles(opts.get(), a.creds_file.c_str(), nullptr),
              "credentials file " + a.creds_file);
  }
  if (!a.nkey.empty()) {
    CheckNats(natsOptions_SetNKeyFromSeed(opts.get(), a.nkey.c_str(), a.nkey_seed_file.c_str()),
              "nkey seed file " + a.nkey_seed_file);
  }
  CheckNats(natsOptions_SetDisconnectedCB(opts.get(), OnDisconnected, client.get()), "callbacks");
  CheckNats(natsOptions_SetReconnectedCB(opts.get(), OnReconnected, client.get()), "callbacks");
  CheckNats(natsOptions_SetClosedCB(opts.get(), OnClosed, client.get()), "callbacks");
  CheckNats(natsOptions_SetErrorHandler(opts.get(), OnError, client.get()), "callbacks");

  const bool forever = settings.connect_wait_ms <= 0;
  const int64_t give_up = forever ? INT64_MAX : SteadyNowMs() + settings.connect_wait_ms;
  natsConnection* raw_conn = nullptr;
  natsStatus s;
  int64_t next_warning = 0;
  while ((s = natsConnection_Connect(&raw_conn, opts.get())) != NATS_OK) {
    const int64_t now = SteadyNowMs();
    if (!IsRetryable(s) || now >= give_up) {
      CheckNats(s, "connecting to " + settings.urls);
    }
    ThrowIfStopped(settings.stop, "connecting to NATS at " + settings.urls);
    // Say at once, and every 10 s after, what is wrong and what starts a cluster: an
    // operator who forgot the cluster should not wait out the deadline to learn it.
    if (now >= next_warning) {
      PRICING_LOG(kWarn) << "nats: " << settings.name << " cannot reach NATS at " << settings.urls
                         << " (" << natsStatus_GetText(s)
                         << "); is the cluster running? scripts/start-nats-cluster.sh starts "
                            "one, NATS_URL names another. "
                         << (forever
                                 ? std::string("Retrying until it answers")
                                 : "Retrying for " + std::to_string((give_up - now + 999) / 1000) +
                                       " s more (nats_connect_wait_seconds)");
      next_warning = now + 10000;
    }
    // Short naps: a SIGTERM while waiting is obeyed at once.
    for (int i = 0; i < 4 && !(settings.stop && settings.stop->load()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ThrowIfStopped(settings.stop, "connecting to NATS at " + settings.urls);
  }
  client->conn_.reset(raw_conn);
  PRICING_LOG(kInfo) << "nats: connected to " << client->connected_url();

  jsOptions js_opts;
  CheckNats(jsOptions_Init(&js_opts), "JetStream options");
  js_opts.Wait = settings.request_timeout_ms;
  js_opts.PublishAsync.MaxPending = settings.publish_max_pending;
  js_opts.PublishAsync.AckHandler = settings.ack_handler;
  js_opts.PublishAsync.AckHandlerClosure = settings.ack_handler_closure;
  // A full window returns NATS_TIMEOUT after this long; the publisher retries.
  js_opts.PublishAsync.StallWait = 50;
  jsCtx* raw_js = nullptr;
  CheckNats(natsConnection_JetStream(&raw_js, client->conn_.get(), &js_opts), "JetStream context");
  client->js_.reset(raw_js);
  return client;
}

NatsClient::~NatsClient() {
  js_.reset();
  closing_ = true;
  if (conn_) {
    natsConnection_Close(conn_.get());
    std::unique_lock<std::mutex> lock(closed_mu_);
    closed_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return closed_; });
  }
}

NatsPtr<jsCtx> NatsClient::NewJetStream(int64_t request_timeout_ms) const {
  jsOptions opts;
  CheckNats(jsOptions_Init(&opts), "JetStream options");
  opts.Wait = request_timeout_ms;
  jsCtx* raw = nullptr;
  CheckNats(natsConnection_JetStream(&raw, conn_.get(), &opts), "JetStream context");
  return NatsPtr<jsCtx>(raw);
}

std::string NatsClient::connected_url() const {
  char url[256] = "";
  natsConnection_GetConnectedUrl(conn_.get(), url, sizeof url);
  return url;
}

Subscription NatsClient::ReadOrdered(const char* stream, const std::string& subject,
                                     int64_t start_ms, const std::string& what) const {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream;
  so.Ordered = true;
  so.Config.DeliverPolicy = start_ms > 0 ? js_DeliverByStartTime : js_DeliverAll;
  so.Config.OptStartTime = start_ms * 1'000'000;  // ns since the epoch
  natsSubscription* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  CheckNats(js_SubscribeSync(&raw, js_.get(), subject.c_str(), nullptr, &so, &jerr), what, jerr);
  return Subscription(conn_.get(), raw);
}

void NatsClient::WaitForJetStream(int64_t deadline_ms) const {
  const int64_t give_up = SteadyNowMs() + deadline_ms;
  // Until a meta leader exists nobody answers, and a request waits out its whole
  // timeout. For the first 10 s the asks wait 0.5 s, not the context's 5 s: a fresh
  // cluster here elects in well under a second, and a 5 s first ask made every start
  // take 5 s. After that, 5 s, for a cluster that answers but slowly.
  const int64_t patient_from = SteadyNowMs() + 10000;
  jsOptions opts;
  CheckNats(jsOptions_Init(&opts), "JetStream options");
  while (true) {
    jsAccountInfo* info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    opts.Wait = SteadyNowMs() < patient_from ? 500 : 5000;
    const natsStatus s = js_GetAccountInfo(&info, js_.get(), &opts, &jerr);
    if (s == NATS_OK) {
      jsAccountInfo_Destroy(info);
      return;
    }
    if (SteadyNowMs() >= give_up) CheckNats(s, "waiting for the JetStream meta leader", jerr);
    ThrowIfStopped(stop_, "waiting for the JetStream meta leader");
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace pricing
