#pragma once
// Protocol-level prepared statements in transaction pooling (issue 4). Owner: prepared room.
// (Stub committed by the lead to fix the names ServerConn uses; filled in by the owner.)

namespace pgscale::proxy {

// The statements one server connection has prepared under pgscale's names (per-server LRU).
class ServerStatements {};

}  // namespace pgscale::proxy
