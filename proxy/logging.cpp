#include "proxy/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace pgscale {

bool setup_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("pgscale");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  auto lvl = spdlog::level::from_str(std::string(level));
  bool known = !(lvl == spdlog::level::off && level != "off");
  spdlog::set_level(known ? lvl : spdlog::level::info);
  return known;
}

}  // namespace pgscale
