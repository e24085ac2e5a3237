// idle_clients: open N authenticated PostgreSQL connections from one process and hold them idle,
// so the benchmark can read a proxy's memory cost per client connection.
//
// Connections are opened with libpq's non-blocking API (PQconnectStartParams/PQconnectPoll)
// driven by one epoll set, so 10,000 connections need neither threads nor blocking calls.
// libpq may replace the socket between poll steps (e.g. retrying another address or without
// SSL), so the fd is re-read after every PQconnectPoll call and the epoll entry moved with it.
//
// Output (stdout, one line each, machine-readable "key=value"):
//   result requested=N ok=K failed=F timed_out=T elapsed_ms=MS queried=Q first_error="..."
// With --query SQL every connection runs SQL once after all are connected (then idles): a client
// that did some work and went idle can cost a proxy more than one that never sent a query.
// then, if --ready-file is given, that file is written with the same line, and the process
// holds the connections until --hold seconds pass or SIGTERM/SIGINT arrives.
#include <libpq-fe.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "5432";
  std::string user = "postgres";
  std::string dbname = "postgres";
  std::string sslmode = "disable";
  std::string ready_file;
  std::string query;       // run once on each connection after the connect phase (empty: none)
  int count = 100;
  int parallel = 128;      // connects in flight at once: bounds SYN backlog and SCRAM CPU bursts
  int timeout_s = 60;      // whole connect phase
  int hold_s = 600;        // how long to keep the connections before exiting
};

struct Slot {
  PGconn* conn = nullptr;
  int fd = -1;
  bool done = false;
  bool ok = false;
};

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

void usage() {
  std::fprintf(stderr,
               "usage: idle_clients --host H --port P --user U --dbname D --count N\n"
               "       [--sslmode disable|require] [--parallel K] [--timeout S] [--hold S] [--query SQL]\n"
               "       [--ready-file FILE]   (password: PGPASSWORD or ~/.pgpass, as libpq reads it)\n");
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return false;
    std::string v = argv[++i];
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = v;
    else if (a == "--user") o.user = v;
    else if (a == "--dbname") o.dbname = v;
    else if (a == "--sslmode") o.sslmode = v;
    else if (a == "--ready-file") o.ready_file = v;
    else if (a == "--query") o.query = v;
    else if (a == "--count") o.count = std::atoi(v.c_str());
    else if (a == "--parallel") o.parallel = std::atoi(v.c_str());
    else if (a == "--timeout") o.timeout_s = std::atoi(v.c_str());
    else if (a == "--hold") o.hold_s = std::atoi(v.c_str());
    else return false;
  }
  return o.count > 0 && o.parallel > 0 && o.timeout_s > 0 && o.hold_s >= 0;
}

// Each connection needs one fd; leave headroom for stdio, epoll and libpq internals.
void raise_fd_limit(int count) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = static_cast<rlim_t>(count) + 64;
  if (rl.rlim_cur >= want) return;
  if (rl.rlim_max < want) rl.rlim_max = want;  // succeeds only with CAP_SYS_RESOURCE
  rl.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    std::fprintf(stderr, "idle_clients: RLIMIT_NOFILE capped at %llu (wanted %llu)\n",
                 static_cast<unsigned long long>(rl.rlim_max), static_cast<unsigned long long>(want));
  }
}

class Connector {
 public:
  explicit Connector(const Options& o) : opt_(o), slots_(static_cast<size_t>(o.count)) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
  }
  ~Connector() {
    for (auto& s : slots_)
      if (s.conn) PQfinish(s.conn);
    if (ep_ >= 0) close(ep_);
  }
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  // Runs the connect phase until every slot finished or the deadline passed.
  void run() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opt_.timeout_s);
    std::vector<epoll_event> events(256);
    while (!g_stop && finished_ < opt_.count) {
      while (in_flight_ < opt_.parallel && next_ < opt_.count) start(next_++);
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      int wait_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
      if (wait_ms > 200) wait_ms = 200;  // re-check the deadline and signals regularly
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), wait_ms);
      for (int i = 0; i < n; ++i) step(static_cast<int>(events[static_cast<size_t>(i)].data.u32));
    }
    for (auto& s : slots_)
      if (!s.done) ++timed_out_;
  }

  int ok() const { return ok_; }
  int failed() const { return failed_; }
  int timed_out() const { return timed_out_; }
  const std::string& first_error() const { return first_error_; }

  // Runs `sql` once on every connected slot (blocking, one at a time). Returns how many succeeded.
  int query_all(const std::string& sql) {
    int n = 0;
    for (auto& s : slots_) {
      if (g_stop) break;
      if (!s.ok || !s.conn) continue;
      PGresult* r = PQexec(s.conn, sql.c_str());
      ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ++n;
      else if (first_error_.empty()) first_error_ = PQresultErrorMessage(r);
      PQclear(r);
    }
    for (char& c : first_error_)
      if (c == '\n' || c == '\r' || c == '\t' || c == '"') c = ' ';
    return n;
  }

 private:
  void start(int idx) {
    Slot& s = slots_[static_cast<size_t>(idx)];
    const char* keys[] = {"host", "port", "user", "dbname", "sslmode", "application_name",
                          "connect_timeout", nullptr};
    std::string ct = std::to_string(opt_.timeout_s);
    const char* vals[] = {opt_.host.c_str(), opt_.port.c_str(),    opt_.user.c_str(), opt_.dbname.c_str(),
                          opt_.sslmode.c_str(), "idle_clients", ct.c_str(),          nullptr};
    s.conn = PQconnectStartParams(keys, vals, 0);
    ++in_flight_;
    if (!s.conn || PQstatus(s.conn) == CONNECTION_BAD) {
      finish(idx, false);
      return;
    }
    // First step: libpq's state machine starts as if PGRES_POLLING_WRITING had been returned.
    watch(idx, PQsocket(s.conn), EPOLLOUT);
  }

  void watch(int idx, int fd, uint32_t what) {
    Slot& s = slots_[static_cast<size_t>(idx)];
    epoll_event ev{};
    ev.events = what;
    ev.data.u32 = static_cast<uint32_t>(idx);
    if (s.fd >= 0 && s.fd != fd) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, s.fd, nullptr);  // may already be closed by libpq: ignore
      s.fd = -1;
    }
    if (fd < 0) {
      finish(idx, false);
      return;
    }
    int op = s.fd == fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(ep_, op, fd, &ev) != 0 && op == EPOLL_CTL_MOD) epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    s.fd = fd;
  }

  void step(int idx) {
    Slot& s = slots_[static_cast<size_t>(idx)];
    if (s.done) return;
    switch (PQconnectPoll(s.conn)) {
      case PGRES_POLLING_READING: watch(idx, PQsocket(s.conn), EPOLLIN); break;
      case PGRES_POLLING_WRITING: watch(idx, PQsocket(s.conn), EPOLLOUT); break;
      case PGRES_POLLING_OK: finish(idx, true); break;
      default: finish(idx, false); break;
    }
  }

  void finish(int idx, bool ok) {
    Slot& s = slots_[static_cast<size_t>(idx)];
    s.done = true;
    s.ok = ok;
    --in_flight_;
    ++finished_;
    if (s.fd >= 0) epoll_ctl(ep_, EPOLL_CTL_DEL, s.fd, nullptr);  // idle from now on: no events wanted
    if (ok) {
      ++ok_;
      return;
    }
    ++failed_;
    if (first_error_.empty()) {
      first_error_ = s.conn ? PQerrorMessage(s.conn) : "out of memory";
      for (char& c : first_error_)
        if (c == '\n' || c == '\r' || c == '\t' || c == '"') c = ' ';  // one line, tab-free
    }
    if (s.conn) {
      PQfinish(s.conn);  // free the fd of a failed attempt at once
      s.conn = nullptr;
    }
  }

  Options opt_;
  std::vector<Slot> slots_;
  int ep_ = -1;
  int next_ = 0;
  int in_flight_ = 0;
  int finished_ = 0;
  int ok_ = 0;
  int failed_ = 0;
  int timed_out_ = 0;
  std::string first_error_;
};

void hold(int seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!g_stop && std::chrono::steady_clock::now() < end) usleep(100 * 1000);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse_args(argc, argv, opt)) {
    usage();
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit(opt.count);

  Connector c(opt);
  const auto t0 = std::chrono::steady_clock::now();
  c.run();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  int queried = opt.query.empty() ? 0 : c.query_all(opt.query);

  char line[1024];
  std::snprintf(line, sizeof line,
                "result requested=%d ok=%d failed=%d timed_out=%d elapsed_ms=%lld queried=%d first_error=\"%.600s\"\n",
                opt.count, c.ok(), c.failed(), c.timed_out(), static_cast<long long>(ms), queried,
                c.first_error().c_str());
  std::fputs(line, stdout);
  std::fflush(stdout);
  if (!opt.ready_file.empty()) {
    // Write then rename, so a reader never sees a half-written line.
    std::string tmp = opt.ready_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fputs(line, f);
      std::fclose(f);
      std::rename(tmp.c_str(), opt.ready_file.c_str());
    }
  }
  hold(opt.hold_s);
  return c.ok() > 0 ? 0 : 1;
}
