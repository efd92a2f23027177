#include "perf/kafka_mock_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace pricing::perf {

MockKafka::MockKafka(const std::string& binary) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("kafka mock: pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("kafka mock: fork failed");
  if (pid_ == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(in[1]);
    close(out[0]);
    execl(binary.c_str(), binary.c_str(), "--brokers", "3", nullptr);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  stdin_ = in[1];
  stdout_ = out[0];
  bootstraps_ = ReadLine();
  if (bootstraps_.empty()) throw std::runtime_error("kafka mock: " + binary + " did not start");
}

MockKafka::~MockKafka() {
  close(stdin_);
  close(stdout_);
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
}

std::string MockKafka::CreateTopic(const std::string& topic, int partitions, int replication) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string cmd = "create " + topic + " " + std::to_string(partitions) + " " +
                          std::to_string(replication) + "\n";
  if (write(stdin_, cmd.data(), cmd.size()) != static_cast<ssize_t>(cmd.size()))
    return "the mock cluster process is gone";
  const std::string answer = ReadLine();
  if (answer == "ok" || answer.find("exists") != std::string::npos) return "";
  return answer.empty() ? "the mock cluster process is gone" : answer;
}

std::string MockKafka::ReadLine() {
  std::string line;
  char c = 0;
  while (read(stdout_, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

}  // namespace pricing::perf
