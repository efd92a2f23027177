#include "observe/health_monitor.h"

#include <utility>

#include "common/log.h"

namespace pricing {

HealthMonitor::HealthMonitor(const Config& config, const Clock& clock, Metrics& metrics)
    : config_(config), clock_(clock), metrics_(metrics), liveness_(clock) {}

HealthMonitor::~HealthMonitor() { Stop(); }

void HealthMonitor::Start(std::unique_ptr<HealthProbe> probe, LastTicks last_ticks) {
  probe_ = std::move(probe);
  last_ticks_ = std::move(last_ticks);
  thread_ = std::thread([this] { Loop(); });
}

void HealthMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::Processing() {
  liveness_.Processing();
  cv_.notify_all();
}

void HealthMonitor::SetRole(Role role, std::string detail) {
  {
    std::lock_guard<std::mutex> lock(readiness_mu_);
    role_ = role;
    role_detail_ = std::move(detail);
  }
  metrics_.Active(role);
  {
    std::lock_guard<std::mutex> lock(mu_);
    role_changed_ = true;
  }
  cv_.notify_all();
}

void HealthMonitor::SetPartitionsHolding(std::string detail) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(readiness_mu_);
    // Held or no longer held: evaluated again at once, as for a role change (the text
    // alone changes every second while held).
    changed = !partitions_holding_ || partitions_holding_->empty() != detail.empty();
    partitions_holding_ = std::move(detail);
  }
  if (!changed) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    role_changed_ = true;
  }
  cv_.notify_all();
}

Readiness HealthMonitor::readiness() const {
  std::lock_guard<std::mutex> lock(readiness_mu_);
  Readiness r = readiness_;
  if (r.checks.empty()) {
    r.checks.push_back({"processing", false, "not evaluated yet"});
    return r;
  }
  // A round takes a few seconds at worst; an older result means the checks are stuck.
  const int64_t age_ms = clock_.NowMs() - r.evaluated_at_ms;
  if (age_ms > (2 * config_.health_check_interval_seconds + 10) * 1000) {
    r.ready = false;
    r.checks.push_back(
        {"evaluation", false, "last evaluated " + std::to_string(age_ms / 1000) + " s ago"});
  }
  return r;
}

HealthSnapshot HealthMonitor::TakeSnapshot() {
  HealthSnapshot s;
  const int64_t since = liveness_.processing_since_ms();
  s.processing = since != 0;
  {
    std::lock_guard<std::mutex> lock(readiness_mu_);
    s.role = role_;
    s.role_detail = role_detail_;
    s.partitions_holding = partitions_holding_;
  }
  probe_->Probe(&s);
  const int64_t now = clock_.NowMs();
  for (const auto& [city, end] : last_ticks_) {
    const int64_t last = end->load(std::memory_order_relaxed);
    if (last != 0) {
      s.tick_age_seconds[city] = static_cast<double>(now - last) / 1000.0;
      metrics_.LastTickAge(city, s.tick_age_seconds[city]);
    } else if (since != 0) {
      s.tick_age_seconds[city] = static_cast<double>(now - since) / 1000.0;
    }
  }
  return s;
}

void HealthMonitor::Loop() {
  HealthLimits limits;
  limits.max_consumer_lag = static_cast<uint64_t>(config_.health.max_consumer_lag);
  limits.max_tick_age_seconds = config_.health.max_tick_age_seconds > 0
                                    ? static_cast<double>(config_.health.max_tick_age_seconds)
                                    : 3.0 * static_cast<double>(config_.interval_seconds) +
                                          static_cast<double>(config_.allowed_lateness_ms) / 1000.0;
  bool was_ready = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    const HealthSnapshot snapshot = TakeSnapshot();
    Readiness r = EvaluateReadiness(snapshot, limits);
    r.evaluated_at_ms = clock_.NowMs();
    for (const HealthCheck& c : r.checks) metrics_.Health(c.name, c.ok);
    metrics_.Ready(r.ready);
    if (r.ready != was_ready) {
      std::string failing;
      for (const HealthCheck& c : r.checks)
        if (!c.ok) failing += " " + c.name + ": " + c.detail + ";";
      LogStream(r.ready ? LogLevel::kInfo : LogLevel::kWarn)
          << (r.ready ? "ready" : "not ready:") << failing;
      was_ready = r.ready;
    }
    {
      std::lock_guard<std::mutex> guard(readiness_mu_);
      readiness_ = r;
    }
    // What this round saw: processing that began during the round wakes the next one.
    const bool was_processing = snapshot.processing;
    lock.lock();
    cv_.wait_for(lock, std::chrono::seconds(config_.health_check_interval_seconds), [&] {
      return stop_ || std::exchange(role_changed_, false) ||
             (!was_processing && liveness_.processing());
    });
  }
}

}  // namespace pricing
