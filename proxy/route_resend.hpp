#pragma once
// Re-sending a read to another server after its replica failed before any byte of the answer
// reached the client (issue 5 point 7), with the prepared-statement relay in the picture. No Asio.
//
// The bytes sent since attach (SessionRouteState::sent) are what the relay wrote: client frames,
// with named statements rewritten to pgscale's shared names (pgscale_s<id>) and, where the failed
// server lacked one, a Close + Parse of it inserted before its Bind. The failed server may have
// answered some of those inserted messages already (their replies are swallowed, so the client
// saw nothing): the ResponseTracker no longer expects them, so they must not be sent again.
// What is left is re-sent as is, once the new server holds every statement a Bind/Describe of it
// names (prepared out of band first: Close + Parse + Sync, its replies read by pgscale).
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/prepared.hpp"

namespace pgscale::proxy {

struct ResendPlan {
  std::string_view rest;                  // the suffix of `sent` to send again
  std::vector<StatementPtr> need_parse;   // named by a Bind/Describe of rest, not parsed in it
  std::vector<std::string> parsed_names;  // pgscale names a Parse of rest creates
  std::vector<StatementPtr> parsed;       // ... those of them `resolve` knew
};

// nullopt = the bytes cannot be re-sent (a frame pgscale cannot account for, an answered message
// that was not an inserted Close/Parse, a Bind of a statement neither parsed in them nor known, a
// cut frame). `answered` = replies the failed server gave that the relay swallowed. `resolve` maps
// a pgscale statement name to its statement (nullptr = unknown).
std::optional<ResendPlan> plan_resend(std::string_view sent, int answered,
                                      const std::function<StatementPtr(std::string_view)>& resolve);

// Close of every statement the plan touches (the new server may hold an older copy, or none),
// Parse of need_parse, then Sync: one round trip that leaves the server ready for plan.rest.
std::string resend_preparation(const ResendPlan& plan);

}  // namespace pgscale::proxy
