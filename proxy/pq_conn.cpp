#include "proxy/pq_conn.hpp"

#include "config/config.hpp"

#include <poll.h>

#include <algorithm>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace pgscale {

namespace asio = boost::asio;
using asio::experimental::make_parallel_group;
using asio::experimental::wait_for_one;

namespace {

// Readiness is decided by poll(2), not by the Asio wake-up: Asio's epoll reactor is edge-triggered
// and does not try a descriptor *wait* speculatively, so an edge consumed while nobody waited
// would otherwise be lost. The wait below is only a wake-up; a lost edge costs at most kRecheck.
constexpr auto kRecheck = std::chrono::milliseconds{50};
constexpr int kMaxConnectSteps = 1000;
constexpr int kMaxWakeups = 100000;

bool ready_now(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, 0) > 0;  // POLLERR/POLLHUP count: libpq then reports the error itself
}

std::string trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void absorb(PqResult& out, PGresult* r) {
  switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK: {
      out.columns.clear();
      out.rows.clear();
      const int ncols = PQnfields(r);
      for (int c = 0; c < ncols; ++c) out.columns.emplace_back(PQfname(r, c));
      const int nrows = PQntuples(r);
      out.rows.reserve(static_cast<size_t>(nrows));
      for (int i = 0; i < nrows; ++i) {
        auto& row = out.rows.emplace_back();
        for (int c = 0; c < ncols; ++c) {
          if (PQgetisnull(r, i, c)) row.emplace_back(std::nullopt);
          else row.emplace_back(std::string(PQgetvalue(r, i, c), static_cast<size_t>(PQgetlength(r, i, c))));
        }
      }
      break;
    }
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
      break;
    default:  // errors; COPY and pipeline states are never used by pgscale's own queries
      if (out.error.empty()) {
        out.error = trimmed(PQresultErrorMessage(r));
        if (out.error.empty()) out.error = PQresStatus(PQresultStatus(r));
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state != nullptr) out.sqlstate = state;
      }
  }
}

}  // namespace

PqConn::PqConn(asio::any_io_executor executor)
    : executor_(executor), descriptor_(executor), timer_(executor) {}

PqConn::~PqConn() { close(); }

bool PqConn::connected() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

void PqConn::release_socket() {
  if (descriptor_.is_open()) descriptor_.release();  // libpq owns and closes the fd
}

void PqConn::close() {
  release_socket();
  if (conn_ != nullptr) {
    PQfinish(conn_);  // sends Terminate without waiting: the connection is in non-blocking mode
    conn_ = nullptr;
  }
}

void PqConn::cancel() {
  cancelled_ = true;
  timer_.cancel();
  if (descriptor_.is_open()) descriptor_.cancel();
}

PqResult PqConn::fail(std::string message) {
  close();
  PqResult r;
  r.error = message.empty() ? "connection failed" : std::move(message);
  return r;
}

std::string PqConn::wait_error(Wait w) {
  switch (w) {
    case Wait::deadline: return "timeout";
    case Wait::cancelled: return "cancelled";
    case Wait::no_socket: return "connection has no socket";
    case Wait::ready: break;
  }
  return "unexpected wait result";
}

bool PqConn::track_socket() {
  const int fd = conn_ != nullptr ? PQsocket(conn_) : -1;
  if (fd < 0) {
    release_socket();
    return false;
  }
  if (descriptor_.is_open() && descriptor_.native_handle() == fd) return true;
  release_socket();
  boost::system::error_code ec;
  descriptor_.assign(fd, ec);
  return !ec;
}

asio::awaitable<PqConn::Wait> PqConn::wait_socket(Want want, PqDeadline deadline) {
  const short events = want == Want::read ? POLLIN : want == Want::write ? POLLOUT : (POLLIN | POLLOUT);
  const auto wake_on = want == Want::read ? asio::posix::descriptor_base::wait_read
                                          : asio::posix::descriptor_base::wait_write;
  for (int i = 0; i < kMaxWakeups; ++i) {
    if (cancelled_) co_return Wait::cancelled;
    if (!track_socket()) co_return Wait::no_socket;
    if (ready_now(descriptor_.native_handle(), events)) co_return Wait::ready;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) co_return Wait::deadline;
    timer_.expires_at(std::min(deadline, now + kRecheck));
    // Whichever completes first cancels the other; both outcomes just mean "look again".
    co_await make_parallel_group(descriptor_.async_wait(wake_on, asio::deferred),
                                 timer_.async_wait(asio::deferred))
        .async_wait(wait_for_one(), asio::use_awaitable);
  }
  co_return Wait::deadline;
}

asio::awaitable<PqResult> PqConn::connect(const PqParams& params, PqDeadline deadline) {
  close();
  if (cancelled_) co_return fail("cancelled");
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
  if (conn_ == nullptr) co_return fail("out of memory starting a connection");
  if (PQstatus(conn_) == CONNECTION_BAD) co_return fail(trimmed(PQerrorMessage(conn_)));
  PQsetnonblocking(conn_, 1);  // PQflush/PQfinish must never wait for the socket
  // Per the docs: before the first PQconnectPoll, behave as if it returned PGRES_POLLING_WRITING.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (int step = 0; step < kMaxConnectSteps; ++step) {
    if (st == PGRES_POLLING_OK) co_return PqResult{};
    if (st == PGRES_POLLING_FAILED) co_return fail(trimmed(PQerrorMessage(conn_)));
    const auto w = co_await wait_socket(st == PGRES_POLLING_READING ? Want::read : Want::write, deadline);
    if (w != Wait::ready) co_return fail("connect: " + wait_error(w));
    st = PQconnectPoll(conn_);
    // libpq may close the socket and open another (next address, SSL or GSS fallback), possibly
    // with the same number: forget the registration so the next wait binds whatever is current.
    release_socket();
  }
  co_return fail("connect: too many steps");
}

asio::awaitable<PqResult> PqConn::flush(PqDeadline deadline) {
  for (int i = 0; i < kMaxWakeups; ++i) {
    const int r = PQflush(conn_);
    if (r == 0) co_return PqResult{};
    if (r < 0) co_return fail(trimmed(PQerrorMessage(conn_)));
    // The docs ask to read too while the output is stuck, lest both sides wait on each other.
    const auto w = co_await wait_socket(Want::read_or_write, deadline);
    if (w != Wait::ready) co_return fail("query: " + wait_error(w));
    if (!PQconsumeInput(conn_)) co_return fail(trimmed(PQerrorMessage(conn_)));
  }
  co_return fail("query: flush did not finish");
}

asio::awaitable<PqResult> PqConn::collect(PqDeadline deadline) {
  PqResult out;
  for (int i = 0; i < kMaxWakeups; ++i) {
    if (!PQconsumeInput(conn_)) co_return fail(trimmed(PQerrorMessage(conn_)));
    while (!PQisBusy(conn_)) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) {
        if (PQstatus(conn_) == CONNECTION_BAD) co_return fail(out.error.empty() ? trimmed(PQerrorMessage(conn_)) : out.error);
        co_return out;
      }
      const auto status = PQresultStatus(r);
      absorb(out, r);
      PQclear(r);
      if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH)
        co_return fail("query: COPY is not supported here");
    }
    const auto w = co_await wait_socket(Want::read, deadline);
    if (w != Wait::ready) co_return fail("query: " + wait_error(w));
  }
  co_return fail("query: result did not finish");
}

asio::awaitable<PqResult> PqConn::query(std::string_view sql, PqDeadline deadline) {
  if (cancelled_) co_return fail("cancelled");
  if (!connected()) co_return fail("not connected");
  const std::string text(sql);  // libpq wants a NUL-terminated string
  if (!PQsendQuery(conn_, text.c_str())) co_return fail(trimmed(PQerrorMessage(conn_)));
  auto flushed = co_await flush(deadline);
  if (!flushed.ok()) co_return flushed;
  co_return co_await collect(deadline);
}

// GCC 12 reports a false -Wmismatched-new-delete for this coroutine frame: Asio allocates frames
// with its recycling allocator (aligned_alloc) and frees them with the matching operator delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<std::optional<PqParams>> resolve_host_params(std::string host, uint16_t port,
                                                             PqParams extra, PqDeadline deadline,
                                                             std::string& error) {
  PqParams params;
  params.emplace_back("port", std::to_string(port));
  if (host.empty()) {
    error = "empty host";
    co_return std::nullopt;
  }
  boost::system::error_code ec;
  if (config::is_socket_directory(host)) {
    params.emplace_back("host", host);  // unix socket directory: no lookup
  } else if (asio::ip::make_address(host, ec); !ec) {
    params.emplace_back("hostaddr", host);
  } else {
    // The resolver runs getaddrinfo() on Asio's private thread; it has no per-operation
    // cancellation, so a hung lookup is bounded by the system resolver's own timeout.
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(ex);
    asio::steady_timer timer(ex, deadline);
    auto [order, rec, results, tec] =
        co_await make_parallel_group(resolver.async_resolve(host, std::to_string(port), asio::deferred),
                                     timer.async_wait(asio::deferred))
            .async_wait(wait_for_one(), asio::use_awaitable);
    (void)tec;
    if (order[0] != 0 || rec || results.empty()) {
      error = "cannot resolve " + host + ": " + (order[0] != 0 ? std::string("timeout") : rec ? rec.message() : "no address");
      co_return std::nullopt;
    }
    params.emplace_back("host", host);  // kept for TLS host name checks
    params.emplace_back("hostaddr", results.begin()->endpoint().address().to_string());
  }
  for (auto& kv : extra) params.push_back(std::move(kv));
  co_return params;
}

#pragma GCC diagnostic pop

}  // namespace pgscale
