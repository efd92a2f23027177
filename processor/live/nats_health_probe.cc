#include "live/nats_health_probe.h"

#include <algorithm>

#include "transport/stream_admin.h"

namespace pricing {

NatsHealthProbe::NatsHealthProbe(const Config& config, const NatsClient& client, Metrics& metrics,
                                 std::string stream, std::string durable)
    : config_(config),
      client_(client),
      metrics_(metrics),
      // Each API call waits at most a second (or the interval): a round stays short
      // even without a quorum, so readiness follows the cluster.
      js_(client.NewJetStream(
          std::clamp<int64_t>(config.health_check_interval_seconds * 1000, 200, 1000))),
      stream_(std::move(stream)),
      durable_(std::move(durable)) {}

void NatsHealthProbe::Probe(HealthSnapshot* s) {
  s->connected = client_.connected();
  metrics_.Connection(s->connected, client_.disconnects(), client_.reconnects());
  try {
    const ConsumerState c = GetConsumerState(js_.get(), stream_, durable_);
    metrics_.ConsumerState(c.num_pending, c.num_ack_pending, c.num_redelivered);
    s->consumer_pending = c.num_pending;
  } catch (const NatsError& e) {
    s->consumer_error = e.what();
  }
  bool answering = s->consumer_pending.has_value() || s->connected;
  for (const StreamConfig& stream : config_.streams) {
    if (!answering) {  // one timeout is enough: keep the round short
      s->missing_streams.push_back(stream.name + " (not checked)");
      continue;
    }
    try {
      const StreamState st = GetStreamState(js_.get(), stream.name);
      metrics_.StreamState(stream.name, st.messages, st.bytes);
    } catch (const NatsError& e) {
      const bool missing = e.js_code() == JSStreamNotFoundErr || e.status() == NATS_NOT_FOUND;
      s->missing_streams.push_back(missing ? stream.name : stream.name + " (unreadable)");
      answering = missing;
    }
  }
}

}  // namespace pricing
