// The WebSocket push channel and live surge map (Boost.Beast). Each gateway instance
// reads every city's outputs with its own ephemeral ordered consumers, so any number
// of instances each receive every event (fan-out):
//   PRICING_UPDATES  pricing.update.>  last message per zone, then new ones
//   WEBSOCKET_EVENTS ws.surge.>        new messages only
// A client of `/ws?city=nyc[&zones=132,138]` gets a snapshot of the zones it asked for,
// then every change of those zones. Each client has a bounded queue: a client that
// falls `max_queue_messages` behind is disconnected and counted, and never slows the
// others. The same server gives the map page (`/map`) and its data (`/api/...`).
// On a kafka backend it follows the topics of those streams instead: pricing-updates
// from a minute back (every tick carries every zone, so each zone's last value is
// there), then new messages, and websocket-events from its end.
// Runs in `pricing run` and on its own (`pricing gateway`). Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "gateway/surge_board.h"
#include "http/http_server.h"
#include "observe/metrics.h"
#include "transport/nats_client.h"

namespace pricing {

class SurgeGateway {
 public:
  SurgeGateway(const Config& config, Metrics& metrics);
  SurgeGateway(const SurgeGateway&) = delete;
  SurgeGateway& operator=(const SurgeGateway&) = delete;
  ~SurgeGateway();

  // Adds /ws, /map, /map.js, /api/cities, /api/zones, /api/zone and /api/history to
  // `server`.
  void AddRoutes(HttpServer& server);
  // Connects and subscribes on a thread of its own, retrying until the streams exist.
  void Start();
  // Unsubscribes, closes every client with "going away" and waits up to `wait_ms` for
  // them to go. Idempotent.
  void Stop(int wait_ms = 2000);

  // Whether both consumers are subscribed and the connection is up.
  bool subscribed() const;
  std::size_t clients() const;

  // Feed the gateway as the consumers do (public for tests and the processor).
  void OnPricingUpdate(std::string_view subject, std::string_view payload);
  void OnSurgeEvent(std::string_view subject, std::string_view payload);

  class Registry;  // the connected clients; shared with their sessions

 private:
  struct City {
    std::shared_ptr<const ZoneSet> zones;
    std::unique_ptr<SurgeBoard> board;
    std::string map_geojson;  // built once, on first request, outside mu_
    std::unique_ptr<std::once_flag> map_once = std::make_unique<std::once_flag>();
  };
  City* FindCity(std::string_view key);
  // Sends `changes` to every client of city `key` that wants any of them (under mu_).
  void Broadcast(std::string_view key, const City& city, const SurgeChanges& changes);
  void SubscribeLoop();
  // backend: kafka: follows pricing-updates (the last minute, then new messages) and
  // websocket-events (new messages) on the subscriber thread until Stop.
  void FollowKafka();
  static void OnSubscriptionDone(void* closure);
  bool TrySubscribe();

  const Config& config_;
  Metrics& metrics_;
  std::map<std::string, City, std::less<>> cities_;
  // Guards every board and the order of snapshot vs. changes for new clients.
  mutable std::mutex mu_;
  std::shared_ptr<Registry> registry_;
  // A zone's published multipliers over the last minutes, read from PRICING_UPDATES
  // (NATS backend; the map's sparkline). Empty `error` on success.
  std::string History(const std::string& city, const std::string& zone, int64_t minutes,
                      std::string* error);
  // Held while a history read uses client_, and by Stop while it resets client_.
  std::mutex history_mu_;

  std::unique_ptr<NatsClient> client_;
  Subscription updates_, surges_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  int open_subscriptions_ = 0;  // guarded by done_mu_
  std::atomic<bool> subscribed_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread subscriber_;
};

}  // namespace pricing
