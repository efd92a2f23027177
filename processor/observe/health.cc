#include "observe/health.h"

#include <cstdio>

#include "common/json_writer.h"

namespace pricing {
namespace {

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Connected, and every stream (or topic) there.
void AddTransportChecks(const HealthSnapshot& s, Readiness* r) {
  r->checks.push_back(
      {s.connection_check, s.connected, s.connected ? "connected" : "disconnected"});
  std::string missing;
  for (const auto& m : s.missing_streams) missing += (missing.empty() ? "" : ", ") + m;
  r->checks.push_back({"streams_present", s.missing_streams.empty(),
                       missing.empty() ? "all streams present" : "missing: " + missing});
}

}  // namespace

const char* ToString(Role role) {
  switch (role) {
    case Role::kStandby:
      return "standby";
    case Role::kActive:
      return "active";
    case Role::kNone:
      break;
  }
  return "";
}

Readiness EvaluateReadiness(const HealthSnapshot& s, const HealthLimits& limits) {
  Readiness r;
  r.role = s.role;
  if (s.role == Role::kStandby) {
    // A standby is healthy when it can take over: connected, with the streams there. It
    // has no ticks and no lag of its own.
    r.checks.push_back({"role", true, s.role_detail.empty() ? "standby" : s.role_detail});
    AddTransportChecks(s, &r);
    r.ready = true;
    for (const auto& c : r.checks) r.ready = r.ready && c.ok;
    return r;
  }
  r.checks.push_back({"processing", s.processing,
                      s.processing ? "fetch loop running" : "connecting or recovering state"});
  AddTransportChecks(s, &r);
  if (s.consumer_pending) {
    const bool ok = *s.consumer_pending <= limits.max_consumer_lag;
    r.checks.push_back({"consumer_lag", ok,
                        std::to_string(*s.consumer_pending) + " pending (limit " +
                            std::to_string(limits.max_consumer_lag) + ")"});
  } else {
    r.checks.push_back({"consumer_lag", false, "consumer state unreadable: " + s.consumer_error});
  }
  bool ages_ok = true;
  std::string ages;
  for (const auto& [city, age] : s.tick_age_seconds) {
    ages_ok = ages_ok && age <= limits.max_tick_age_seconds;
    ages += (ages.empty() ? "" : ", ") + city + " " + Fixed(age) + " s";
  }
  r.checks.push_back({"tick_age", ages_ok && !s.tick_age_seconds.empty(),
                      (ages.empty() ? std::string("no city") : ages) + " (limit " +
                          Fixed(limits.max_tick_age_seconds) + " s)"});
  if (s.partitions_holding) {
    const bool ok = s.partitions_holding->empty();
    r.checks.push_back(
        {"partitions", ok, ok ? "every partition's counts are in" : *s.partitions_holding});
  }
  r.ready = true;
  for (const auto& c : r.checks) r.ready = r.ready && c.ok;
  return r;
}

std::string Readiness::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("ready").Bool(ready);
  if (role != Role::kNone) w.Key("role").String(ToString(role));
  w.Key("checks").BeginArray();
  for (const auto& c : checks) {
    w.BeginObject();
    w.Key("name").String(c.name);
    w.Key("ok").Bool(c.ok);
    w.Key("detail").String(c.detail);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

}  // namespace pricing
