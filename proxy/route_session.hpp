#pragma once
// Per-client routing state (issue 5), owned by ClientSession and used only on its executor.
// The rules live in route_policy.hpp; client_route.cpp drives them at the session hooks.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "proxy/prepared.hpp"
#include "proxy/route_resend.hpp"
#include "proxy/route_policy.hpp"
#include "proxy/router.hpp"

namespace pgscale::proxy {

class Pool;

// Bytes kept for a retry elsewhere: a read whose replica dies before answering is re-sent as is.
// Above this, the transaction is not retried. Only a transaction on a replica keeps them.
inline constexpr size_t kMaxResendBytes = 1024 * 1024;
// Frames of one client read classified at attach (bounds the work; later ones go through
// check_route like the frames of a later read).
inline constexpr size_t kMaxFramesSummarised = 256;
// Attempts on other nodes after a replica failed, per transaction.
inline constexpr int kMaxReroutes = 3;

struct SessionRouteState {
  SessionRouting policy;  // SET pgscale.route, default_transaction_read_only, read-your-writes

  // The transaction on the attached server (reset at attach and at its end).
  std::string node;                 // node name of server_
  TargetDecision decision;          // how it was routed
  Target target = Target::primary;  // where it went (a read may fall back to the primary)
  TxnSummary seen;                  // statements classified before/while it ran
  OutstandingTicket ticket;         // counts it on the node (least_outstanding)
  std::string sent;                 // client bytes sent since attach (for a retry), bounded
  bool sent_overflow = false;
  std::vector<std::string> failed;  // nodes that failed this transaction
  int reroutes = 0;
  bool rerouting = false;           // reroute_after_failure is switching servers
  // For a retry of a read that uses shared prepared statements (route_resend.hpp): statements a
  // Bind/Describe sent to the replica named, and replies of it the relay swallowed.
  std::vector<StatementPtr> used;
  int replies_swallowed = 0;

  // Pools this client used, per node, under one config snapshot.
  std::shared_ptr<const config::Config> pools_cfg;
  std::vector<std::pair<std::string, std::shared_ptr<Pool>>> pools;

  // A Bind/Describe of `s` is about to go to a replica (kept only there: a retry may need it).
  void note_statement(const StatementPtr& s) {
    if (target != Target::replica || !s) return;
    for (const auto& u : used) {
      if (u->id == s->id) return;
    }
    if (used.size() < 64) used.push_back(s);
  }
  void end_transaction() {
    ticket.reset();
    sent.clear();
    sent_overflow = false;
    failed.clear();
    reroutes = 0;
    seen = {};
    used.clear();
    replies_swallowed = 0;
  }
};

// The SQL text of every Query and Parse message in `bytes` (whole frontend messages as written
// to a server), in order. A trailing partial message is ignored. `visit` takes the text, or the
// tag ('Q' or 'P') and the text.
template <class Visit>
void for_each_sent_statement(std::string_view bytes, Visit&& visit) {
  size_t pos = 0;
  for (int guard = 0; guard < 1000000 && pos + 5 <= bytes.size(); ++guard) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + pos + 1);
    uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    if (len < 4 || bytes.size() - pos - 1 < len) return;
    char tag = bytes[pos];
    std::string_view body = bytes.substr(pos + 5, len - 4);
    std::string_view text;
    bool found = false;
    if (tag == 'Q') {
      text = body.substr(0, body.find('\0'));
      found = true;
    } else if (tag == 'P') {
      size_t name_end = body.find('\0');
      if (name_end != std::string_view::npos) {
        std::string_view rest = body.substr(name_end + 1);
        text = rest.substr(0, rest.find('\0'));
        found = true;
      }
    }
    if (found) {
      if constexpr (std::is_invocable_v<Visit, char, std::string_view>) visit(tag, text);
      else visit(text);
    }
    pos += size_t{len} + 1;
  }
}

}  // namespace pgscale::proxy
