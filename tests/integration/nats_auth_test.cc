// The credentials of `nats_auth` other than certificates, against real nats-servers:
// a user and password, and a .creds file (an operator-signed user JWT and its nkey
// seed, issued by tests/integration/make_creds.py as nsc would). The secure cluster's
// tests cover certificates and nkeys.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cluster_fixture.h"
#include "transport/nats_handles.h"

namespace pricing::test {
namespace {

class NatsAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pricing-auth-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    port_ = FreePort();
  }
  void TearDown() override {
    server_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // One JetStream server with `auth` (config text) on a free port.
  void StartServer(const std::string& auth) {
    std::ofstream(dir_ / "server.conf") << "listen: 127.0.0.1:" << port_ << "\n"
                                        << "jetstream { store_dir: " << (dir_ / "store") << " }\n"
                                        << auth;
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{NatsServerBinary(), "-c", (dir_ / "server.conf").string()},
        std::map<std::string, std::string>{}, dir_ / "server.log");
    ASSERT_TRUE(WaitFor(
        [&] {
          std::ifstream log(dir_ / "server.log");
          std::stringstream text;
          text << log.rdbuf();
          return text.str().find("Server is ready") != std::string::npos;
        },
        15000))
        << "nats-server did not start; see " << dir_ / "server.log";
  }

  std::string Url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

  NatsSettings Settings(const NatsAuth& auth) const {
    NatsSettings s;
    s.urls = Url();
    s.name = "auth-test";
    s.auth = auth;
    return s;
  }

  // A message published on one connection of `auth` reaches a subscriber on another.
  void ExpectRoundTrip(const NatsAuth& auth) {
    auto sub_client = NatsClient::Connect(Settings(auth), 10000);
    auto pub_client = NatsClient::Connect(Settings(auth), 10000);
    natsSubscription* raw = nullptr;
    ASSERT_EQ(natsConnection_SubscribeSync(&raw, sub_client->connection(), "auth.test"), NATS_OK);
    Subscription sub(sub_client->connection(), raw);
    ASSERT_EQ(natsConnection_FlushTimeout(sub_client->connection(), 5000), NATS_OK);
    ASSERT_EQ(natsConnection_PublishString(pub_client->connection(), "auth.test", "hello"),
              NATS_OK);
    ASSERT_EQ(natsConnection_FlushTimeout(pub_client->connection(), 5000), NATS_OK);
    natsMsg* m = nullptr;
    ASSERT_EQ(natsSubscription_NextMsg(&m, sub.get(), 5000), NATS_OK);
    EXPECT_EQ(std::string(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))),
              "hello");
    natsMsg_Destroy(m);
  }

  // `pricing streams apply` (replicas 1) with `env`, and optionally nats_auth in its
  // config file; returns its exit code, its output in `output`.
  int StreamsApply(const std::map<std::string, std::string>& env, const std::string& nats_auth,
                   std::string* output) {
    const auto config = dir_ / "pricing.yaml";
    std::ofstream(config) << "nats_url: " << Url() << "\nstreams: {replicas: 1}\n"
                          << nats_auth << "cities:\n  nyc:\n    zones: " << PRICING_SOURCE_DIR
                          << "/data/nyc/taxi_zones.geojson\n"
                          << "    id_property: LocationID\n    name_property: zone\n";
    const auto log = dir_ / ("streams-" + std::to_string(++runs_) + ".log");
    ChildProcess p({std::string(PRICING_BIN_DIR) + "/pricing", "streams", "apply", "--config",
                    config.string()},
                   env, log);
    const int rc = p.Wait(60000);
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    *output = text.str();
    return rc;
  }

  std::filesystem::path dir_;
  int port_ = 0;
  int runs_ = 0;
  std::unique_ptr<ChildProcess> server_;
};

TEST_F(NatsAuthTest, UserAndPasswordFromConfigOrEnvironment) {
  StartServer(R"(authorization { users: [ { user: "pricing", password: "s3cret-pw" } ] })");
  if (HasFatalFailure()) return;
  NatsAuth good;
  good.user = "pricing";
  good.password = "s3cret-pw";
  ExpectRoundTrip(good);
  NatsAuth wrong = good;
  wrong.password = "guess";
  EXPECT_THROW(NatsClient::Connect(Settings(wrong), 3000), NatsError) << "a wrong password";
  EXPECT_THROW(NatsClient::Connect(Settings(NatsAuth{}), 3000), NatsError) << "no credentials";

  std::string out;
  EXPECT_EQ(StreamsApply({{"NATS_USER", "pricing"}, {"NATS_PASSWORD", "s3cret-pw"}}, "", &out), 0)
      << out;
  EXPECT_NE(out.find("LOCATION_EVENTS"), std::string::npos) << out;
  EXPECT_EQ(StreamsApply({}, "nats_auth: {user: pricing, password: s3cret-pw}\n", &out), 0) << out;
  EXPECT_NE(StreamsApply({{"NATS_USER", "pricing"}, {"NATS_PASSWORD", "guess"}}, "", &out), 0)
      << out;
  EXPECT_NE(out.find("Authorization Violation"), std::string::npos) << out;
}

TEST_F(NatsAuthTest, CredsFileOfAnOperatorSignedUser) {
  ChildProcess issue({std::string(PRICING_SOURCE_DIR) + "/tests/integration/make_creds.py",
                      (dir_ / "creds").string()},
                     {}, dir_ / "make_creds.log");
  ASSERT_EQ(issue.Wait(60000), 0) << "see " << dir_ / "make_creds.log";
  // (an include is relative to the including file)
  StartServer("operator: " + (dir_ / "creds" / "operator.jwt").string() +
              "\ninclude creds/resolver.conf\n");
  if (HasFatalFailure()) return;
  NatsAuth user;
  user.creds_file = (dir_ / "creds" / "user.creds").string();
  ExpectRoundTrip(user);
  NatsAuth stranger;
  stranger.creds_file = (dir_ / "creds" / "stranger.creds").string();
  EXPECT_THROW(NatsClient::Connect(Settings(stranger), 3000), NatsError)
      << "a user of an account the operator never signed";
  EXPECT_THROW(NatsClient::Connect(Settings(NatsAuth{}), 3000), NatsError) << "no credentials";

  // The account has JetStream: the admin command creates the streams with the creds,
  // from the environment or from the config file (a path relative to it).
  std::string out;
  EXPECT_EQ(StreamsApply({{"NATS_CREDS", user.creds_file}}, "", &out), 0) << out;
  EXPECT_NE(out.find("LOCATION_EVENTS"), std::string::npos) << out;
  EXPECT_EQ(StreamsApply({}, "nats_auth: {creds: creds/user.creds}\n", &out), 0) << out;
  EXPECT_NE(StreamsApply({{"NATS_CREDS", stranger.creds_file}}, "", &out), 0) << out;
  EXPECT_NE(out.find("Authorization Violation"), std::string::npos) << out;
}

}  // namespace
}  // namespace pricing::test
