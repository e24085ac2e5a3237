#pragma once
// Prometheus text exposition format 0.0.4, written by hand (prometheus-cpp is not in Debian 12).
// A family's HELP and TYPE lines come once, before its samples; label values are escaped as the
// format requires (backslash, double quote, newline). No I/O, no Asio: unit-tested on strings.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pgscale::proxy {

class MetricsWriter {
 public:
  using Label = std::pair<std::string_view, std::string_view>;
  enum class Type { counter, gauge };

  // Starts a family: `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*; counters should end in _total.
  void family(std::string_view name, Type type, std::string_view help);
  // One sample of the current family.
  void sample(std::initializer_list<Label> labels, double value);
  void sample(double value) { sample({}, value); }
  const std::string& text() const noexcept { return out_; }
  std::string take() { return std::move(out_); }

  static void append_escaped(std::string& out, std::string_view value);
  static void append_value(std::string& out, double value);

 private:
  std::string out_;
  std::string name_;
};

}  // namespace pgscale::proxy
