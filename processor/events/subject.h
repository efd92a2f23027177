// Subjects of events.md: parsing input subjects and building output subjects.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/event.h"

namespace pricing {

struct InputSubject {
  EventKind kind;
  std::string_view city;  // a view into the parsed subject
  // The optional fourth token (empty when absent): the publisher's entity id, or, once
  // LOCATION_EVENTS's subject transform of partitioned pricing stored it, the partition.
  std::string_view routing;
};

// Parses `location.driver.<city>` and `location.request.<city>`, each optionally with a
// fourth token; nullopt for anything else (including a city token that is not a valid
// city key).
std::optional<InputSubject> ParseInputSubject(std::string_view subject);

// True for a valid city key: lower-case letters, digits and '-', not empty.
bool IsValidCityKey(std::string_view key);

std::string PricingUpdateSubject(std::string_view city, std::string_view zone_id);
std::string SurgeEventSubject(std::string_view city);
std::string AnalyticsSubject(std::string_view city);
// Partitioned pricing (engine/partials.h): stage 1 of partition `partition` publishes
// its counts on `pricing.partial.<city>.<partition>`.
std::string PartialSubject(std::string_view city, int32_t partition);
struct PartialSubjectParts {
  std::string_view city;
  int32_t partition = 0;
};
// Parses `pricing.partial.<city>.<partition>`; nullopt for anything else.
std::optional<PartialSubjectParts> ParsePartialSubject(std::string_view subject);
// Where a processor keeps a city's checkpoint: `pricing.state.<city>`, or for stage 1 of
// a partition (`counted_partition` >= 0) `pricing.state.<city>.p<partition>`.
std::string CheckpointSubject(std::string_view city, int32_t counted_partition = -1);

// `city` may be empty or invalid for an input whose subject could not be parsed; the
// dead letter then goes to `dlq.location.unknown`.
std::string DeadLetterSubject(std::string_view city);

}  // namespace pricing
