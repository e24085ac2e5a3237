#pragma once
// Session state of a client in transaction pooling (issue 4): the settings it SET (replayed on
// whichever server serves it next) and what pins it to one server. Owner: session-state room.
// (Stub committed by the lead to fix the names the relay and ServerConn use; filled in by the owner.)
#include <string>
#include <utility>
#include <vector>

namespace pgscale::proxy {

// name -> value as pg_settings.setting shows it, sorted by name.
using Settings = std::vector<std::pair<std::string, std::string>>;

}  // namespace pgscale::proxy
