// The open-loop schedule, the message stamp and the runner over the loopback floor
// (a real TCP socket, no broker).
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "perf/backend.h"
#include "perf/payload.h"
#include "perf/proc_usage.h"
#include "perf/runner.h"
#include "perf/schedule.h"

namespace pricing::perf {
namespace {

TEST(OpenLoopSchedule, MessageIIsDueAtT0PlusIOverRate) {
  const OpenLoopSchedule s(1'000'000'000, 3000.0);  // 333,333.3 ns apart
  EXPECT_EQ(s.IntendedNs(0), 1'000'000'000);
  EXPECT_EQ(s.IntendedNs(1), 1'000'333'333);
  EXPECT_EQ(s.IntendedNs(2), 1'000'666'667);
  EXPECT_EQ(s.IntendedNs(3), 1'001'000'000);
  // No drift: computed, not accumulated.
  EXPECT_EQ(s.IntendedNs(3'000'000'000ULL), 1'000'000'000 + 1'000'000'000'000'000);  // 10^6 s
}

TEST(OpenLoopSchedule, DueByCountsExactlyTheMessagesWhoseTimeHasCome) {
  const OpenLoopSchedule s(5'000, 1'000'000.0);  // one per µs
  EXPECT_EQ(s.DueBy(0), 0u);
  EXPECT_EQ(s.DueBy(4'999), 0u);
  EXPECT_EQ(s.DueBy(5'000), 1u);
  EXPECT_EQ(s.DueBy(5'999), 1u);
  EXPECT_EQ(s.DueBy(6'000), 2u);
  for (uint64_t i = 0; i < 5'000; i += 7) {
    const uint64_t due = s.DueBy(s.IntendedNs(i));
    EXPECT_EQ(due, i + 1);
    EXPECT_LE(s.IntendedNs(due - 1), s.IntendedNs(i));
  }
  // A fractional period.
  const OpenLoopSchedule odd(0, 7.0);
  for (uint64_t i = 1; i < 100; ++i) {
    EXPECT_EQ(odd.DueBy(odd.IntendedNs(i) - 1), i);
    EXPECT_EQ(odd.DueBy(odd.IntendedNs(i)), i + 1);
  }
}

TEST(Stamp, RoundTripsAndRefusesJunk) {
  std::string payload(100, 'x');
  WriteStamp(payload, Stamp{42, 1'234'567'890'123, 1'234'567'890'456});
  const auto s = ReadStamp(payload.data(), payload.size());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->seq, 42u);
  EXPECT_EQ(s->intended_ns, 1'234'567'890'123);
  EXPECT_EQ(s->sent_ns, 1'234'567'890'456);
  EXPECT_FALSE(ReadStamp(payload.data(), kStampBytes - 1).has_value());
  const std::string junk(100, 'x');
  EXPECT_FALSE(ReadStamp(junk.data(), junk.size()).has_value());
}

TEST(RunCell, LoopbackFloorDeliversEveryMessageAndRecordsOnlyTheMeasuredPart) {
  auto backend = MakeLoopbackBackend();
  CellSpec cell;
  cell.backend = "loopback";
  cell.profile = Profile::kTuned;
  cell.message_bytes = 1024;
  cell.rate = 4000;
  cell.warmup_seconds = 0.25;
  cell.seconds = 0.5;
  const CellResult r = RunCell(*backend, cell);
  EXPECT_EQ(r.planned, 3000u);
  EXPECT_EQ(r.sent, 3000u);
  EXPECT_EQ(r.received, 3000u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.duplicates, 0u);
  EXPECT_FALSE(r.has_acks);
  EXPECT_EQ(r.ack.count(), 0);
  // Warm-up (1,000 messages) sent, not recorded.
  EXPECT_EQ(r.e2e_intended.count(), 2000);
  EXPECT_EQ(r.e2e_sent.count(), 2000);
  // From the intended time is never shorter than from the actual send.
  EXPECT_GE(r.e2e_intended.min(), 0);
  EXPECT_GE(r.e2e_intended.ValueAtPercentile(50), r.e2e_sent.ValueAtPercentile(50));
  EXPECT_GT(r.send_rate, 0);
  EXPECT_TRUE(r.sustainable) << r.verdict;
}

TEST(RunCell, ALateSenderShowsInTheCorrectedLatencyOnly) {
  // A backend that stalls 50 ms once: the messages due meanwhile go late, and only the
  // latency from the intended time shows it (the closed-loop blind spot).
  class StallingLoopback : public Backend {
   public:
    StallingLoopback() : inner_(MakeLoopbackBackend()) {}
    std::string Label() const override { return "stalling loopback"; }
    std::string Durability() const override { return "none"; }
    bool HasAcks() const override { return false; }
    std::string Consumer() const override { return inner_->Consumer(); }
    void Open(const CellSpec& c, OnReceive r, OnAck a) override { inner_->Open(c, r, a); }
    bool Send(int p, const std::string& payload) override {
      if (++sends_ == 1500) {
        const int64_t until = MonoNowNs() + 50'000'000;
        while (MonoNowNs() < until) {
        }
      }
      return inner_->Send(p, payload);
    }
    void Flush(int64_t t) override { inner_->Flush(t); }
    void Close() override { inner_->Close(); }

   private:
    std::unique_ptr<Backend> inner_;
    int sends_ = 0;
  };
  StallingLoopback backend;
  CellSpec cell;
  cell.rate = 2000;
  cell.warmup_seconds = 0.25;
  cell.seconds = 1;
  const CellResult r = RunCell(backend, cell);
  ASSERT_EQ(r.received, r.planned);
  // About 100 messages were due during the stall: the corrected p99 sees tens of ms.
  EXPECT_GT(r.e2e_intended.ValueAtPercentile(99), 20'000'000);
  EXPECT_GT(r.e2e_intended.max(), 45'000'000);
  // From the actual send, the stall is invisible.
  EXPECT_LT(r.e2e_sent.ValueAtPercentile(99), r.e2e_intended.ValueAtPercentile(99) / 4);
}

}  // namespace
}  // namespace pricing::perf

namespace pricing::perf {
namespace {

// The cost columns: a process that spins for 300 ms used about a core over that span,
// one that sleeps did not, and the memory it holds is resident.
TEST(CostMeter, ASpinningProcessUsesACoreAndASleepingOneDoesNot) {
  CostMeter self({0});
  self.Start(MonoNowNs());
  const int64_t until = MonoNowNs() + 300'000'000;
  volatile uint64_t spins = 0;
  while (MonoNowNs() < until) spins = spins + 1;
  const std::vector<ProcCost> busy = self.Stop(MonoNowNs());
  ASSERT_EQ(busy.size(), 1u);
  // Shared cores may take some of it; a spinning thread still gets most of one.
  EXPECT_GT(busy[0].cpu_percent, 25.0);
  EXPECT_LT(busy[0].cpu_percent, 110.0);
  EXPECT_GT(busy[0].rss_bytes, 1 << 20);

  self.Start(MonoNowNs());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<ProcCost> idle = self.Stop(MonoNowNs());
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_LT(idle[0].cpu_percent, 10.0);

  // A process that is gone is left out, not reported as free.
  CostMeter gone({999'999'999});
  gone.Start(MonoNowNs());
  EXPECT_TRUE(gone.Stop(MonoNowNs()).empty());
  EXPECT_THROW(ReadPidFiles({"/nonexistent/pricing.pid"}), std::runtime_error);
}

}  // namespace
}  // namespace pricing::perf
