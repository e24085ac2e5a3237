#pragma once
#include <string_view>

namespace pgscale {

// Configures the default spdlog logger (stderr, "[time] [level] message"); unknown levels fall back
// to info and return false.
bool setup_logging(std::string_view level);

}  // namespace pgscale
