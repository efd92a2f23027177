// librdkafka's mock Kafka cluster in a process of its own, so that its broker thread
// does not share the harness's process: prints the bootstrap servers on one line,
// then serves until SIGTERM or SIGINT, or until its standard input, when that is a
// pipe, is closed (the harness that started it has gone).
//
// The mock does not implement the CreateTopics admin request, so topics are created
// through this process: a line "create TOPIC PARTITIONS REPLICATION" on standard input
// is answered "ok" or "error TEXT" on standard output.
//
//   kafka_mock_cluster [--brokers N]
//
// The mock keeps everything in memory, runs every broker on one thread, accepts
// acks=all without replicating, and keeps about 5 MiB per partition. Results measured
// against it are labelled "kafka-mock (in-memory, no replication)" everywhere.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
      brokers = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: kafka_mock_cluster [--brokers N]\n");
      return 2;
    }
  }
  if (brokers < 1 || brokers > 16) {
    std::fprintf(stderr, "kafka_mock_cluster: --brokers must be 1..16\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // This handle only hosts the cluster: no "no bootstrap.servers" notice for it.
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    std::fprintf(stderr, "kafka_mock_cluster: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "kafka_mock_cluster: could not start the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);
  // Serve until told to stop, or until whoever started us goes away.
  struct stat st {};
  const bool watch_stdin = fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode);
  pollfd in{STDIN_FILENO, POLLIN, 0};
  std::string pending;
  while (!g_stop) {
    const int r = poll(&in, watch_stdin ? 1 : 0, 200);
    if (r <= 0) continue;
    char buf[512];
    const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, eol);
      pending.erase(0, eol + 1);
      char topic[256];
      int partitions = 0, replication = 0;
      if (std::sscanf(line.c_str(), "create %255s %d %d", topic, &partitions, &replication) != 3) {
        std::printf("error expected: create TOPIC PARTITIONS REPLICATION\n");
      } else {
        const rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(cluster, topic, partitions, replication);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
          std::printf("ok\n");
        } else {
          std::printf("error %s\n", rd_kafka_err2str(e));
        }
      }
      std::fflush(stdout);
    }
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
