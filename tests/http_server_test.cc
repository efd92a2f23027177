#include "http/http_server.h"

#include <gtest/gtest.h>

#include <boost/beast/websocket.hpp>
#include <stdexcept>

#include "http_get.h"
#include "ws_client.h"

namespace pricing {
namespace {

using test::HttpGet;

TEST(HttpServer, RoutesExactPathsAndAnswersUnknownOnesWith404) {
  HttpServer server("127.0.0.1", 0);
  server.Handle("/hello", [](const HttpServer::Request& r) {
    std::string who = "world";
    QueryParam(r.query, "name", &who);
    return HttpServer::Response{200, "text/plain", "hello " + who};
  });
  server.Handle("/fail", [](const HttpServer::Request&) -> HttpServer::Response {
    throw std::runtime_error("boom");
  });
  server.Start();
  ASSERT_NE(server.port(), 0);
  auto r = HttpGet(server.port(), "/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.content_type, "text/plain");
  EXPECT_EQ(HttpGet(server.port(), "/hello?name=New+York%21").body, "hello New York!");
  EXPECT_EQ(HttpGet(server.port(), "/hello/").status, 404);
  EXPECT_EQ(HttpGet(server.port(), "/nope").status, 404);
  EXPECT_EQ(HttpGet(server.port(), "/hello", boost::beast::http::verb::post).status, 405);
  auto head = HttpGet(server.port(), "/hello", boost::beast::http::verb::head);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  auto fail = HttpGet(server.port(), "/fail");
  EXPECT_EQ(fail.status, 500);
  EXPECT_NE(fail.body.find("boom"), std::string::npos);
  // Still serving after all that.
  EXPECT_EQ(HttpGet(server.port(), "/hello").status, 200);
  server.Stop();
  EXPECT_EQ(HttpGet(server.port(), "/hello").status, 0);
}

TEST(HttpServer, HandsWebSocketUpgradesToTheirHandlerOrRefusesThem) {
  namespace websocket = boost::beast::websocket;
  HttpServer server("127.0.0.1", 0);
  server.HandleUpgrade(
      "/ws",
      [](const HttpServer::Request& r)
          -> std::variant<HttpServer::Response, HttpServer::UpgradeAccept> {
        if (r.query == "refuse") return HttpServer::Response{403, "text/plain", "no\n"};
        return [query = r.query](boost::asio::ip::tcp::socket socket,
                                 HttpServer::UpgradeRequest request) {
          // Greets with the query it was opened with, then ends.
          auto ws =
              std::make_shared<websocket::stream<boost::beast::tcp_stream>>(std::move(socket));
          ws->async_accept(request, [ws, query](boost::beast::error_code ec) {
            if (ec) return;
            auto text = std::make_shared<std::string>("hello " + query);
            ws->async_write(
                boost::asio::buffer(*text), [ws, text](boost::beast::error_code, std::size_t) {
                  ws->async_close(websocket::close_code::normal, [ws](boost::beast::error_code) {});
                });
          });
        };
      });
  server.Handle("/plain", [](const HttpServer::Request&) {
    return HttpServer::Response{200, "text/plain", "plain"};
  });
  server.Start();
  test::WsClient client;
  ASSERT_TRUE(client.Connect(server.port(), "/ws?x=1"));
  EXPECT_EQ(client.Read(5000).value_or(""), "hello x=1");
  EXPECT_FALSE(client.Read(5000)) << "the handler closed the connection";
  int status = 0;
  test::WsClient refused;
  EXPECT_FALSE(refused.Connect(server.port(), "/ws?refuse", &status));
  EXPECT_EQ(status, 403);
  // A plain request to a WebSocket path is told what to do; other paths are unaffected.
  EXPECT_EQ(HttpGet(server.port(), "/ws").status, 426);
  EXPECT_EQ(HttpGet(server.port(), "/plain").status, 200);
  test::WsClient wrong;
  EXPECT_FALSE(wrong.Connect(server.port(), "/plain", &status));
  EXPECT_EQ(status, 200) << "an upgrade to a plain path gets the plain answer";
}

TEST(HttpServer, RefusesAPortInUseNamingTheAddress) {
  HttpServer first("127.0.0.1", 0);
  try {
    HttpServer second("127.0.0.1", first.port());
    FAIL() << "a second server bound the same port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(
        std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
        std::string::npos)
        << e.what();
  }
  EXPECT_THROW(HttpServer("not-an-ip", 0), std::runtime_error);
}

TEST(QueryParam, FindsAndDecodes) {
  std::string v;
  EXPECT_TRUE(QueryParam("city=nyc&zones=1,2%2C3", "zones", &v));
  EXPECT_EQ(v, "1,2,3");
  EXPECT_TRUE(QueryParam("flag&city=nyc", "flag", &v));
  EXPECT_EQ(v, "");
  EXPECT_FALSE(QueryParam("city=nyc", "zone", &v));
  EXPECT_FALSE(QueryParam("", "city", &v));
}

}  // namespace
}  // namespace pricing
