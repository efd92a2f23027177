// A small HTTP/1.1 server (Boost.Beast) for the processor's operational endpoints:
// exact-path GET/HEAD routes answered by handlers, WebSocket upgrades handed over to
// their handler, keep-alive, bounded request size and idle timeouts. Runs on its own
// threads; handlers must be thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace pricing {

class HttpServer {
 public:
  struct Request {
    std::string path;   // without the query
    std::string query;  // after '?', undecoded
  };
  struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
  };
  using Handler = std::function<Response(const Request&)>;
  // A WebSocket upgrade: the handler either refuses it with a Response, or returns the
  // function that takes over the connection (the socket and the request it sent, to
  // answer the handshake with). That function runs on the connection's strand.
  using UpgradeRequest = boost::beast::http::request<boost::beast::http::string_body>;
  using UpgradeAccept = std::function<void(boost::asio::ip::tcp::socket, UpgradeRequest)>;
  using UpgradeHandler = std::function<std::variant<Response, UpgradeAccept>(const Request&)>;

  // Binds and listens at once; throws std::runtime_error naming the address when it
  // cannot (port in use, bad address). Port 0 takes any free port: see port().
  HttpServer(const std::string& bind, uint16_t port);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // Routes are fixed before Start().
  void Handle(std::string path, Handler handler);
  // A path that takes WebSocket upgrades; a plain GET there gets 426.
  void HandleUpgrade(std::string path, UpgradeHandler handler);
  void Start(int threads = 1);
  void Stop();
  uint16_t port() const { return port_; }

 private:
  class Session;
  void Accept();
  Response Dispatch(const Request& request) const;
  const UpgradeHandler* FindUpgrade(std::string_view path) const;

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::map<std::string, Handler, std::less<>> routes_;
  std::map<std::string, UpgradeHandler, std::less<>> upgrades_;
  std::vector<std::thread> threads_;
};

// Finds `key` in a query string such as "a=1&b=two"; on success stores its value,
// decoded ('+' and %XX), in `value`.
bool QueryParam(std::string_view query, std::string_view key, std::string* value);

}  // namespace pricing
