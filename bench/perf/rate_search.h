// The search for the highest rate a system sustains, shared by the messaging cells and
// the whole pipeline: double from a rate that held until one does not (or the cap is
// passed), halve when not even the start holds, then bisect between the highest rate
// that held and the lowest that did not. Header-only; runs on the calling thread.
#pragma once

#include <cmath>

namespace pricing::perf {

struct RateSearch {
  double held = 0;          // the highest rate that held (0: none did)
  double first_failed = 0;  // the lowest rate that did not hold (0: none failed up to the cap)
};

// `attempt(rate)` runs one try at `rate` and says whether it held. Doubling stops
// past `cap`; halving goes down to a 64th of `start`; `bisections` steps narrow the
// gap between `held` and `first_failed` at the end.
template <class Attempt>
RateSearch SearchMaxRate(double start, double cap, int bisections, Attempt&& attempt) {
  RateSearch s;
  auto run = [&](double rate) {
    const bool ok = attempt(rate);
    if (ok && rate > s.held) s.held = rate;
    if (!ok && (s.first_failed == 0 || rate < s.first_failed)) s.first_failed = rate;
    return ok;
  };
  double rate = start;
  while (rate <= cap && run(rate)) rate *= 2;
  // Not even the start held (a noisy moment, or a slow system): halve until one holds.
  for (double down = start / 2; s.held == 0 && down >= start / 64; down /= 2) run(down);
  if (s.held > 0 && s.first_failed > 0) {
    double lo = s.held, hi = s.first_failed;
    for (int step = 0; step < bisections; ++step) {
      const double mid = std::round((lo + hi) / 2);
      (run(mid) ? lo : hi) = mid;
    }
  }
  return s;
}

}  // namespace pricing::perf
