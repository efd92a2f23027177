// WebSocket clients for tests (Boost.Beast), against 127.0.0.1: one blocking client,
// and a crowd of asynchronous ones on one thread that timestamp every message.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pricing::test {

inline int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One blocking client. Connect() returns false (with the HTTP status in `status`) when
// the server refuses the upgrade.
class WsClient {
 public:
  bool Connect(int port, const std::string& target, int* status = nullptr) {
    namespace beast = boost::beast;
    beast::error_code ec;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(ws_).connect(
        {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
    if (ec) return false;
    // The asynchronous handshake keeps the response of a refused upgrade; the blocking
    // one (Boost 1.74) drops it.
    beast::websocket::response_type res;
    ws_.async_handshake(res, "127.0.0.1", target, [&](beast::error_code e) { ec = e; });
    io_.restart();
    io_.run();
    if (status != nullptr) *status = static_cast<int>(res.result_int());
    beast::get_lowest_layer(ws_).expires_never();
    return !ec;
  }

  // The next text message, or nullopt after `timeout_ms` or when the connection ends.
  std::optional<std::string> Read(int timeout_ms) {
    namespace beast = boost::beast;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::milliseconds(timeout_ms));
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws_.read(buffer, ec);
    if (ec) {
      closed_ = true;
      return std::nullopt;
    }
    return beast::buffers_to_string(buffer.data());
  }
  bool closed() const { return closed_; }

 private:
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_{io_};
  bool closed_ = false;
};

// Many asynchronous clients on one I/O thread. Every message is kept with the steady
// clock time it arrived.
class WsCrowd {
 public:
  struct Message {
    int64_t at_ns;
    std::string text;
  };

  WsCrowd() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~WsCrowd() {
    io_.stop();
    thread_.join();
  }

  // Starts connecting a client; returns its index.
  int Add(int port, const std::string& target) {
    auto c = std::make_shared<Client>(io_);
    int index;
    {
      std::lock_guard<std::mutex> lock(mu_);
      index = static_cast<int>(clients_.size());
      clients_.push_back(c);
    }
    boost::asio::post(io_, [this, c, port, target] { Start(c, port, target); });
    return index;
  }

  int open() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& c : clients_) n += c->open && !c->closed;
    return n;
  }
  int closed() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& c : clients_) n += c->closed;
    return n;
  }
  std::vector<Message> Messages(int index) {
    std::lock_guard<std::mutex> lock(mu_);
    return clients_[static_cast<std::size_t>(index)]->messages;
  }
  std::size_t MessageCount(int index) {
    std::lock_guard<std::mutex> lock(mu_);
    return clients_[static_cast<std::size_t>(index)]->messages.size();
  }
  int size() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(clients_.size());
  }

 private:
  struct Client {
    explicit Client(boost::asio::io_context& io) : ws(io) {}
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws;
    boost::beast::flat_buffer buffer;
    std::vector<Message> messages;  // guarded by WsCrowd::mu_
    bool open = false, closed = false;
  };

  void Start(std::shared_ptr<Client> c, int port, std::string target) {
    namespace beast = boost::beast;
    beast::get_lowest_layer(c->ws).async_connect(
        {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
        [this, c, target](beast::error_code ec) {
          if (ec) return Close(c);
          c->ws.async_handshake("127.0.0.1", target, [this, c](beast::error_code ec2) {
            if (ec2) return Close(c);
            {
              std::lock_guard<std::mutex> lock(mu_);
              c->open = true;
            }
            Read(c);
          });
        });
  }

  void Read(std::shared_ptr<Client> c) {
    c->ws.async_read(c->buffer, [this, c](boost::beast::error_code ec, std::size_t) {
      if (ec) return Close(c);
      const int64_t now = SteadyNowNs();
      {
        std::lock_guard<std::mutex> lock(mu_);
        c->messages.push_back({now, boost::beast::buffers_to_string(c->buffer.data())});
      }
      c->buffer.consume(c->buffer.size());
      Read(c);
    });
  }

  void Close(const std::shared_ptr<Client>& c) {
    std::lock_guard<std::mutex> lock(mu_);
    c->closed = true;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Client>> clients_;
  std::thread thread_;
};

}  // namespace pricing::test
