#include "perf/proc_usage.h"

#include <unistd.h>

#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pricing::perf {
namespace {

std::string ProcPath(int pid, const char* what) {
  return pid == 0 ? std::string("/proc/self/") + what : "/proc/" + std::to_string(pid) + "/" + what;
}

}  // namespace

ProcSample SampleProc(int pid) {
  ProcSample s;
  std::ifstream stat(ProcPath(pid, "stat"));
  std::string line;
  if (!std::getline(stat, line)) return s;
  // The command is in parentheses and may hold spaces: the fields follow the last ')'.
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  // Field 3 (state) is the first after ')'; utime and stime are fields 14 and 15.
  for (int n = 3; n <= 15 && fields >> field; ++n) {
    if (n == 14) utime = std::stoll(field);
    if (n == 15) stime = std::stoll(field);
  }
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  s.cpu_ns = (utime + stime) * (1'000'000'000 / ticks);
  // This process: to the nanosecond. /proc counts clock ticks (10 ms): a light cell (the
  // loopback floor at 500/s under the sanitizers) could read 0 % for a busy second.
  timespec own{};
  if (pid == 0 && ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &own) == 0) {
    s.cpu_ns = static_cast<int64_t>(own.tv_sec) * 1'000'000'000 + own.tv_nsec;
  }
  std::ifstream status(ProcPath(pid, "status"));
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      s.rss_bytes = std::stoll(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
      break;
    }
  }
  s.ok = true;
  return s;
}

void CostMeter::Start(int64_t mono_ns) {
  start_ns_ = mono_ns;
  start_.clear();
  for (int pid : pids_) start_.push_back(SampleProc(pid));
}

std::vector<ProcCost> CostMeter::Stop(int64_t mono_ns) const {
  std::vector<ProcCost> out;
  const double span_ns = static_cast<double>(mono_ns - start_ns_);
  for (std::size_t i = 0; i < pids_.size() && i < start_.size(); ++i) {
    const ProcSample end = SampleProc(pids_[i]);
    if (!start_[i].ok || !end.ok || span_ns <= 0) continue;
    ProcCost c;
    c.pid = pids_[i];
    std::ifstream comm(ProcPath(pids_[i], "comm"));
    std::getline(comm, c.name);
    c.cpu_percent = 100.0 * static_cast<double>(end.cpu_ns - start_[i].cpu_ns) / span_ns;
    c.rss_bytes = end.rss_bytes;
    out.push_back(c);
  }
  return out;
}

std::vector<int> ReadPidFiles(const std::vector<std::string>& files) {
  std::vector<int> pids;
  for (const std::string& f : files) {
    std::ifstream in(f);
    if (!in) throw std::runtime_error("cannot read pid file " + f);
    int pid = 0;
    while (in >> pid) pids.push_back(pid);
  }
  return pids;
}

}  // namespace pricing::perf
