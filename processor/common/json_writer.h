// Appends compact JSON to a caller-owned string, with commas placed automatically.
// Not thread-safe; a writer is a short-lived local on one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pricing {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  // Shortest text that reads back as the same double; non-finite values become null.
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts already-serialised JSON (for example an original payload) verbatim.
  JsonWriter& Raw(std::string_view json);

 private:
  void BeforeValue();

  std::string* out_;
  std::vector<bool> first_;  // one flag per open container: no element written yet
  bool after_key_ = false;
};

// Appends `value` to `out` as a JSON string literal, quotes included.
void AppendJsonString(std::string* out, std::string_view value);

}  // namespace pricing
