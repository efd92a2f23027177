// Fuzzes LoadConfig: any file must load or be refused with a ConfigError naming the
// file; nothing else may escape (no other exception, crash or sanitizer report).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      "/tmp/pricing-fuzz-config-" + std::to_string(::getpid()) + ".yaml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  // No environment overrides: the file alone decides.
  const pricing::EnvLookup no_env = [](const std::string&) { return std::nullopt; };
  try {
    pricing::LoadConfig(path, no_env);
  } catch (const pricing::ConfigError& e) {
    if (std::string(e.what()).find("pricing-fuzz-config-") == std::string::npos) {
      std::fprintf(stderr, "a ConfigError that does not name the file: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
