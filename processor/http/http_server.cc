#include "http/http_server.h"

#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>

#include "common/log.h"

namespace pricing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr std::size_t kMaxRequestBytes = 16 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

bool QueryParam(std::string_view query, std::string_view key, std::string* value) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (Decode(pair.substr(0, eq)) == key) {
      *value = eq == std::string_view::npos ? "" : Decode(pair.substr(eq + 1));
      return true;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
 public:
  Session(tcp::socket socket, const HttpServer& server)
      : stream_(std::move(socket)), server_(server) {}

  void Start() { Read(); }

 private:
  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    if (ec == http::error::header_limit || ec == http::error::body_limit) {
      return Reply(http::status::payload_too_large, "text/plain", "request too large\n", false);
    }
    if (ec) return;  // timeout, reset, malformed: drop the connection
    const auto& req = parser_->get();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      return Reply(http::status::method_not_allowed, "text/plain", "only GET and HEAD\n",
                   req.keep_alive());
    }
    const std::string_view target(req.target().data(), req.target().size());
    const std::size_t q = target.find('?');
    Request request;
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    Response response;
    try {
      if (const UpgradeHandler* upgrade = server_.FindUpgrade(request.path)) {
        if (!beast::websocket::is_upgrade(req)) {
          response = {426, "text/plain", "WebSocket only: send an Upgrade request\n"};
        } else {
          auto decision = (*upgrade)(request);
          if (auto* accept = std::get_if<UpgradeAccept>(&decision)) {
            // The connection is the handler's from here on, timer included.
            stream_.expires_never();
            (*accept)(stream_.release_socket(), parser_->release());
            return;
          }
          response = std::move(std::get<Response>(decision));
        }
      } else {
        response = server_.Dispatch(request);
      }
    } catch (const std::exception& e) {
      PRICING_LOG(kError) << "http " << request.path << ": " << e.what();
      response = {500, "text/plain", std::string("internal error: ") + e.what() + "\n"};
    }
    const bool head = req.method() == http::verb::head;
    Reply(static_cast<http::status>(response.status), response.content_type,
          head ? std::string() : std::move(response.body), req.keep_alive(), head);
  }

  void Reply(http::status status, std::string_view type, std::string body, bool keep_alive,
             bool head = false) {
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "surge-pricing");
    res->set(http::field::content_type, std::string(type));
    res->set(http::field::cache_control, "no-store");
    res->keep_alive(keep_alive);
    const std::size_t length = body.size();
    res->body() = std::move(body);
    res->prepare_payload();
    if (head) res->content_length(length);
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (!res->keep_alive()) {
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
                          return;
                        }
                        self->Read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpServer& server_;
};

HttpServer::HttpServer(const std::string& bind, uint16_t port) : acceptor_(io_) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(bind, ec);
  if (ec) throw std::runtime_error("http: bind address '" + bind + "' is not an IP address");
  const tcp::endpoint endpoint(address, port);
  const std::string where = bind + ":" + std::to_string(port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("http: cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(std::string path, Handler handler) {
  routes_[std::move(path)] = std::move(handler);
}

void HttpServer::HandleUpgrade(std::string path, UpgradeHandler handler) {
  upgrades_[std::move(path)] = std::move(handler);
}

const HttpServer::UpgradeHandler* HttpServer::FindUpgrade(std::string_view path) const {
  const auto it = upgrades_.find(path);
  return it == upgrades_.end() ? nullptr : &it->second;
}

HttpServer::Response HttpServer::Dispatch(const Request& request) const {
  const auto it = routes_.find(request.path);
  if (it == routes_.end()) return {404, "text/plain", "not found: " + request.path + "\n"};
  return it->second(request);
}

void HttpServer::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Session>(std::move(socket), *this)->Start();
    Accept();
  });
}

void HttpServer::Start(int threads) {
  Accept();
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
}

void HttpServer::Stop() {
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  beast::error_code ec;
  acceptor_.close(ec);  // new connections are refused, not left unanswered
}

}  // namespace pricing
