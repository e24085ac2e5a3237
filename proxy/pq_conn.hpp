#pragma once
// A libpq connection driven by Asio without ever blocking the calling thread: PQconnectStartParams
// + PQconnectPoll, PQsendQuery + PQflush + PQconsumeInput/PQisBusy, each step waiting for socket
// readiness with an Asio descriptor wait bounded by a deadline (PostgreSQL docs §34.1 "Database
// Connection Control Functions" and §34.4 "Asynchronous Command Processing").
//
// Not thread-safe: use one PqConn from one strand, one operation at a time. cancel() may be called
// from that strand while an operation waits.
#include <libpq-fe.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgscale {

using PqDeadline = std::chrono::steady_clock::time_point;

// Connection keywords as in PostgreSQL docs §34.1.2 ("host", "port", "user", "dbname", ...).
// Passed to PQconnectStartParams unparsed, so values need no quoting. Give "hostaddr" (or a socket
// directory as "host"): a bare host name makes libpq resolve it with a blocking getaddrinfo();
// resolve it first with resolve_host_params() below.
using PqParams = std::vector<std::pair<std::string, std::string>>;

struct PqResult {
  std::string error;                       // empty = success
  std::string sqlstate;                    // of a server error, if any
  std::vector<std::string> columns;        // of the last row-returning statement
  std::vector<std::vector<std::optional<std::string>>> rows;  // text format; nullopt = NULL

  bool ok() const { return error.empty(); }
};

class PqConn {
 public:
  explicit PqConn(boost::asio::any_io_executor executor);
  ~PqConn();
  PqConn(const PqConn&) = delete;
  PqConn& operator=(const PqConn&) = delete;

  // Opens the connection; on failure (or deadline, or cancel()) the connection is closed and the
  // result carries libpq's message.
  boost::asio::awaitable<PqResult> connect(const PqParams& params, PqDeadline deadline);

  // Runs `sql` with the simple query protocol and collects every result. A deadline or a broken
  // connection closes the connection (its state is unknown); a server error leaves it usable.
  boost::asio::awaitable<PqResult> query(std::string_view sql, PqDeadline deadline);

  bool connected() const;
  void close();   // idempotent; never blocks (the socket is non-blocking)
  void cancel();  // ends the operation in progress with an error and closes the connection

 private:
  enum class Want { read, write, read_or_write };
  enum class Wait { ready, deadline, cancelled, no_socket };

  boost::asio::awaitable<Wait> wait_socket(Want want, PqDeadline deadline);
  boost::asio::awaitable<PqResult> flush(PqDeadline deadline);
  boost::asio::awaitable<PqResult> collect(PqDeadline deadline);
  bool track_socket();  // (re)binds descriptor_ to PQsocket(); false if there is no socket
  void release_socket();
  PqResult fail(std::string message);
  static std::string wait_error(Wait w);

  boost::asio::any_io_executor executor_;
  boost::asio::posix::stream_descriptor descriptor_;  // never owns the fd: libpq does
  boost::asio::steady_timer timer_;
  PGconn* conn_ = nullptr;
  bool cancelled_ = false;
};

// Parameters for a TCP or unix-socket connection to host:port. An IP literal becomes "hostaddr";
// a path (starting with '/') stays "host"; any other name is resolved asynchronously (bounded by
// the deadline) and passed as hostaddr with the name kept in "host" for TLS verification.
// nullopt + `error` when resolution fails.
boost::asio::awaitable<std::optional<PqParams>> resolve_host_params(
    std::string host, uint16_t port, PqParams extra, PqDeadline deadline, std::string& error);

}  // namespace pgscale
