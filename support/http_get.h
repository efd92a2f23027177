// A blocking HTTP/1.1 GET for tests (Boost.Beast), against 127.0.0.1 or another address.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

namespace pricing::test {

struct HttpResult {
  int status = 0;  // 0: could not connect
  std::string content_type;
  std::string body;
};

inline HttpResult HttpGetAt(const std::string& host, int port, const std::string& target,
                            boost::beast::http::verb verb = boost::beast::http::verb::get) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(host),
                                                static_cast<unsigned short>(port)),
                 ec);
  if (ec) return {};
  http::request<http::string_body> req(verb, target, 11);
  req.set(http::field::host, host);
  http::write(stream, req, ec);
  if (ec) return {};
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (verb == http::verb::head) {
    http::response_parser<http::string_body> parser;
    parser.skip(true);
    http::read(stream, buffer, parser, ec);
    if (ec) return {};
    res = parser.release();
  } else {
    http::read(stream, buffer, res, ec);
    if (ec) return {};
  }
  return {static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
          res.body()};
}

inline HttpResult HttpGet(int port, const std::string& target,
                          boost::beast::http::verb verb = boost::beast::http::verb::get) {
  return HttpGetAt("127.0.0.1", port, target, verb);
}

}  // namespace pricing::test
