// Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol,
// for tests of pages the processor serves: navigate, evaluate JavaScript, take a
// screenshot. The protocol runs over a WebSocket (Boost.Beast); no driver needed.
#pragma once

#include <signal.h>

#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "cluster_fixture.h"
#include "common/json_writer.h"
#include "http_get.h"

namespace pricing::test {

inline std::string DecodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (const char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // padding and line breaks
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

class Chromium {
 public:
  // Starts the browser with a fresh profile under `dir`; throws when it does not come up.
  Chromium(const std::filesystem::path& dir, int width = 1200, int height = 900) {
    const std::filesystem::path profile = dir / "chromium-profile";
    std::filesystem::create_directories(profile);
    // The flags keep it from reaching out to the internet (refused here, and slow).
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0", "--user-data-dir=" + profile.string(),
            "--window-size=" + std::to_string(width) + "," + std::to_string(height), "about:blank"},
        std::map<std::string, std::string>{}, dir / "chromium.log");
    // Chromium writes the port it chose to DevToolsActivePort in the profile.
    const auto active = profile / "DevToolsActivePort";
    if (!WaitFor([&] { return std::filesystem::exists(active) && ReadPort(active) > 0; }, 30000)) {
      throw std::runtime_error("chromium did not start; see " + (dir / "chromium.log").string());
    }
    const int port = ReadPort(active);
    // The page target's WebSocket path, from /json/list.
    std::string path;
    WaitFor(
        [&] {
          const HttpResult list = HttpGet(port, "/json/list");
          const std::size_t at = list.body.find("\"webSocketDebuggerUrl\"");
          const std::size_t page = list.body.find("\"type\": \"page\"");
          if (list.status != 200 || at == std::string::npos || page == std::string::npos)
            return false;
          const std::size_t start = list.body.find("/devtools/page/", at);
          path = list.body.substr(start, list.body.find('"', start) - start);
          return true;
        },
        15000);
    if (path.empty()) throw std::runtime_error("chromium has no page target");
    ws_.next_layer().connect(
        {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    ws_.handshake("127.0.0.1:" + std::to_string(port), path);
  }

  ~Chromium() {
    ws_.next_layer().close();
    process_->Signal(SIGTERM);
    if (process_->Wait(10000) < 0) process_->Signal(SIGKILL);
  }

  // Sends a command and returns its whole answer (JSON text); events in between are
  // skipped. Throws when the answer is an error.
  std::string Call(const std::string& method, const std::string& params_json = "{}") {
    const int id = ++next_id_;
    const std::string request = R"({"id":)" + std::to_string(id) + R"(,"method":")" + method +
                                R"(","params":)" + params_json + "}";
    ws_.text(true);
    ws_.write(boost::asio::buffer(request));
    const std::string tag = R"("id":)" + std::to_string(id) + ",";
    for (;;) {
      boost::beast::flat_buffer buffer;
      ws_.read(buffer);
      std::string answer = boost::beast::buffers_to_string(buffer.data());
      if (answer.find(tag) == std::string::npos) continue;
      if (answer.find(R"("error":)") != std::string::npos &&
          answer.find(R"("result":)") == std::string::npos)
        throw std::runtime_error(method + ": " + answer);
      return answer;
    }
  }

  void Navigate(const std::string& url) {
    std::string params;
    JsonWriter(&params).BeginObject().Key("url").String(url).EndObject();
    Call("Page.navigate", params);
  }

  // Evaluates `expression` in the page (awaiting a promise) and returns the whole answer;
  // with returnByValue, a string result is at result.result.value.
  std::string Evaluate(const std::string& expression) {
    std::string params;
    JsonWriter(&params)
        .BeginObject()
        .Key("expression")
        .String(expression)
        .Key("returnByValue")
        .Bool(true)
        .Key("awaitPromise")
        .Bool(true)
        .EndObject();
    return Call("Runtime.evaluate", params);
  }

  // A PNG of the viewport, written to `path`.
  void Screenshot(const std::filesystem::path& path) {
    const std::string answer = Call("Page.captureScreenshot", R"({"format":"png"})");
    const std::size_t at = answer.find(R"("data":")");
    if (at == std::string::npos) throw std::runtime_error("no screenshot data: " + answer);
    const std::size_t start = at + 8;
    std::ofstream(path, std::ios::binary)
        << DecodeBase64(std::string_view(answer).substr(start, answer.find('"', start) - start));
  }

 private:
  static int ReadPort(const std::filesystem::path& file) {
    std::ifstream in(file);
    int port = 0;
    in >> port;
    return port;
  }

  std::unique_ptr<ChildProcess> process_;
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_{io_};
  int next_id_ = 0;
};

}  // namespace pricing::test
