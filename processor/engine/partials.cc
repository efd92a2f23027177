#include "engine/partials.h"

#include <simdjson.h>

#include <algorithm>

#include "common/json_writer.h"

namespace pricing {

const char* ToString(PricingStage stage) {
  switch (stage) {
    case PricingStage::kWhole:
      return "whole";
    case PricingStage::kCount:
      return "count";
    case PricingStage::kPrice:
      return "price";
  }
  return "?";
}

int32_t PartitionOf(std::string_view entity_id, int32_t partitions) {
  if (partitions <= 1) return 0;
  uint32_t h = 2166136261u;
  for (const char c : entity_id) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return static_cast<int32_t>(h % static_cast<uint32_t>(partitions));
}

std::string EncodePartial(const PartialCounts& p, const ZoneSet& zones) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("city").String(p.city).Key("tick").Int(p.tick);
  w.Key("partition").Int(p.partition).Key("partitions").Int(p.partitions);
  w.Key("zones").BeginArray();
  for (std::size_t z = 0; z < p.supply.size() && z < zones.size(); ++z) {
    if (p.supply[z] == 0 && p.demand[z] == 0) continue;
    w.BeginArray().String(zones.zone(static_cast<ZoneIndexT>(z)).id);
    w.Int(p.supply[z]).Int(p.demand[z]).EndArray();
  }
  w.EndArray().Key("read").BeginArray();
  for (const uint64_t n : p.stats.read) w.Uint(n);
  w.EndArray().Key("rejected").BeginArray();
  for (const uint64_t n : p.stats.rejected) w.Uint(n);
  w.EndArray().Key("unzoned").Uint(p.stats.unzoned);
  w.Key("seqs").BeginArray().Uint(p.input_seqs.first).Uint(p.input_seqs.last).EndArray();
  w.EndObject();
  return out;
}

namespace {

template <std::size_t N>
bool ReadCounts(simdjson::dom::element root, const char* key, std::array<uint64_t, N>* out) {
  simdjson::dom::array a;
  if (root[key].get_array().get(a) || a.size() != N) return false;
  std::size_t i = 0;
  for (simdjson::dom::element e : a) {
    if (e.get_uint64().get((*out)[i++])) return false;
  }
  return true;
}

}  // namespace

PartialCounts DecodePartial(std::string_view payload, const ZoneSet& zones, std::string* error) {
  PartialCounts p;
  error->clear();
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(simdjson::padded_string(payload)).get(root)) {
    *error = "partial counts are not JSON";
    return p;
  }
  std::string_view city;
  int64_t partition = 0, partitions = 0;
  simdjson::dom::array list, seqs;
  if (root["city"].get_string().get(city) || root["tick"].get_int64().get(p.tick) ||
      root["partition"].get_int64().get(partition) ||
      root["partitions"].get_int64().get(partitions) || root["zones"].get_array().get(list) ||
      root["seqs"].get_array().get(seqs) || seqs.size() != 2 ||
      !ReadCounts(root, "read", &p.stats.read) ||
      !ReadCounts(root, "rejected", &p.stats.rejected) ||
      root["unzoned"].get_uint64().get(p.stats.unzoned) ||
      seqs.at(0).get_uint64().get(p.input_seqs.first) ||
      seqs.at(1).get_uint64().get(p.input_seqs.last)) {
    *error = "partial counts lack a field or have one of the wrong type";
    return p;
  }
  if (partitions < 1 || partition < 0 || partition >= partitions) {
    *error = "partition " + std::to_string(partition) + " of " + std::to_string(partitions);
    return p;
  }
  p.city = city;
  p.partition = static_cast<int32_t>(partition);
  p.partitions = static_cast<int32_t>(partitions);
  p.supply.assign(zones.size(), 0);
  p.demand.assign(zones.size(), 0);
  for (simdjson::dom::element z : list) {
    simdjson::dom::array triple;
    std::string_view id;
    int64_t supply = 0, demand = 0;
    if (z.get_array().get(triple) || triple.size() != 3 || triple.at(0).get_string().get(id) ||
        triple.at(1).get_int64().get(supply) || triple.at(2).get_int64().get(demand)) {
      *error = "a zone entry is not [id, supply, demand]";
      return p;
    }
    const std::optional<ZoneIndexT> index = zones.Find(id);
    if (!index) {
      *error = "zone '" + std::string(id) + "' is not a zone of " + p.city;
      return p;
    }
    p.supply[static_cast<std::size_t>(*index)] = static_cast<int32_t>(supply);
    p.demand[static_cast<std::size_t>(*index)] = static_cast<int32_t>(demand);
  }
  return p;
}

void PartialAssembler::StartAfter(int64_t tick, bool first_complete) {
  handed_through_ = tick;
  first_complete_ = first_complete;
  std::erase_if(ticks_, [&](const auto& t) { return t.first <= tick; });
}

bool PartialAssembler::Add(PartialCounts p) {
  if (p.tick <= handed_through_) return false;
  auto& tick = ticks_[p.tick];
  const int32_t partition = p.partition;
  return tick.emplace(partition, std::move(p)).second;
}

std::optional<PartialCounts> PartialAssembler::TakeNext() {
  const auto complete = [&](const auto& t) {
    return static_cast<int32_t>(t.second.size()) >= partitions_;
  };
  if (first_complete_) {
    // Nothing handed out yet: ticks before the first complete one are dropped.
    const auto it = std::find_if(ticks_.begin(), ticks_.end(), complete);
    if (it == ticks_.end()) return std::nullopt;
    ticks_.erase(ticks_.begin(), it);
    first_complete_ = false;
  }
  if (ticks_.empty()) return std::nullopt;
  auto first = ticks_.begin();
  if (!complete(*first)) return std::nullopt;
  PartialCounts sum;
  sum.tick = first->first;
  sum.partitions = partitions_;
  sum.supply.assign(zones_, 0);
  sum.demand.assign(zones_, 0);
  for (auto& [partition, p] : first->second) {
    sum.city = p.city;
    for (std::size_t z = 0; z < zones_ && z < p.supply.size(); ++z) {
      sum.supply[z] += p.supply[z];
      sum.demand[z] += p.demand[z];
    }
    for (std::size_t k = 0; k < kEventKindCount; ++k) sum.stats.read[k] += p.stats.read[k];
    for (std::size_t r = 0; r < kRejectReasonCount; ++r) {
      sum.stats.rejected[r] += p.stats.rejected[r];
    }
    sum.stats.unzoned += p.stats.unzoned;
    if (p.input_seqs.last != 0) {
      sum.input_seqs.first = sum.input_seqs.last == 0
                                 ? p.input_seqs.first
                                 : std::min(sum.input_seqs.first, p.input_seqs.first);
      sum.input_seqs.last = std::max(sum.input_seqs.last, p.input_seqs.last);
    }
  }
  handed_through_ = first->first;
  ticks_.erase(first);
  return sum;
}

std::vector<int32_t> PartialAssembler::Missing() const {
  std::vector<int32_t> out;
  if (ticks_.empty()) return out;
  const auto& have = ticks_.begin()->second;
  for (int32_t p = 0; p < partitions_; ++p) {
    if (!have.contains(p)) out.push_back(p);
  }
  return out;
}

std::vector<int32_t> PartialAssembler::MissingAt(int64_t tick) const {
  std::vector<int32_t> out;
  const auto it = ticks_.find(tick);
  for (int32_t p = 0; p < partitions_; ++p) {
    if (it == ticks_.end() || !it->second.contains(p)) out.push_back(p);
  }
  return out;
}

std::optional<int64_t> PartialAssembler::held_tick() const {
  if (ticks_.empty()) return std::nullopt;
  return ticks_.begin()->first;
}

}  // namespace pricing
