#pragma once
// How a worker thread runs its io_context.
//
// By default as every event loop does: handlers until nothing is left, then sleep in epoll_wait
// until a socket is ready. Each relayed transaction then wakes the worker twice (the client's
// query, the server's answer), and a wake-up costs more than the relaying: on a VM an idle vCPU
// halts, and bringing it back takes tens of microseconds — most of the latency a proxy adds at low
// concurrency (bench/results: ~75 us at 1 client, of which ~4 us is pgscale's own work).
//
// With listen.busy_poll_us > 0 a worker that runs out of handlers first polls its sockets
// (epoll_wait with timeout 0) for that long, and only then sleeps: a client's next query or a
// server's answer usually arrives within that window and is handled without a wake-up. Polling
// takes a CPU, so it happens only while one is free — while the runnable threads of the machine,
// this one included, are no more than its CPUs (the kernel's instantaneous count in /proc/loadavg,
// read at most every 50 us). Under load the CPUs are busy with PostgreSQL and the clients, and the
// worker sleeps as before. Off by default: it spends CPU time while waiting, which a process under a
// CPU quota (cgroup cpu.max) pays for in throttling.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

namespace pgscale::proxy {

// The number of runnable threads in /proc/loadavg's text ("0.52 0.31 0.20 2/345 6789" -> 2);
// nullopt when the text does not have that shape.
std::optional<int> parse_runnable(std::string_view loadavg);

// Whether a CPU is free for polling. Keeps /proc/loadavg open; without it (no /proc) never free.
class CpuGate {
 public:
  CpuGate();
  ~CpuGate();
  CpuGate(const CpuGate&) = delete;
  CpuGate& operator=(const CpuGate&) = delete;

  bool available() const { return fd_ >= 0; }
  bool cpu_free() const;

 private:
  int fd_ = -1;
  int cpus_ = 1;
};

// The CPU quota of this process's cgroup (v2 cpu.max, e.g. "50000 100000") when one is set; polling
// then uses up the quota. Empty when there is none or it cannot be read.
std::string cpu_quota();

// Runs ctx until it is stopped or out of work; busy_poll 0 is plain ctx.run().
void run_worker(boost::asio::io_context& ctx, std::chrono::microseconds busy_poll);

}  // namespace pgscale::proxy
