// The test cluster fixture's own checks: its ports stay clear of the range outgoing
// connections use and never repeat, a started cluster has every node in the meta
// group, and a node that dies at start-up is reported by name with its log.
#include "cluster_fixture.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include "http_get.h"

namespace pricing::test {
namespace {

TEST(FreePortTest, PortsAreDistinctBindableAndBelowTheEphemeralRange) {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0, high = 0;
  in >> low >> high;
  std::set<int> seen;
  for (int i = 0; i < 300; ++i) {
    const int port = FreePort();
    EXPECT_TRUE(seen.insert(port).second) << "port " << port << " handed out twice";
    if (low > 11000) {
      EXPECT_LT(port, low) << "inside the ephemeral range " << low << "-" << high;
    }
    EXPECT_GT(port, 1024);
  }
}

TEST(NatsClusterTest, StartedClusterHasEveryNodeInTheMetaGroup) {
  NatsCluster cluster(3);
  for (int n = 0; n < 3; ++n) EXPECT_TRUE(cluster.Alive(n)) << cluster.name(n);
  // Killed and restarted, a node is waited for until the leader counts it current.
  cluster.Kill(1, SIGKILL);
  cluster.Restart(1);
  EXPECT_NO_THROW(cluster.WaitReady(60000));
}

// Every node is the pinned nats-server (versions.env) and fsyncs as configured.
TEST(NatsClusterTest, NodesRunThePinnedServerWithTheConfiguredSyncInterval) {
  for (const char* interval : {"always", "1s"}) {
    NatsCluster cluster(3, {}, {}, interval);
    simdjson::dom::parser parser;
    for (int n = 0; n < 3; ++n) {
      const HttpResult r = HttpGetAt(cluster.host(n), cluster.monitor_port(n), "/varz");
      ASSERT_EQ(r.status, 200);
      const auto varz = parser.parse(r.body);
      EXPECT_EQ(std::string_view(varz["version"]), PRICING_NATS_SERVER_VERSION) << cluster.name(n);
      const auto js = varz["jetstream"]["config"];
      bool always = false;
      if (js["sync_always"].get(always) != simdjson::SUCCESS) always = false;
      EXPECT_EQ(always, std::string(interval) == "always") << cluster.name(n);
      if (std::string(interval) != "always") {
        EXPECT_EQ(int64_t(js["sync_interval"]), 1'000'000'000) << cluster.name(n);
      }
    }
  }
}

TEST(NatsClusterTest, ANodeThatDiesAtStartIsNamedWithItsLog) {
  // n3 runs under `sh -c 'echo ...; exit 3'` instead of starting: the cluster must
  // refuse to come up and say which node and why, not pass for a smaller cluster.
  const NodePlacement broken{"127.0.0.1",
                             {"sh", "-c", "echo 'bind: address already in use' >&2; exit 3", "sh"}};
  try {
    NatsCluster cluster(3, {}, {{2, broken}});
    FAIL() << "a cluster with a dead node came up";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("nats-server n3 exited (3)"), std::string::npos) << what;
    EXPECT_NE(what.find("address already in use"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace pricing::test
