#include "proxy/worker_loop.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <thread>

namespace pgscale::proxy {

std::optional<int> parse_runnable(std::string_view loadavg) {
  // Three load averages, then "running/total".
  size_t pos = 0;
  for (int field = 0; field < 3; ++field) {
    pos = loadavg.find(' ', pos);
    if (pos == std::string_view::npos) return std::nullopt;
    ++pos;
  }
  int running = 0;
  const char* end = loadavg.data() + loadavg.size();
  auto [p, ec] = std::from_chars(loadavg.data() + pos, end, running);
  if (ec != std::errc() || p == end || *p != '/' || running < 0) return std::nullopt;
  return running;
}

CpuGate::CpuGate()
    : fd_(::open("/proc/loadavg", O_RDONLY | O_CLOEXEC)),
      cpus_(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {}

CpuGate::~CpuGate() {
  if (fd_ >= 0) ::close(fd_);
}

bool CpuGate::cpu_free() const {
  if (fd_ < 0) return false;
  char buf[128];
  ssize_t n = ::pread(fd_, buf, sizeof buf, 0);  // the kernel renders the file anew at offset 0
  if (n <= 0) return false;
  auto running = parse_runnable(std::string_view(buf, static_cast<size_t>(n)));
  return running && *running <= cpus_;  // the count includes this thread
}

std::string cpu_quota() {
  std::ifstream self("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(self, line))
    if (line.rfind("0::", 0) == 0) path = line.substr(3);  // the v2 hierarchy
  if (path.empty()) return {};
  std::ifstream max("/sys/fs/cgroup" + (path == "/" ? std::string() : path) + "/cpu.max");
  std::string quota;
  if (!std::getline(max, quota) || quota.rfind("max", 0) == 0) return {};
  return quota;
}

void run_worker(boost::asio::io_context& ctx, std::chrono::microseconds busy_poll) {
  CpuGate gate;
  if (busy_poll.count() <= 0 || !gate.available()) {
    ctx.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  constexpr auto kRecheck = std::chrono::microseconds(50);
  auto last_work = Clock::now();
  auto last_check = last_work - kRecheck;
  while (!ctx.stopped()) {
    if (ctx.poll() > 0) {  // ready handlers, and the reactor without blocking
      last_work = Clock::now();
      continue;
    }
    auto now = Clock::now();
    if (now - last_work < busy_poll) {
      if (now - last_check < kRecheck) continue;
      last_check = now;
      if (gate.cpu_free()) continue;
    }
    if (ctx.run_one() == 0) break;  // sleeps until something is ready; 0: stopped or no work left
    last_work = Clock::now();
    last_check = last_work - kRecheck;
  }
}

}  // namespace pgscale::proxy
