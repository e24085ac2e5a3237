#include "proxy/reactor_readiness.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/version.hpp>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && \
    !defined(BOOST_ASIO_HAS_IOCP) && !defined(BOOST_ASIO_DISABLE_EPOLL)
#define PGSCALE_REACTOR_READINESS 1
#include <boost/asio/detail/conditionally_enabled_mutex.hpp>
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/reactive_socket_service.hpp>
#endif

namespace pgscale::proxy::reactor_readiness {

namespace asio = boost::asio;
using Socket = asio::generic::stream_protocol::socket;
using Protocol = asio::generic::stream_protocol;

#ifdef PGSCALE_REACTOR_READINESS
namespace {

// Names a private member without naming it in code that is access-checked: explicit template
// instantiation is exempt from access checks ([temp.spec.general]), and the friend function it
// defines hands the member pointer out. No object layout is assumed: the compiler resolves it.
template <class Tag, typename Tag::type Member>
struct Expose {
  friend typename Tag::type member_of(Tag) { return Member; }
};

using BasicSocket = asio::basic_socket<Protocol, asio::any_io_executor>;
using SocketImpl = asio::detail::io_object_impl<asio::detail::reactive_socket_service<Protocol>, asio::any_io_executor>;
using Reactor = asio::detail::epoll_reactor;
using ReactorMutex = asio::detail::conditionally_enabled_mutex;  // epoll_reactor::mutex (a private name)
using DescriptorState = std::remove_pointer_t<Reactor::per_descriptor_data>;

struct SocketImplTag {
  using type = SocketImpl BasicSocket::*;
  friend type member_of(SocketImplTag);
};
struct SpeculativeTag {
  using type = bool (DescriptorState::*)[Reactor::max_ops];
  friend type member_of(SpeculativeTag);
};
struct MutexTag {
  using type = ReactorMutex DescriptorState::*;
  friend type member_of(MutexTag);
};

template struct Expose<SocketImplTag, &BasicSocket::impl_>;
template struct Expose<SpeculativeTag, &DescriptorState::try_speculative_>;
template struct Expose<MutexTag, &DescriptorState::mutex_>;

DescriptorState* state_of(Socket& s) noexcept {
  BasicSocket& base = s;
  return (base.*member_of(SocketImplTag{})).get_implementation().reactor_data_;
}

}  // namespace

bool supported() noexcept { return true; }

bool owned_by_this_thread(Socket& s) noexcept {
  const auto* ex = s.get_executor().target<asio::io_context::executor_type>();
  return ex != nullptr && ex->running_in_this_thread();
}

bool maybe_readable_here(Socket& s) noexcept {
  DescriptorState* st = state_of(s);
  return st == nullptr || (st->*member_of(SpeculativeTag{}))[Reactor::read_op];
}

void mark_drained_here(Socket& s) noexcept {
  if (DescriptorState* st = state_of(s)) (st->*member_of(SpeculativeTag{}))[Reactor::read_op] = false;
}

bool maybe_readable(Socket& s) noexcept {
  if (owned_by_this_thread(s)) return maybe_readable_here(s);
  DescriptorState* st = state_of(s);
  if (st == nullptr) return true;
  ReactorMutex::scoped_lock lock(st->*member_of(MutexTag{}));
  return (st->*member_of(SpeculativeTag{}))[Reactor::read_op];
}

#else

bool supported() noexcept { return false; }
bool maybe_readable(Socket&) noexcept { return true; }
bool owned_by_this_thread(Socket&) noexcept { return false; }
bool maybe_readable_here(Socket&) noexcept { return true; }
void mark_drained_here(Socket&) noexcept {}

#endif

}  // namespace pgscale::proxy::reactor_readiness
