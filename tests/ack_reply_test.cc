// Reading JetStream's `$JS.ACK.` reply subjects (PullConsumer::ParseAckReply): both
// forms the server sends, and what is not one. The integration test of the pull
// consumer checks the same reading against libnats' on a real server's replies.
#include <gtest/gtest.h>

#include "transport/pull_consumer.h"

namespace pricing {
namespace {

TEST(AckReply, ReadsTheFormWithoutDomain) {
  PullConsumer::Meta m;
  ASSERT_TRUE(PullConsumer::ParseAckReply(
      "$JS.ACK.LOCATION_EVENTS.pricing-processor.3.1042.977.1764633600123456789.17", &m));
  EXPECT_EQ(m.delivered, 3u);
  EXPECT_EQ(m.seq, 1042u);
  EXPECT_EQ(m.consumer_seq, 977u);
  EXPECT_EQ(m.timestamp_ms, 1764633600123);
  EXPECT_EQ(m.pending, 17u);
}

TEST(AckReply, ReadsTheFormWithDomainAndAccountHash) {
  PullConsumer::Meta m;
  ASSERT_TRUE(PullConsumer::ParseAckReply(
      "$JS.ACK._.AHASH.LOCATION_EVENTS.pricing-processor.1.5.5.1764633600000000000.0.x7Yq", &m));
  EXPECT_EQ(m.seq, 5u);
  EXPECT_EQ(m.delivered, 1u);
  EXPECT_EQ(m.pending, 0u);
  ASSERT_TRUE(PullConsumer::ParseAckReply("$JS.ACK.hub.AHASH.S.C.2.9.8.1764633600000000000.4", &m));
  EXPECT_EQ(m.seq, 9u);
  EXPECT_EQ(m.consumer_seq, 8u);
  EXPECT_EQ(m.pending, 4u);
}

TEST(AckReply, RefusesWhatIsNotOne) {
  PullConsumer::Meta m;
  m.seq = 77;
  EXPECT_FALSE(PullConsumer::ParseAckReply("", &m));
  EXPECT_FALSE(PullConsumer::ParseAckReply("_INBOX.abc", &m));
  EXPECT_FALSE(PullConsumer::ParseAckReply("$JS.ACK.S.C.1.2.3", &m));       // too short
  EXPECT_FALSE(PullConsumer::ParseAckReply("$JS.ACK.S.C.1.x.3.4.5", &m));   // not a number
  EXPECT_FALSE(PullConsumer::ParseAckReply("$JS.ACK.S.C.1.-2.3.4.5", &m));  // negative
  EXPECT_FALSE(PullConsumer::ParseAckReply("$JS.ACK.S.C.1.99999999999999999999999.3.4.5", &m));
  EXPECT_EQ(m.seq, 77u) << "a refused reply leaves the result alone";
}

}  // namespace
}  // namespace pricing
