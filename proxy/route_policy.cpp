#include "proxy/route_policy.hpp"

#include <algorithm>
#include <cctype>

namespace pgscale::proxy {

namespace {

using classifier::Reason;

// Reasons a replica hint (or SET pgscale.route = replica) may override: the statement might well
// be a read. Mirrors the classifier's own notion of "soft".
bool is_soft(Reason r) {
  return r == Reason::volatile_fn || r == Reason::unknown_fn || r == Reason::procedural ||
         r == Reason::execute_prepared;
}

// Reasons that describe a statement without sending it anywhere by themselves.
bool is_neutral(Reason r) {
  return r == Reason::transaction_control || r == Reason::session_state || r == Reason::route_directive;
}

bool truthy(std::string value) {
  std::string v;
  for (char ch : value) {
    if (ch != '\'' && ch != '"' && ch != ' ') v += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return v == "on" || v == "true" || v == "1" || v == "yes" || v == "t" || v == "y";
}

}  // namespace

void TxnSummary::add(const classifier::Classification& c) {
  ++statements;
  for (const auto& f : c.unknown_functions) unknown_functions.push_back(f);
  bool begin_unspecified = false, begin_rw = false;
  for (const auto& t : c.txn) {
    bool starts = t.kind == classifier::TxnEffectKind::begin || t.kind == classifier::TxnEffectKind::set_transaction;
    if (starts && t.read_only == true) read_only_begin = true;
    if (starts && t.read_only == false) begin_rw = true;
    if (t.kind == classifier::TxnEffectKind::begin && !t.read_only) begin_unspecified = true;
  }
  // State that cannot move between servers pins the client to this one: make it the primary, so a
  // pinned client can still write (SQL PREPARE, WITH HOLD cursors, ... of a read).
  bool pins = false;
  for (const auto& e : c.session) pins = pins || classifier::pins_session(e);
  if (pins) {
    primary = hard_primary = true;
    return;
  }
  if (c.route != classifier::RouteClass::primary) return;
  primary = true;
  bool soft = false, hard = begin_rw;
  for (unsigned i = 0; i < static_cast<unsigned>(Reason::count_); ++i) {
    auto r = static_cast<Reason>(i);
    if (!c.reasons.has(r)) continue;
    if (is_soft(r)) soft = true;
    else if (r == Reason::hint) hard = hard || c.hint == classifier::Hint::primary;
    else if (!is_neutral(r)) hard = true;
  }
  if (!soft && !hard && !begin_unspecified) hard = true;  // primary for a reason we cannot see
  if (hard) hard_primary = true;
  else if (soft) soft_primary = true;
  else rw_begin = true;
}

void SessionRouting::note(const classifier::Classification& c) {
  if (c.route_directive) {
    directive = *c.route_directive == classifier::RouteDirective::auto_
                    ? std::nullopt
                    : std::optional<classifier::RouteDirective>(*c.route_directive);
  }
  using K = classifier::SessionEffectKind;
  for (const auto& e : c.session) {
    if (e.local) continue;
    if ((e.kind == K::set || e.kind == K::reset) && e.name == "default_transaction_read_only") {
      default_read_only = e.kind == K::set && truthy(e.value);
    } else if (e.kind == K::reset_all || e.kind == K::discard_all) {
      default_read_only = false;
    }
  }
}

TargetDecision decide_target(const TxnSummary& txn, const SessionRouting& session, const config::Config& cfg) {
  using D = classifier::RouteDirective;
  if (cfg.pool.mode == config::PoolMode::session) return {Target::primary, false, "session pool mode"};
  if (!cfg.routing.read_write_split) return {Target::primary, false, "read_write_split off"};
  if (session.directive == D::primary) return {Target::primary, false, "SET pgscale.route = primary"};
  if (txn.unknown || txn.statements == 0) return {Target::primary, false, "statement unknown"};
  if (txn.hard_primary) return {Target::primary, false, "write"};
  const bool block = txn.read_only_begin || txn.rw_begin;
  if (session.directive == D::replica) return {Target::replica, block, "SET pgscale.route = replica"};
  if (txn.soft_primary) return {Target::primary, false, "volatile or unknown function"};
  if (txn.read_only_begin) return {Target::replica, true, "read only transaction"};
  if (txn.rw_begin) {
    if (session.default_read_only) return {Target::replica, true, "default_transaction_read_only"};
    return {Target::primary, false, "transaction block"};
  }
  return {Target::replica, false, "read"};
}

bool must_leave_server(const TxnSummary& next, const AttachedTxn& at, const SessionRouting& session,
                       const config::Config& cfg) {
  if (at.target != Target::replica || at.read_only_block || at.in_block || at.unsynced || at.pinned) return false;
  if (next.statements == 0 && !next.unknown) return false;  // nothing the classifier saw
  return decide_target(next, session, cfg).target == Target::primary;
}

bool resolve_ryw(RywState& ryw, const Topology& topo, size_t shard) {
  if (!ryw.committed_at) return false;
  const NodeState* p = topo.primary(shard);
  if (p == nullptr || !p->observed_at || !p->current_lsn || *p->observed_at < *ryw.committed_at) return false;
  // The position was read by a check sent after the commit was acknowledged: it covers the commit.
  if (!ryw.lsn || *ryw.lsn < *p->current_lsn) ryw.lsn = *p->current_lsn;
  ryw.committed_at.reset();
  return true;
}

const config::NodeConfig* configured_primary(const config::Config& cfg, size_t shard) {
  if (shard >= cfg.shards.size() || cfg.shards[shard].nodes.empty()) return nullptr;
  for (const auto& n : cfg.shards[shard].nodes) {
    if (n.role == config::NodeRole::primary) return &n;
  }
  return &cfg.shards[shard].nodes[0];
}

namespace {

bool excluded(const SelectInput& in, const std::string& name) {
  return in.exclude && std::find(in.exclude->begin(), in.exclude->end(), name) != in.exclude->end();
}

// The node observed as writable; before the monitor has seen one (start-up, outage), the YAML's
// primary — unless the monitor saw that node in recovery: writes never go to a standby.
Choice choose_primary(const SelectInput& in, const char* why) {
  Choice c;
  c.target = Target::primary;
  c.why = why;
  if (const NodeState* p = in.topo.primary(0); p && !excluded(in, p->config.name)) {
    c.node = &p->config;
    return c;
  }
  const config::NodeConfig* yaml = configured_primary(in.cfg);
  if (yaml == nullptr) {
    c.error = "no server node configured";
    return c;
  }
  const NodeState* seen = in.topo.find(yaml->name);
  if (seen && (seen->observed_role == ObservedRole::in_recovery || seen->fenced)) {
    c.error = "no writable primary: " + yaml->name + (seen->fenced ? " is fenced" : " is in recovery");
    return c;
  }
  c.node = yaml;
  return c;
}

const NodeState* pick_replica(const SelectInput& in, const std::vector<const NodeState*>& cands) {
  const size_t n = cands.size();
  switch (in.cfg.routing.replica_selection) {
    case config::ReplicaSelection::round_robin: return cands[in.ticket % n];
    case config::ReplicaSelection::weighted_random: {
      uint64_t total = 0;
      for (const auto* c : cands) total += c->config.weight;
      if (total == 0) return cands[in.ticket % n];
      double x = std::clamp(in.random01, 0.0, 1.0) * static_cast<double>(total);
      for (const auto* c : cands) {
        if (x < static_cast<double>(c->config.weight)) return c;
        x -= static_cast<double>(c->config.weight);
      }
      return cands.back();
    }
    case config::ReplicaSelection::least_outstanding: break;
  }
  // Least outstanding; ties rotate with the ticket so equal replicas share the load.
  const NodeState* best = nullptr;
  int64_t best_load = 0;
  for (size_t i = 0; i < n; ++i) {
    const NodeState* c = cands[(in.ticket + i) % n];
    int64_t load = in.outstanding ? in.outstanding(c->config.name) : 0;
    if (best == nullptr || load < best_load) {
      best = c;
      best_load = load;
    }
  }
  return best;
}

}  // namespace

Choice select_node(const SelectInput& in) {
  if (in.decision.target == Target::primary) return choose_primary(in, "primary");
  const RywState* ryw = in.cfg.routing.read_your_writes ? in.ryw : nullptr;
  if (ryw && ryw->committed_at) return choose_primary(in, "read-your-writes: commit not yet observed");
  std::vector<const NodeState*> cands;
  for (const NodeState* n : in.topo.eligible_replicas(0, in.cfg.routing.max_replica_lag)) {
    if (excluded(in, n->config.name)) continue;
    if (ryw && ryw->lsn && !Topology::replica_replayed_past(*n, *ryw->lsn)) continue;
    cands.push_back(n);
  }
  if (cands.empty()) {
    if (ryw && ryw->lsn) return choose_primary(in, "read-your-writes: no replica has replayed the write");
    if (in.cfg.routing.no_replica == config::NoReplicaPolicy::error) {
      Choice c;
      c.target = Target::replica;
      c.why = "no replica";
      c.error = "no replica is up and within routing.max_replica_lag (routing.no_replica: error)";
      return c;
    }
    return choose_primary(in, "no replica qualifies");
  }
  Choice c;
  c.target = Target::replica;
  c.node = &pick_replica(in, cands)->config;
  c.why = "replica";
  return c;
}

}  // namespace pgscale::proxy
