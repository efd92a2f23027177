#include "gateway/gateway.h"

#include <simdjson.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdlib>
#include <deque>

#include "common/json_writer.h"
#include "common/log.h"
#include "engine/city_engine.h"
#include "gateway/web_assets.h"
#include "transport/kafka_handles.h"
#include "transport/kafka_reader.h"
#include "transport/pull_consumer.h"

namespace pricing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class Session;

}  // namespace

// The connected clients by city. Sessions register once their snapshot is queued and
// unregister when they end; the registry outlives every session that refers to it.
class SurgeGateway::Registry {
 public:
  Registry(Metrics& metrics, std::size_t max_queue) : metrics_(metrics), max_queue_(max_queue) {}

  void Add(const std::string& city, const std::shared_ptr<Session>& s);
  void Remove(const std::string& city, Session* s);
  // Every session of `city`, alive at the time of the call.
  std::vector<std::shared_ptr<Session>> Of(const std::string& city);
  std::vector<std::shared_ptr<Session>> All();
  std::size_t size() const { return count_.load(); }

  Metrics& metrics() { return metrics_; }
  std::size_t max_queue() const { return max_queue_; }

 private:
  Metrics& metrics_;
  const std::size_t max_queue_;
  std::mutex mu_;
  std::map<std::string, std::unordered_map<Session*, std::weak_ptr<Session>>> by_city_;
  std::atomic<std::size_t> count_{0};
};

namespace {

using Payload = std::shared_ptr<const std::string>;

// One WebSocket client. Everything it does runs on its connection's strand; Send may
// be called from any thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::string city, ZoneFilter filter,
          std::shared_ptr<SurgeGateway::Registry> registry)
      : ws_(std::move(socket)),
        city_(std::move(city)),
        filter_(std::move(filter)),
        registry_(std::move(registry)) {}

  ~Session() {
    if (registered_) registry_->Remove(city_, this);
  }

  const ZoneFilter& filter() const { return filter_; }

  // Answers the handshake of `request`, queues `first` and registers for changes.
  void Start(HttpServer::UpgradeRequest request, Payload first) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(beast::http::field::server, "surge-pricing");
    }));
    ws_.read_message_max(4096);  // clients have nothing to say but control frames
    queue_.push_back(std::move(first));
    registry_->Add(city_, shared_from_this());
    registered_ = true;
    ws_.async_accept(request, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->End();
      self->open_ = true;
      self->Read();
      self->Write();
    });
  }

  // Queues a message; a client already `max_queue` behind is disconnected instead.
  void Send(Payload message) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), m = std::move(message)]() mutable {
      if (self->ended_ || self->closing_) return;
      if (self->queue_.size() >= self->registry_->max_queue()) {
        self->registry_->metrics().WebSocketDropped("slow_client");
        PRICING_LOG(kWarn) << "websocket: disconnecting a client " << self->queue_.size()
                           << " messages behind (city " << self->city_ << ")";
        return self->Abort();
      }
      self->queue_.push_back(std::move(m));
      if (self->open_ && self->queue_.size() == 1) self->Write();
    });
  }

  // Closes politely ("going away"): the server is stopping.
  void Close() {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      if (self->ended_ || !self->open_) return self->Abort();
      self->closing_ = true;
      if (!self->queue_.empty()) return;  // Write closes when the queue is empty
      self->DoClose();
    });
  }

 private:
  void Read() {
    ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->End();
      self->in_.consume(self->in_.size());
      self->Read();
    });
  }

  void Write() {
    if (queue_.empty() || ended_) {
      if (closing_ && !ended_) DoClose();
      return;
    }
    ws_.text(true);
    // The handler holds the message: End() may clear the queue while the write is
    // still in progress, and the write must not outlive its buffer.
    Payload message = queue_.front();
    ws_.async_write(asio::buffer(*message),
                    [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
                      // Ended meanwhile (a slow client's queue is already cleared):
                      // this write may still report success.
                      if (ec || self->ended_) return self->End();
                      self->queue_.pop_front();
                      self->registry_->metrics().WebSocketSent(1);
                      self->Write();
                    });
  }

  void DoClose() {
    ws_.async_close(websocket::close_code::going_away,
                    [self = shared_from_this()](beast::error_code) { self->End(); });
  }

  void Abort() {
    End();
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  void End() {
    if (ended_) return;
    ended_ = true;
    queue_.clear();
    if (registered_) {
      registry_->Remove(city_, this);
      registered_ = false;
    }
  }

  websocket::stream<beast::tcp_stream> ws_;
  const std::string city_;
  const ZoneFilter filter_;
  std::shared_ptr<SurgeGateway::Registry> registry_;
  beast::flat_buffer in_;
  std::deque<Payload> queue_;
  bool registered_ = false;  // touched at Start (before any handler) and on the strand
  bool open_ = false, closing_ = false, ended_ = false;
};

HttpServer::Response Json(unsigned status, std::string body) {
  return {status, "application/json", std::move(body)};
}

// The first path token after `prefix` ("pricing.update." → "nyc" in
// "pricing.update.nyc.132"), or empty.
std::string_view CityOf(std::string_view subject, std::string_view prefix) {
  if (subject.substr(0, prefix.size()) != prefix) return {};
  subject.remove_prefix(prefix.size());
  return subject.substr(0, subject.find('.'));
}

}  // namespace

// The gauge is set under the lock, so concurrent changes cannot leave it stale.
void SurgeGateway::Registry::Add(const std::string& city, const std::shared_ptr<Session>& s) {
  std::lock_guard<std::mutex> lock(mu_);
  by_city_[city].emplace(s.get(), s);
  metrics_.WebSocketClients(static_cast<int64_t>(++count_));
}

void SurgeGateway::Registry::Remove(const std::string& city, Session* s) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_city_.find(city);
  if (it == by_city_.end() || it->second.erase(s) == 0) return;
  metrics_.WebSocketClients(static_cast<int64_t>(--count_));
}

std::vector<std::shared_ptr<Session>> SurgeGateway::Registry::Of(const std::string& city) {
  std::vector<std::shared_ptr<Session>> out;
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = by_city_.find(city);
  if (it == by_city_.end()) return out;
  out.reserve(it->second.size());
  for (const auto& [raw, weak] : it->second) {
    if (auto s = weak.lock()) out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::shared_ptr<Session>> SurgeGateway::Registry::All() {
  std::vector<std::shared_ptr<Session>> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [city, sessions] : by_city_) {
    for (const auto& [raw, weak] : sessions) {
      if (auto s = weak.lock()) out.push_back(std::move(s));
    }
  }
  return out;
}

SurgeGateway::SurgeGateway(const Config& config, Metrics& metrics)
    : config_(config),
      metrics_(metrics),
      registry_(std::make_shared<Registry>(
          metrics, static_cast<std::size_t>(config.gateway.max_queue_messages))) {
  for (const auto& [key, city] : config.cities) {
    City c;
    const auto zones = CityZones::Load(city);
    // Shares the loaded zones; the index is not needed here.
    c.zones = std::shared_ptr<const ZoneSet>(zones, &zones->zones);
    c.board = std::make_unique<SurgeBoard>(key, c.zones);
    cities_.emplace(key, std::move(c));
  }
}

SurgeGateway::~SurgeGateway() { Stop(0); }

SurgeGateway::City* SurgeGateway::FindCity(std::string_view key) {
  const auto it = cities_.find(key);
  return it == cities_.end() ? nullptr : &it->second;
}

void SurgeGateway::AddRoutes(HttpServer& server) {
  server.HandleUpgrade(
      "/ws",
      [this](const HttpServer::Request& r)
          -> std::variant<HttpServer::Response, HttpServer::UpgradeAccept> {
        std::string key, zones_text, error;
        if (!QueryParam(r.query, "city", &key)) {
          return Json(400, R"({"error":"city missing: /ws?city=<city>[&zones=<id>,<id>]"})");
        }
        City* city = FindCity(key);
        if (city == nullptr) return Json(404, R"({"error":"unknown city"})");
        QueryParam(r.query, "zones", &zones_text);
        auto filter = ParseZoneFilter(zones_text, *city->zones, &error);
        if (!filter) {
          std::string body;
          JsonWriter(&body).BeginObject().Key("error").String(error).EndObject();
          return Json(400, std::move(body));
        }
        if (registry_->size() >= static_cast<std::size_t>(config_.gateway.max_clients)) {
          metrics_.WebSocketDropped("too_many_clients");
          return Json(503, R"({"error":"too many clients"})");
        }
        return [this, key, city, f = std::move(*filter)](
                   tcp::socket socket, HttpServer::UpgradeRequest request) mutable {
          auto session = std::make_shared<Session>(std::move(socket), key, std::move(f), registry_);
          // Under the boards' lock: every change applied after this snapshot is sent to
          // the session, and none before.
          std::lock_guard<std::mutex> lock(mu_);
          auto snapshot =
              std::make_shared<const std::string>(city->board->SnapshotJson(session->filter()));
          session->Start(std::move(request), std::move(snapshot));
        };
      });
  server.Handle("/map", [](const HttpServer::Request&) {
    return HttpServer::Response{200, "text/html; charset=utf-8", std::string(MapHtml())};
  });
  server.Handle("/map.js", [](const HttpServer::Request&) {
    return HttpServer::Response{200, "text/javascript; charset=utf-8", std::string(MapJs())};
  });
  server.Handle("/api/cities", [this](const HttpServer::Request&) {
    std::string body;
    JsonWriter w(&body);
    w.BeginArray();
    for (const auto& [key, city] : cities_) w.String(key);
    w.EndArray();
    return Json(200, std::move(body));
  });
  server.Handle("/api/zones", [this](const HttpServer::Request& r) {
    std::string key;
    QueryParam(r.query, "city", &key);
    City* city = FindCity(key);
    if (city == nullptr) return Json(404, R"({"error":"unknown city: /api/zones?city=<city>"})");
    // Zones never change: built once, without holding up the boards.
    std::call_once(*city->map_once, [&] { city->map_geojson = MapGeoJson(*city->zones); });
    return HttpServer::Response{200, "application/geo+json", city->map_geojson};
  });
  server.Handle("/api/history", [this](const HttpServer::Request& r) {
    std::string key, id, minutes_text;
    QueryParam(r.query, "city", &key);
    QueryParam(r.query, "zone", &id);
    QueryParam(r.query, "minutes", &minutes_text);
    City* city = FindCity(key);
    if (city == nullptr) return Json(404, R"({"error":"unknown city"})");
    if (!city->zones->Find(id)) return Json(404, R"({"error":"unknown zone"})");
    const int64_t minutes = std::clamp<int64_t>(
        minutes_text.empty() ? 60 : std::strtoll(minutes_text.c_str(), nullptr, 10), 1, 24 * 60);
    std::string error;
    std::string body = History(key, id, minutes, &error);
    if (!error.empty()) {
      std::string out;
      JsonWriter(&out).BeginObject().Key("error").String(error).EndObject();
      return Json(503, out);
    }
    return Json(200, std::move(body));
  });
  server.Handle("/api/zone", [this](const HttpServer::Request& r) {
    std::string key, id;
    QueryParam(r.query, "city", &key);
    QueryParam(r.query, "zone", &id);
    City* city = FindCity(key);
    if (city == nullptr) return Json(404, R"({"error":"unknown city"})");
    const auto z = city->zones->Find(id);
    if (!z) return Json(404, R"({"error":"unknown zone"})");
    std::lock_guard<std::mutex> lock(mu_);
    const std::string& update = city->board->LatestUpdate(*z);
    if (update.empty()) return Json(404, R"({"error":"no update for this zone yet"})");
    return Json(200, update);
  });
}

std::string SurgeGateway::History(const std::string& city, const std::string& zone, int64_t minutes,
                                  std::string* error) {
  if (config_.backend != "nats") {
    *error = "history is read from JetStream's PRICING_UPDATES; this gateway follows Kafka";
    return "";
  }
  std::lock_guard<std::mutex> lock(history_mu_);
  if (!subscribed_.load() || client_ == nullptr) {
    *error = "not connected to NATS yet";
    return "";
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t from_ms = now_ms - minutes * 60'000;
  // An ordered consumer on the zone's one subject, from `minutes` back; its stream
  // index by subject makes this a read of that zone's messages only.
  const std::string subject = "pricing.update." + city + "." + zone;
  Subscription sub;
  try {
    sub = client_->ReadOrdered("PRICING_UPDATES", subject, from_ms, "reading " + subject);
  } catch (const NatsError& e) {
    *error = e.what();
    return "";
  }
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("zone_id").String(zone).Key("from").Int(from_ms);
  w.Key("points").BeginArray();
  simdjson::dom::parser parser;
  int64_t last_tick = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  natsMsg* m = nullptr;
  uint64_t read = 0;
  // Until nothing more comes: 2 s for the first (the consumer is new) and while the
  // server says more are pending; a short wait once it says none are, in case more
  // were stored meanwhile.
  for (int64_t wait = 2000; std::chrono::steady_clock::now() < give_up &&
                            natsSubscription_NextMsg(&m, sub.get(), wait) == NATS_OK;) {
    ++read;
    NatsPtr<natsMsg> msg(m);
    simdjson::dom::element e;
    int64_t tick = 0;
    double q = 0;
    if (!parser.parse(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)))
             .get(e) &&
        !e["tick"].get_int64().get(tick) && !e["multiplier"].get_double().get(q) &&
        tick > last_tick) {  // a tick published twice (a restart) counts once
      w.BeginArray().Int(tick).Double(q).EndArray();
      last_tick = tick;
    }
    wait = PullConsumer::MetaOf(m).pending > 0 ? 2000 : 100;
  }
  PRICING_LOG(kDebug) << "gateway: history of " << subject << ": " << read << " messages";
  w.EndArray().EndObject();
  return out;
}

void SurgeGateway::OnPricingUpdate(std::string_view subject, std::string_view payload) {
  const std::string_view key = CityOf(subject, "pricing.update.");
  City* city = FindCity(key);
  if (city == nullptr) return;
  std::string error;
  std::optional<SurgeChanges> first;
  std::lock_guard<std::mutex> lock(mu_);
  if (!city->board->ApplyUpdate(payload, &error, &first)) {
    PRICING_LOG(kWarn) << "gateway: ignoring " << subject << ": " << error;
    return;
  }
  // A zone's first price reaches clients that connected before it was known.
  if (first) Broadcast(key, *city, *first);
}

void SurgeGateway::OnSurgeEvent(std::string_view subject, std::string_view payload) {
  const std::string_view key = CityOf(subject, "ws.surge.");
  City* city = FindCity(key);
  if (city == nullptr) return;
  std::string error;
  std::lock_guard<std::mutex> lock(mu_);
  auto changes = city->board->ApplySurge(payload, &error);
  if (!changes) {
    PRICING_LOG(kWarn) << "gateway: ignoring " << subject << ": " << error;
    return;
  }
  Broadcast(key, *city, *changes);
}

void SurgeGateway::Broadcast(std::string_view key, const City& city, const SurgeChanges& changes) {
  // One encoding for every unfiltered client; filtered ones get theirs.
  Payload all;
  for (const auto& session : registry_->Of(std::string(key))) {
    if (session->filter().all()) {
      if (!all) all = std::make_shared<const std::string>(*ChangesJson(changes, *city.zones, {}));
      session->Send(all);
    } else if (auto mine = ChangesJson(changes, *city.zones, session->filter())) {
      session->Send(std::make_shared<const std::string>(std::move(*mine)));
    }
  }
}

namespace {

template <void (SurgeGateway::*Apply)(std::string_view, std::string_view)>
void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  NatsPtr<natsMsg> m(msg);
  const char* subject = natsMsg_GetSubject(m.get());
  // Ordered consumers need no acks; their heartbeats and flow control never get here.
  (static_cast<SurgeGateway*>(closure)->*Apply)(
      subject, std::string_view(natsMsg_GetData(m.get()),
                                static_cast<std::size_t>(natsMsg_GetDataLength(m.get()))));
}

}  // namespace

bool SurgeGateway::TrySubscribe() {
  const auto subscribe = [&](const char* stream, const char* subject, jsDeliverPolicy policy,
                             natsMsgHandler handler) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = policy;
    natsSubscription* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    CheckNats(js_Subscribe(&raw, client_->js(), subject, handler, this, nullptr, &so, &jerr),
              std::string("subscribing to ") + subject, jerr);
    Subscription sub(client_->connection(), raw);
    // Told once the subscription is closed and its last callback returned: Stop waits
    // for it, so no callback runs on a gateway being destroyed.
    CheckNats(natsSubscription_SetOnCompleteCB(raw, &SurgeGateway::OnSubscriptionDone, this),
              "watching the subscription to " + std::string(subject));
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      ++open_subscriptions_;
    }
    return sub;
  };
  try {
    if (!client_) {
      NatsSettings settings;
      settings.urls = config_.nats_url;
      settings.auth = config_.nats_auth;
      settings.name = "pricing-gateway";
      // Not the 1 s ping of the other clients: with it, a burst of 600 large surge
      // messages ended with every fast WebSocket client dropped as slow (gateway_test;
      // back to passing with this setting). Likely the busy connection taken for stale.
      settings.ping_interval_ms = 10000;
      settings.connect_wait_ms = 0;  // until a server answers, or the gateway stops
      settings.stop = &stopping_;
      client_ = NatsClient::Connect(settings);
    }
    if (!updates_) {
      updates_ = subscribe("PRICING_UPDATES", "pricing.update.>", js_DeliverLastPerSubject,
                           &OnMessage<&SurgeGateway::OnPricingUpdate>);
    }
    if (!surges_) {
      surges_ = subscribe("WEBSOCKET_EVENTS", "ws.surge.>", js_DeliverNew,
                          &OnMessage<&SurgeGateway::OnSurgeEvent>);
    }
    return true;
  } catch (const NatsError& e) {
    PRICING_LOG(kDebug) << "gateway: " << e.what() << " (retrying)";
    return false;
  }
}

void SurgeGateway::OnSubscriptionDone(void* closure) {
  auto* self = static_cast<SurgeGateway*>(closure);
  std::lock_guard<std::mutex> lock(self->done_mu_);
  --self->open_subscriptions_;
  self->done_cv_.notify_all();
}

void SurgeGateway::FollowKafka() {
  // pricing-updates from a while back (every tick carries every zone: the last tick's
  // messages are each zone's last value), websocket-events from its end.
  const int64_t history_ms = 60000 + 3 * config_.interval_ms();
  std::unique_ptr<KafkaReader> updates, surges;
  int attempts = 0;
  while (!stopping_.load()) {
    try {
      if (!updates) {
        auto reader = std::make_unique<KafkaReader>(
            config_.kafka.brokers, TopicForStream("PRICING_UPDATES"), "pricing-gateway");
        const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        reader->Follow(reader->From(reader->Retained(5000), now - history_ms, 5000));
        updates = std::move(reader);
      }
      if (!surges) {
        auto reader = std::make_unique<KafkaReader>(
            config_.kafka.brokers, TopicForStream("WEBSOCKET_EVENTS"), "pricing-gateway");
        std::vector<PartitionRange> ranges = reader->Retained(5000);
        for (PartitionRange& r : ranges) r.from = r.until;  // new messages only
        reader->Follow(ranges);
        surges = std::move(reader);
      }
      break;
    } catch (const std::exception& e) {
      if (++attempts == 10) PRICING_LOG(kWarn) << "gateway: " << e.what() << "; still trying";
      PRICING_LOG(kDebug) << "gateway: " << e.what() << " (retrying)";
      std::unique_lock<std::mutex> lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_.load(); });
    }
  }
  if (stopping_.load()) return;
  subscribed_.store(true);
  PRICING_LOG(kInfo) << "gateway: following " << updates->topic() << " and " << surges->topic();
  const auto deliver = [&](const rd_kafka_message_t& m, const char* prefix) {
    const std::string subject = KafkaHeader(m, "subject");
    if (!subject.starts_with(prefix)) return;
    const std::string_view payload(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
    if (subject.starts_with("pricing.update.")) {
      OnPricingUpdate(subject, payload);
    } else {
      OnSurgeEvent(subject, payload);
    }
  };
  while (!stopping_.load()) {
    bool any = false;
    while (auto m = updates->Poll(0)) {
      deliver(*m, "pricing.update.");
      any = true;
    }
    while (auto m = surges->Poll(any ? 0 : 50)) {
      deliver(*m, "ws.surge.");
      any = true;
    }
  }
  subscribed_.store(false);
}

void SurgeGateway::SubscribeLoop() {
  if (config_.backend == "kafka") {
    FollowKafka();
    return;
  }
  int attempts = 0;
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_.load()) {
    lock.unlock();
    const bool ok = TrySubscribe();
    lock.lock();
    if (ok) {
      subscribed_.store(true);
      PRICING_LOG(kInfo) << "gateway: following PRICING_UPDATES and WEBSOCKET_EVENTS";
      return;
    }
    // Without a connection, NatsClient has said so already, naming the URL.
    if (++attempts == 10 && client_) {
      PRICING_LOG(kWarn) << "gateway: the output streams are not there yet; still trying";
    }
    stop_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_.load(); });
  }
}

void SurgeGateway::Start() {
  subscriber_ = std::thread([this] { SubscribeLoop(); });
}

bool SurgeGateway::subscribed() const {
  if (config_.backend == "kafka") return subscribed_.load();
  return subscribed_.load() && client_ != nullptr && client_->connected();
}

std::size_t SurgeGateway::clients() const { return registry_->size(); }

void SurgeGateway::Stop(int wait_ms) {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_.store(true);
  }
  stop_cv_.notify_all();
  if (subscriber_.joinable()) subscriber_.join();
  surges_.reset();
  updates_.reset();
  {
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return open_subscriptions_ == 0; });
  }
  {
    std::lock_guard<std::mutex> lock(history_mu_);
    client_.reset();
  }
  for (const auto& s : registry_->All()) s->Close();
  for (int waited = 0; registry_->size() > 0 && waited < wait_ms; waited += 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace pricing
