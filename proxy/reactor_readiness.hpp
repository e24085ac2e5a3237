#pragma once
// What Asio's epoll reactor knows about a socket's readability, so that the hot path can skip
// system calls whose answer is already known.
//
// Asio registers every socket once, edge-triggered, and keeps per socket a flag "an event came
// since the last read that found the socket empty" (try_speculative_). While it is set, a new
// read first tries recv() at once; Asio clears it only at EOF. A proxy's reads are nearly always
// short (a query, an answer) and the next read on that socket finds it empty: one recv() per
// message that fails with EAGAIN. A short read of a stream socket (TCP or unix-domain), however,
// does drain the receive queue, and any byte that arrives later raises a new edge, which sets the
// flag again. So after a short read the flag may be cleared (mark_drained_here), as nginx does
// with its own edge-triggered epoll; then
//   - the next read is queued without a recv() (the edge will complete it), and
//   - a pooled server connection whose flag is still clear has had nothing since its last answer
//     (no EOF, no error, no stray message): it needs no poll() before a transaction is sent.
//
// Clearing is only safe when no reactor event can be processed between the short read and the
// clear: the caller must run on the io_context that owns the socket, and must clear right after
// a read it made itself or that completed inline from the reactor (see Stream::read_some).
//
// This reads Asio internals. It is compiled for the one Asio it was checked against (Boost 1.81's
// epoll reactor, Debian 12); anywhere else `supported()` is false and nothing changes.
#include <boost/asio/generic/stream_protocol.hpp>

namespace pgscale::proxy::reactor_readiness {

// The build can see the reactor's flag.
bool supported() noexcept;
// The reactor reported readability, EOF or an error since the socket was last marked drained,
// or the socket has never been marked, or this cannot be told (not supported, closed socket).
// Any thread (takes the reactor's lock for the socket unless the socket is this thread's own).
bool maybe_readable(boost::asio::generic::stream_protocol::socket& s) noexcept;
// The io_context owning `s` is the one running on this thread (the condition for clearing the flag).
bool owned_by_this_thread(boost::asio::generic::stream_protocol::socket& s) noexcept;

// The same for a caller that runs on the socket's own thread (owned_by_this_thread) and is the
// socket's only user at the moment (its session): the reactor only changes the flag from this
// thread then, so no lock is taken.
bool maybe_readable_here(boost::asio::generic::stream_protocol::socket& s) noexcept;
// Records that a read just found the socket's receive queue empty (EAGAIN or a short read).
void mark_drained_here(boost::asio::generic::stream_protocol::socket& s) noexcept;

}  // namespace pgscale::proxy::reactor_readiness
