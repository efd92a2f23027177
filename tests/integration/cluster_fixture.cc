#include "cluster_fixture.h"

#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "http_get.h"
#include "transport/nats_handles.h"

namespace pricing::test {
namespace {

// The kernel's range for outgoing connections' local ports ("32768 60999" on Debian).
std::pair<int, int> EphemeralRange() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768, high = 60999;
  in >> low >> high;
  return {low, high};
}

// Binds 127.0.0.1:`port` (0: a port the kernel picks) and releases it at once;
// returns the port bound, or -1 when it is taken.
int BindAndRelease(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int bound = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    bound = ntohs(addr.sin_port);
  }
  close(fd);
  return bound;
}

}  // namespace

namespace {

std::string PinnedBinary(const char* path, const char* what) {
  if (::access(path, X_OK) != 0) {
    throw std::runtime_error(std::string(what) + " is not installed at " + path +
                             ": run scripts/install-deps.sh");
  }
  return path;
}

}  // namespace

std::string NatsServerBinary() {
  return PinnedBinary(PRICING_NATS_SERVER, "nats-server " PRICING_NATS_SERVER_VERSION);
}

std::string NatsCliBinary() { return PinnedBinary(PRICING_NATS_CLI, "the nats CLI"); }

std::string DefaultSyncInterval() {
  const char* v = std::getenv("NATS_SYNC_INTERVAL");
  return v != nullptr && *v != '\0' ? v : PRICING_NATS_SYNC_INTERVAL_DEFAULT;
}

int FreePort() {
  // Below the ephemeral range: a port handed out here cannot be taken, before its
  // server binds it, by the local end of some outgoing connection (the tests' own
  // clients, the nodes' routes) - ports from bind(0) come from that same range. Below
  // 20000 too: scripts/performance_comparison.sh, run by ctest beside other tests,
  // uses 24222-28224. Never the same port twice in one process.
  static std::mutex mu;
  static std::set<int> given;
  static std::mt19937 rng(std::random_device{}());
  const std::lock_guard<std::mutex> lock(mu);
  const int low = 10000, high = std::min(20000, EphemeralRange().first) - 1;
  std::uniform_int_distribution<int> pick(low, std::max(low, high));
  for (int attempt = 0; attempt < 1000; ++attempt) {
    // An unusual ephemeral range leaves no room below it: the kernel's choice then.
    const int port = BindAndRelease(high - low >= 1000 ? pick(rng) : 0);
    if (port > 0 && given.insert(port).second) return port;
  }
  throw std::runtime_error("no free TCP port on 127.0.0.1");
}

std::string TailLines(const std::filesystem::path& path, int lines) {
  std::ifstream in(path);
  if (!in) return "(" + path.string() + " cannot be read)\n";
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(std::move(line));
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "  | " + l + "\n";
  return out;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::map<std::string, std::string>& env,
                           const std::filesystem::path& log) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    FILE* out = std::fopen(log.c_str(), "a");
    if (out != nullptr) {
      dup2(fileno(out), 1);
      dup2(fileno(out), 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::perror("execvp");
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (Running()) {
    Signal(SIGCONT);
    Signal(SIGKILL);
    Wait(5000);
  }
}

bool ChildProcess::Running() {
  if (status_ != -1) return false;
  int st = 0;
  const pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

void ChildProcess::Signal(int sig) {
  if (Running()) kill(pid_, sig);
}

int ChildProcess::Wait(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

NatsCluster::NatsCluster(int nodes, const std::map<int, std::filesystem::path>& stores,
                         const std::map<int, NodePlacement>& placements,
                         const std::string& sync_interval)
    : sync_interval_(sync_interval.empty() ? DefaultSyncInterval() : sync_interval) {
  std::random_device rd;
  system_password_ = "sys-" + std::to_string(rd()) + std::to_string(rd());
  dir_ = std::filesystem::temp_directory_path() / ("pricing-cluster-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  for (int i = 0; i < nodes; ++i) {
    const auto store = stores.find(i);
    nodes_.push_back({FreePort(), FreePort(), FreePort(),
                      store != stores.end() ? store->second : dir_ / name(i), nullptr,
                      placements.contains(i) ? placements.at(i) : NodePlacement{}});
  }
  for (int i = 0; i < nodes; ++i) Start(i);
  WaitReady();
}

NatsCluster::~NatsCluster() {
  for (auto& n : nodes_) {
    if (n.process) {
      n.process->Signal(SIGCONT);
      n.process->Signal(SIGINT);
    }
  }
  for (auto& n : nodes_) {
    if (n.process && n.process->Wait(10000) == -1) n.process->Signal(SIGKILL);
    n.process.reset();
  }
  std::error_code ec;
  if (!keep_files_) std::filesystem::remove_all(dir_, ec);
}

// Each node's JetStream file store: 1GB, or PRICING_TEST_MAX_FILE_STORE (a long soak
// stores more; a full store disables JetStream on that node).
static std::string TestMaxFileStore() {
  const char* v = std::getenv("PRICING_TEST_MAX_FILE_STORE");
  return v != nullptr && *v != '\0' ? v : "1GB";
}

void NatsCluster::Start(int i) {
  Node& n = nodes_[i];
  std::map<std::string, std::string> env = {
      {"NATS_SERVER_NAME", name(i)},
      {"NATS_CLIENT_LISTEN", n.placement.host + ":" + std::to_string(n.client_port)},
      {"NATS_HTTP_LISTEN", n.placement.host + ":" + std::to_string(n.http_port)},
      {"NATS_CLUSTER_LISTEN", n.placement.host + ":" + std::to_string(n.cluster_port)},
      {"NATS_STORE_DIR", n.store.string()},
      {"NATS_MAX_FILE_STORE", TestMaxFileStore()},
      {"NATS_SYNC_INTERVAL", sync_interval_},
      {"NATS_SYSTEM_PASSWORD", system_password_}};
  for (std::size_t r = 0; r < 3; ++r) {
    const Node& peer = nodes_[r % nodes_.size()];
    env["NATS_ROUTE_" + std::to_string(r + 1)] =
        "nats://" + peer.placement.host + ":" + std::to_string(peer.cluster_port);
  }
  const std::string conf = std::string(PRICING_SOURCE_DIR) + "/deploy/nats/nats.conf";
  std::vector<std::string> argv = n.placement.exec_prefix;
  argv.insert(argv.end(), {NatsServerBinary(), "-c", conf});
  n.process = std::make_unique<ChildProcess>(argv, env, LogPath(i));
}

std::string NatsCluster::url(int node) const {
  return "nats://" + nodes_[node].placement.host + ":" + std::to_string(nodes_[node].client_port);
}

std::string NatsCluster::urls() const {
  std::string out;
  for (std::size_t i = 0; i < nodes_.size(); ++i) out += (i ? "," : "") + url(static_cast<int>(i));
  return out;
}

int NatsCluster::NodeNamed(const std::string& server_name) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (name(static_cast<int>(i)) == server_name) return static_cast<int>(i);
  }
  return -1;
}

void NatsCluster::Kill(int node, int sig) { nodes_[node].process->Signal(sig); }

bool NatsCluster::Alive(int node) {
  return nodes_[node].process && nodes_[node].process->Running();
}

void NatsCluster::Restart(int node) {
  if (Alive(node)) {
    Kill(node, SIGKILL);
    nodes_[node].process->Wait(5000);
  }
  Start(node);
}

void NatsCluster::WaitReady(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  const auto left_ms = [&] {
    return std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
  };
  // Every node started listens. One that exited (a port taken after all, a bad store)
  // is named with its log, not left to surface later as a cluster that cannot place
  // three replicas.
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    Node& n = nodes_[i];
    if (!n.process) continue;
    while (HttpGetAt(n.placement.host, n.http_port, "/varz").status == 0) {
      if (!n.process->Running()) {
        throw std::runtime_error("nats-server " + name(i) + " exited (" +
                                 std::to_string(n.process->Wait(0)) + "); the end of " +
                                 LogPath(i).string() + ":\n" + TailLines(LogPath(i), 15));
      }
      if (left_ms() == 0) {
        throw std::runtime_error("nats-server " + name(i) +
                                 " does not answer on its monitoring port " +
                                 std::to_string(n.http_port));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  NatsSettings s;
  s.urls = urls();
  s.name = "cluster-fixture";
  auto client = NatsClient::Connect(s, static_cast<int>(left_ms()));
  client->WaitForJetStream(left_ms());
  // The meta group has every running node as a current member: until then an R3
  // stream can be refused for want of peers.
  std::string seen;
  while (true) {
    if (MetaGroupComplete(&seen)) return;
    if (left_ms() == 0) {
      throw std::runtime_error("the JetStream meta group did not take in every node within " +
                               std::to_string(timeout_ms) + " ms: " + seen);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string NatsCluster::LogTails(int lines) const {
  std::string out;
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    out += "the end of " + LogPath(i).string() + ":\n" + TailLines(LogPath(i), lines);
  }
  return out;
}

bool NatsCluster::MetaGroupComplete(std::string* seen) {
  simdjson::dom::parser parser;
  std::size_t running = 0;
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) running += Alive(i);
  seen->clear();
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    const Node& n = nodes_[i];
    if (!Alive(i)) {
      *seen += name(i) + ": not running; ";
      continue;
    }
    const HttpResult r = HttpGetAt(n.placement.host, n.http_port, "/jsz");
    simdjson::dom::element meta;
    if (r.status != 200 || parser.parse(r.body)["meta_cluster"].get(meta) != simdjson::SUCCESS) {
      *seen += name(i) + ": no meta_cluster in /jsz; ";
      continue;
    }
    std::string_view leader;
    if (meta["leader"].get(leader) != simdjson::SUCCESS) leader = "";
    simdjson::dom::array replicas;
    if (meta["replicas"].get(replicas) != simdjson::SUCCESS) {
      // Only the leader lists the others.
      *seen += name(i) + ": leader '" + std::string(leader) + "'; ";
      continue;
    }
    std::size_t current = 0;
    for (simdjson::dom::element p : replicas) {
      bool ok = false;
      if (p["current"].get(ok) == simdjson::SUCCESS && ok) ++current;
    }
    *seen += name(i) + ": leads, " + std::to_string(current) + " of " +
             std::to_string(replicas.size()) + " others current; ";
    if (leader == name(i) && current + 1 >= running) return true;
  }
  return false;
}

TestClient::TestClient(const std::string& urls) {
  NatsSettings s;
  s.urls = urls;
  s.name = "test-client";
  s.ack_handler = &JsPublisher::AckHandler;
  s.ack_handler_closure = &publisher_;
  client_ = NatsClient::Connect(s, 30000);
  publisher_.Attach(client_->js());
}

namespace {

// One ordered read of the whole filter into `out`; false if the first message did not
// come within first_wait_ms.
bool ReadStreamOnce(const TestClient& client, const std::string& stream, const std::string& filter,
                    int64_t first_wait_ms, std::vector<StoredMessage>* out) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  // Right after a fault, creating the reader's consumer can be refused for a moment
  // ("JetStream system temporarily unavailable"): retried for up to 15 s.
  natsStatus st = NATS_OK;
  for (int attempt = 0; attempt < 30; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    jerr = static_cast<jsErrCode>(0);
    st = js_SubscribeSync(&raw, client.js(), filter.c_str(), nullptr, &so, &jerr);
    if (st == NATS_OK) break;
  }
  CheckNats(st, "reading " + stream, jerr);
  Subscription sub(client.connection(), raw);
  // Large streams arrive faster than they are read: no slow-consumer drops.
  natsSubscription_SetPendingLimits(sub.get(), -1, -1);
  while (true) {
    natsMsg* m = nullptr;
    // An empty stream (or filter) sends nothing; once messages flow, a pause means the
    // ordered consumer stalled, and a short read would pass for lost messages.
    if (natsSubscription_NextMsg(&m, sub.get(), out->empty() ? first_wait_ms : 10000) != NATS_OK) {
      if (!out->empty()) {
        throw std::runtime_error("reading " + stream + ": no message for 10 s after sequence " +
                                 std::to_string(out->back().seq));
      }
      return false;
    }
    NatsPtr<natsMsg> msg(m);
    jsMsgMetaData* meta_raw = nullptr;
    natsMsg_GetMetaData(&meta_raw, msg.get());
    NatsPtr<jsMsgMetaData> meta(meta_raw);
    StoredMessage s;
    s.seq = meta ? meta->Sequence.Stream : 0;
    s.stored_ms = meta ? meta->Timestamp / 1'000'000 : 0;
    s.subject = natsMsg_GetSubject(msg.get());
    s.data.assign(natsMsg_GetData(msg.get()), natsMsg_GetDataLength(msg.get()));
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(msg.get(), &keys, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        const char* v = nullptr;
        if (natsMsgHeader_Get(msg.get(), keys[i], &v) == NATS_OK && v) s.headers[keys[i]] = v;
      }
      free(static_cast<void*>(keys));
    }
    out->push_back(std::move(s));
    if (meta && meta->NumPending == 0) return true;
  }
}

}  // namespace

std::vector<StoredMessage> ReadStream(const TestClient& client, const std::string& stream,
                                      const std::string& filter) {
  std::vector<StoredMessage> out;
  // How many messages match decides how long to wait for the first one: an empty filter
  // sends nothing, but right after a fault a new consumer on a full stream can take
  // seconds to deliver, and a short wait would pass for lost messages.
  uint64_t held = 0;
  for (int attempt = 0; attempt < 30; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Info.SubjectsFilter = filter.c_str();
    jsStreamInfo* info = nullptr;
    jsErrCode ierr = static_cast<jsErrCode>(0);
    if (js_GetStreamInfo(&info, client.js(), stream.c_str(), &o, &ierr) == NATS_OK) {
      if (const jsStreamStateSubjects* subjects = info->State.Subjects) {
        for (int i = 0; i < subjects->Count; ++i) held += subjects->List[i].Msgs;
      }
      jsStreamInfo_Destroy(info);
      break;
    }
  }
  const int64_t first_wait_ms = held == 0 ? 1500 : 10000;
  // A consumer that delivers nothing although messages match is created again, twice.
  for (int read = 0; read < 3; ++read) {
    if (ReadStreamOnce(client, stream, filter, first_wait_ms, &out) || held == 0) return out;
    std::fprintf(stderr, "reading %s: %llu messages match '%s', none arrived in %lld ms\n",
                 stream.c_str(), static_cast<unsigned long long>(held), filter.c_str(),
                 static_cast<long long>(first_wait_ms));
  }
  throw std::runtime_error("reading " + stream + ": " + std::to_string(held) + " messages match '" +
                           filter + "', none arrived in three tries");
}

int CountLinesContaining(const std::filesystem::path& path, const std::string& text) {
  std::ifstream in(path);
  std::string line;
  int count = 0;
  while (std::getline(in, line)) count += line.find(text) != std::string::npos;
  return count;
}

bool WaitFor(const std::function<bool()>& done, int timeout_ms) {
  // A NATS error while polling (an election in progress) counts as "not yet".
  const auto attempt = [&] {
    try {
      return done();
    } catch (const NatsError&) {
      return false;
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!attempt()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

}  // namespace pricing::test
