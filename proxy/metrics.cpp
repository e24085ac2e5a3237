#include "proxy/metrics.hpp"

#include <cmath>

#include <fmt/format.h>

namespace pgscale::proxy {

void MetricsWriter::family(std::string_view name, Type type, std::string_view help) {
  name_.assign(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  // HELP text escapes only backslash and newline.
  for (char c : help) {
    if (c == '\\') out_ += "\\\\";
    else if (c == '\n') out_ += "\\n";
    else out_ += c;
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += type == Type::counter ? " counter\n" : " gauge\n";
}

void MetricsWriter::sample(std::initializer_list<Label> labels, double value) {
  out_ += name_;
  if (labels.size() > 0) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      append_escaped(out_, v);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  append_value(out_, value);
  out_ += '\n';
}

void MetricsWriter::append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

void MetricsWriter::append_value(std::string& out, double value) {
  if (std::isnan(value)) out += "NaN";
  else if (std::isinf(value)) out += value > 0 ? "+Inf" : "-Inf";
  else if (value == std::floor(value) && std::fabs(value) < 1e15) fmt::format_to(std::back_inserter(out), "{}", static_cast<int64_t>(value));
  else fmt::format_to(std::back_inserter(out), "{}", value);
}

}  // namespace pgscale::proxy
