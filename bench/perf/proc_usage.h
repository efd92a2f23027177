// What a process costs while a cell runs, read from /proc: CPU time (user + system,
// every thread) and resident memory. The harness samples the servers of the system
// under test and itself (the clients) at the start and the end of the measured part.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pricing::perf {

struct ProcSample {
  bool ok = false;
  int64_t cpu_ns = 0;     // user + system time so far
  int64_t rss_bytes = 0;  // resident now
};

// pid 0: this process. Not ok when the process is gone or /proc cannot be read.
ProcSample SampleProc(int pid);

// One process's share over an interval.
struct ProcCost {
  int pid = 0;
  std::string name;        // its command (/proc/PID/comm), e.g. "nats-server" or "java"
  double cpu_percent = 0;  // of one core, over the interval
  int64_t rss_bytes = 0;   // at the end of the interval
};

// Samples a set of processes at the start of an interval and reports at its end.
class CostMeter {
 public:
  explicit CostMeter(std::vector<int> pids) : pids_(std::move(pids)) {}
  void Start(int64_t mono_ns);
  std::vector<ProcCost> Stop(int64_t mono_ns) const;

 private:
  std::vector<int> pids_;
  std::vector<ProcSample> start_;
  int64_t start_ns_ = 0;
};

// The pids written one per line (or space-separated) in each file: a cluster's pid
// files. A file that cannot be read is an error naming it.
std::vector<int> ReadPidFiles(const std::vector<std::string>& files);

}  // namespace pricing::perf
