// Real processes for integration tests: a 3-node cluster of the pinned nats-server
// (versions.env) started from deploy/nats/nats.conf on ports the OS picks, each test with its own
// store directories, and the `pricing` binary run as a child process (so it can be killed with
// SIGKILL). Used from one test thread.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "transport/js_publisher.h"
#include "transport/nats_client.h"

namespace pricing::test {

// Runs `argv` with extra environment; stdout and stderr go to `log`.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               const std::filesystem::path& log);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Waits for exit; returns the exit code, or 128 + signal, or -1 on timeout.
  int Wait(int timeout_ms);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// The pinned binaries (versions.env, installed by scripts/install-deps.sh); each throws,
// naming the install script, when it is not there.
std::string NatsServerBinary();
std::string NatsCliBinary();

// The sync interval test clusters run with: NATS_SYNC_INTERVAL from the environment,
// else the project's default (versions.env).
std::string DefaultSyncInterval();

// A TCP port on 127.0.0.1 that was free a moment ago, outside the range the kernel
// gives outgoing connections, and never the same one twice in a process.
int FreePort();

// `pricing run` on `config`, HTTP on `http_port` (0: any free port), logging at debug,
// as stage `stage` of partitioned pricing (for example {"count", "--partition", "0"};
// empty: the whole processor).
inline std::vector<std::string> PricingRunArgs(const std::filesystem::path& config, int http_port,
                                               const std::vector<std::string>& stage = {}) {
  std::vector<std::string> argv = {std::string(PRICING_BIN_DIR) + "/pricing",
                                   "run",
                                   "--config",
                                   config.string(),
                                   "--http-port",
                                   std::to_string(http_port),
                                   "--log-level",
                                   "debug"};
  if (!stage.empty()) {
    argv.push_back("--stage");
    argv.insert(argv.end(), stage.begin(), stage.end());
  }
  return argv;
}

// The last `lines` lines of a file, each indented "  | " (for failure messages).
std::string TailLines(const std::filesystem::path& path, int lines);

// Where a node runs: its address (all its listeners), and a command its nats-server
// is run under (for example `ip netns exec NAME` to put it in a network namespace).
struct NodePlacement {
  std::string host = "127.0.0.1";
  std::vector<std::string> exec_prefix;
};

class NatsCluster {
 public:
  // `stores` puts a node's JetStream store elsewhere (by node index), e.g. on a
  // small tmpfs. `sync_interval` is nats.conf's jetstream.sync_interval ("always", or
  // a duration such as "10s"; empty: DefaultSyncInterval()).
  explicit NatsCluster(int nodes = 3, const std::map<int, std::filesystem::path>& stores = {},
                       const std::map<int, NodePlacement>& placements = {},
                       const std::string& sync_interval = "");
  ~NatsCluster();

  std::string urls() const;         // all client URLs, comma-separated
  std::string url(int node) const;  // one node's client URL
  int monitor_port(int node) const { return nodes_[node].http_port; }
  const std::string& host(int node) const { return nodes_[node].placement.host; }
  const std::string& sync_interval() const { return sync_interval_; }
  // The password of the system account's user `sys` (deploy/nats/nats.conf).
  const std::string& system_password() const { return system_password_; }
  std::string name(int node) const { return "n" + std::to_string(node + 1); }
  int NodeNamed(const std::string& server_name) const;
  void Kill(int node, int sig);  // SIGKILL, SIGSTOP, SIGCONT, ...
  void Restart(int node);        // after a kill: same ports and store
  // Waits for `node` to exit: its exit code, 128 + signal, or -1 on timeout.
  int Wait(int node, int timeout_ms) { return nodes_[node].process->Wait(timeout_ms); }
  bool Alive(int node);
  // Every running node listens, JetStream answers, and the meta leader counts every
  // other running node as a current member; throws, saying what it saw, if not in
  // time.
  void WaitReady(int timeout_ms = 30000);
  // The end of each node's log, for a failure message (a CI report shows only the output).
  std::string LogTails(int lines) const;
  // Keeps the store directories and server logs after the cluster stops (a failed
  // test's evidence); returns where they are.
  std::filesystem::path KeepFiles() {
    keep_files_ = true;
    return dir_;
  }

 private:
  void Start(int node);
  bool MetaGroupComplete(std::string* seen);
  std::filesystem::path LogPath(int node) const { return dir_ / (name(node) + ".log"); }
  struct Node {
    int client_port, cluster_port, http_port;
    std::filesystem::path store;
    std::unique_ptr<ChildProcess> process;
    NodePlacement placement;
  };
  std::filesystem::path dir_;
  std::string sync_interval_;
  std::string system_password_;
  bool keep_files_ = false;
  std::vector<Node> nodes_;
};

// A test client: a connection plus a reliable publisher.
class TestClient {
 public:
  explicit TestClient(const std::string& urls);
  jsCtx* js() const { return client_->js(); }
  natsConnection* connection() const { return client_->connection(); }
  JsPublisher& publisher() { return publisher_; }

 private:
  JsPublisher publisher_{5000};
  std::unique_ptr<NatsClient> client_;
};

struct StoredMessage {
  uint64_t seq = 0;
  int64_t stored_ms = 0;  // the stream's arrival time
  std::string subject;
  std::string data;
  std::map<std::string, std::string> headers;
};

// Every message of `stream` matching `filter`, in stream order.
std::vector<StoredMessage> ReadStream(const TestClient& client, const std::string& stream,
                                      const std::string& filter);

// How many lines of the file at `path` contain `text` (0 when it cannot be read):
// how tests see that a child process reached a point it logs.
int CountLinesContaining(const std::filesystem::path& path, const std::string& text);

// Polls `done` every 100 ms until it is true or `timeout_ms` passes; a NatsError
// thrown by `done` counts as false.
bool WaitFor(const std::function<bool()>& done, int timeout_ms);

}  // namespace pricing::test
