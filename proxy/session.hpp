#pragma once
// pgscale proxy core — design sketch (issue 3; leaves seams for issues 4 and 5).
//
// Threads and executors
//   main thread: control io_context — acceptor, signals (SIGHUP reload, SIGTERM/SIGINT drain),
//   pool maintenance timer. N worker threads, one io_context each. The acceptor accepts straight
//   onto the next worker's io_context (round robin), so a client session and its timers live on
//   one thread and the session needs no locks of its own.
//
// Pools: shared across workers, one per (node, database, user, startup-parameter signature).
//   Why shared: `pool.max_size` means "server connections per (node, db, user)" in the YAML; a
//   per-worker split would turn max_size 10 on 4 workers into 4 pools of 2-3 connections, starving
//   clients on a busy worker while idle connections sit on another. The pool mutex guards only
//   the idle stack, the size counter and the waiter queue — never held across a co_await. A
//   server connection's socket stays registered with the io_context that created it; a session
//   on another worker drives it anyway (Asio reactors are thread-safe; completions are posted to
//   the session's executor). Checkout prefers idle connections created on the caller's worker, so
//   the common case has no cross-thread hop.
//
// Session (ClientSession, client_session.cpp): straight-line coroutine
//   startup (SSLRequest -> TLS, GSSENCRequest -> 'N', CancelRequest -> cancel.cpp)
//   -> authenticate (client_auth.cpp) -> greet (ParameterStatus of the pool's server + our own
//   BackendKeyData) -> client loop.
//   The client loop reads the client and forwards whole buffers to the attached server; a second
//   coroutine (the pump) relays server bytes to the client while a server is attached and decides
//   when to release it. Both run on the session's executor, so shared state needs no lock.
//
// Transaction pooling (relay seam for issues 4/5)
//   A server is attached at the first client message that needs one (Router::route picks the
//   node; today shard 0's primary). "Sync points" (Query, Sync, FunctionCall) sent are counted;
//   each ReadyForQuery received decrements. The server is released when the count is 0, no
//   message after the last sync point is outstanding (Parse/Bind/... without Sync, Flush) and
//   the last ReadyForQuery said 'I'. Pipelines with several Syncs therefore keep the server.
//   Issue 4 hooks in at attach (replay SET/prepared statements) and at the client frame scanner
//   (Parse/Bind/Close/Query need full bodies; FrameScanner keeps such frames contiguous).
//   Issue 5 hooks in at Router::route, called per transaction with the first statement.
//   Session mode: attached once after authentication, reset with pool.reset_query at the end.
//
// Startup parameters: the pool key includes every startup parameter the client sent except
//   user/database (sorted), so a server connection always runs with exactly the client's
//   application_name, client_encoding, DateStyle, TimeZone, search_path, options. Simple and
//   correct; costs more pools when clients differ. Issue 4 replaces it by tracked SET replay.
//
// Failure semantics
//   server dies: transaction mode -> ErrorResponse 08006 then one ReadyForQuery 'I' per Sync
//   the client is waiting for (or at its next sync point if it was idle in a transaction); the
//   next transaction gets a fresh server. Session mode -> FATAL 08006 and close.
//   client leaves: an attached server that is not idle ('I', nothing pending) is closed, never
//   returned; in session mode an idle one runs reset_query first.
//   checkout timeout -> ErrorResponse 53300 (what PgBouncer users get too: "too many
//   connections"-class), message naming the pool; the client stays connected.
//   over max_client_connections -> FATAL 53300 "sorry, too many clients already".
//   bad frames -> FATAL 08P01 then close.
//
// Cancel (cancel.cpp): every client gets a random pgscale (pid, secret). CancelRequest with a known
//   key opens a new connection to the server that client is using right now and sends the
//   server's own key. Unknown keys are ignored silently, as PostgreSQL does.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace pgscale::proxy {

using Clock = std::chrono::steady_clock;

// Pool mode of a session as the client loop sees it.
enum class AttachMode { per_transaction, per_session };

}  // namespace pgscale::proxy
