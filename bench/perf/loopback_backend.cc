// The floor: the harness's own sender, clock, framing and receiver over one plain TCP
// connection on 127.0.0.1, with no broker. Whatever latency this shows, every broker
// result carries too.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "perf/backend.h"
#include "perf/schedule.h"

namespace pricing::perf {
namespace {

[[noreturn]] void Fail(const char* what) {
  throw std::runtime_error(std::string("loopback: ") + what + ": " + std::strerror(errno));
}

bool WriteAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

class LoopbackBackend : public Backend {
 public:
  ~LoopbackBackend() override { Close(); }

  std::string Label() const override { return "loopback (no broker: the harness's floor)"; }
  std::string Durability() const override { return "none: no broker, nothing is stored"; }
  bool HasAcks() const override { return false; }
  std::string Consumer() const override { return "reads the socket"; }

  void Open(const CellSpec&, OnReceive on_receive, OnAck) override {
    on_receive_ = std::move(on_receive);
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) Fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(listener);
      Fail("listen");
    }
    send_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (send_fd_ < 0 || ::connect(send_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      ::close(listener);
      Fail("connect");
    }
    recv_fd_ = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    if (recv_fd_ < 0) Fail("accept");
    // A floor must be the lowest this machine can do: Nagle's algorithm off in every
    // profile. (With it on, a 1 KiB write waits for the delayed ack of the one before:
    // a p50 of 13 ms, measured. That is the socket's default, not a floor.)
    const int nodelay = 1;
    ::setsockopt(send_fd_, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
    reader_ = std::thread([this] { ReadLoop(); });
  }

  bool Send(int, const std::string& payload) override {
    // One write per message: a 4-byte length, then the body.
    frame_.resize(4 + payload.size());
    const auto n = static_cast<uint32_t>(payload.size());
    std::memcpy(frame_.data(), &n, 4);
    std::memcpy(frame_.data() + 4, payload.data(), payload.size());
    return WriteAll(send_fd_, frame_.data(), frame_.size());
  }

  void Flush(int64_t) override {}

  void Close() override {
    if (send_fd_ >= 0) {
      ::shutdown(send_fd_, SHUT_WR);  // the reader sees the end once it read everything
    }
    if (reader_.joinable()) reader_.join();
    if (send_fd_ >= 0) ::close(send_fd_);
    if (recv_fd_ >= 0) ::close(recv_fd_);
    send_fd_ = recv_fd_ = -1;
  }

 private:
  void ReadLoop() {
    std::string buf;
    std::size_t used = 0;
    buf.resize(1 << 20);
    while (true) {
      const ssize_t r = ::recv(recv_fd_, buf.data() + used, buf.size() - used, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return;
      const int64_t now = MonoNowNs();
      used += static_cast<std::size_t>(r);
      std::size_t off = 0;
      while (used - off >= 4) {
        uint32_t n = 0;
        std::memcpy(&n, buf.data() + off, 4);
        if (used - off < 4 + n) break;
        on_receive_(buf.data() + off + 4, n, now);
        off += 4 + n;
      }
      std::memmove(buf.data(), buf.data() + off, used - off);
      used -= off;
      if (buf.size() - used < 64 * 1024) buf.resize(buf.size() * 2);
    }
  }

  OnReceive on_receive_;
  int send_fd_ = -1;
  int recv_fd_ = -1;
  std::string frame_;
  std::thread reader_;
};

}  // namespace

std::unique_ptr<Backend> MakeLoopbackBackend() { return std::make_unique<LoopbackBackend>(); }

}  // namespace pricing::perf
