#pragma once
// pgscale proxy core — design sketch (issue 3; leaves seams for issues 4 and 5).
//
// Threads and executors
//   main thread: control io_context — signals (SIGHUP reload, SIGTERM/SIGINT drain), pool
//   maintenance timer, admin HTTP, monitor. N worker threads, one io_context each, each with its
//   own listening socket (SO_REUSEPORT when N > 1; server.cpp): a worker accepts its clients
//   itself, so a client session and its timers live on one thread from accept() on and the
//   session needs no locks of its own.
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
//   Issue 5 hooks in at Router::route, called per transaction with the first statement.
//
// Prepared statements in transaction pooling (issue 4; prepared.hpp, prepared_relay.cpp)
//   A client's named statement maps to one process-wide SharedStatement per (text, parameter
//   types) with the server-side name pgscale_s<id>; each ServerConn keeps an LRU of the ones it
//   has (pool.prepared_statement_cache, evicted ones Closed). The client loop plans every frame:
//   forward as is (the zero-copy path: simple Query, unnamed statements and portals, Execute,
//   Sync...), rewrite (named Parse/Bind/Describe: server name, Close+Parse inserted first when the
//   server lacks it; a streamed Bind is rewritten from its header+names prefix), or answer
//   locally (Close 'S', DEALLOCATE, DEALLOCATE ALL / DISCARD ALL outside a block, a Parse of a
//   statement some server already accepted and a Sync/Flush while no server is attached — so a
//   blocking PQprepare never waits for a pool slot). pgscale's own errors (42P05, 26000) are
//   provoked on the server with a Bind to "pgscale_missing" and swapped for ours, so the server
//   enters PostgreSQL's own error state (abort, skip to Sync). The ResponseTracker (one entry per
//   message sent, prepared_tracker.hpp) tells the pump which reply to drop, where to insert local
//   replies and which error to replace; after an ErrorResponse it skips to Sync like the server
//   and undoes the bookkeeping of skipped messages. The pump copies only when it changes a reply.
//   Client writes are ordered by a ticket taken before the first suspension (client loop and pump
//   both write).
//
// Session state (issue 4; session_state.hpp)
//   prepare_server() replays the client's settings on every server it gets; every Query/Parse text
//   is noted (analyze_effects). At ReadyForQuery 'I', when the transaction may have changed state,
//   the pump holds that ReadyForQuery back, reads the state from the server (inspect query; the
//   client loop waits meanwhile), sends ParameterStatus corrections, then the ReadyForQuery.
//   Pinned clients keep their server (the pump keeps reading: NOTIFY arrives while idle); a server
//   leaving a pinned client gets DISCARD ALL and forgets its statements and settings (closed when
//   that fails).
//   Session mode: attached once after authentication, reset with pool.reset_query at the end.
//
// Startup parameters: the pool key includes every startup parameter the client sent except
//   user/database/application_name (sorted), so a server connection runs with the client's
//   client_encoding, DateStyle, TimeZone, search_path, options; application_name and everything
//   SET later are replayed per transaction (above).
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
enum class AttachMode : uint8_t { per_transaction, per_session };

}  // namespace pgscale::proxy
