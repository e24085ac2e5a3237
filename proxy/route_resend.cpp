#include "proxy/route_resend.hpp"

#include <algorithm>
#include <cstdint>

namespace pgscale::proxy {

namespace {

constexpr std::string_view kPgscalePrefix = "pgscale_s";

bool replies(char tag) {
  return tag == 'P' || tag == 'B' || tag == 'C' || tag == 'D' || tag == 'E' || tag == 'S' || tag == 'Q' || tag == 'F';
}

std::string_view cstr(std::string_view body, size_t from = 0) {
  if (from > body.size()) return {};
  std::string_view rest = body.substr(from);
  return rest.substr(0, rest.find('\0'));
}

bool has(const std::vector<StatementPtr>& v, const StatementPtr& s) {
  return std::any_of(v.begin(), v.end(), [&](const StatementPtr& x) { return x->id == s->id; });
}

}  // namespace

std::optional<ResendPlan> plan_resend(std::string_view sent, int answered,
                                      const std::function<StatementPtr(std::string_view)>& resolve) {
  ResendPlan plan;
  bool unnamed_parsed = false;
  size_t pos = 0, rest_at = std::string_view::npos;
  // A statement a Bind/Describe needs: parsed earlier in rest, pgscale's error-provoking name, or
  // known (prepared out of band first).
  auto need = [&](std::string_view name) {
    if (name.empty()) return unnamed_parsed;
    if (name == kMissingStatement) return true;
    if (std::find(plan.parsed_names.begin(), plan.parsed_names.end(), name) != plan.parsed_names.end()) return true;
    if (name.substr(0, kPgscalePrefix.size()) != kPgscalePrefix) return false;
    StatementPtr s = resolve(name);
    if (!s) return false;
    if (!has(plan.need_parse, s)) plan.need_parse.push_back(std::move(s));
    return true;
  };
  for (int guard = 0; guard < 1000000 && pos + 5 <= sent.size(); ++guard) {
    const auto* p = reinterpret_cast<const unsigned char*>(sent.data() + pos + 1);
    uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    if (len < 4 || sent.size() - pos - 1 < len) return std::nullopt;
    const char tag = sent[pos];
    std::string_view body = sent.substr(pos + 5, len - 4);
    const size_t next = pos + size_t{len} + 1;
    if (answered > 0) {  // answered by the failed server, reply swallowed: only inserted Close/Parse
      if (!replies(tag)) {
        pos = next;
        continue;
      }
      if (tag != 'C' && tag != 'P') return std::nullopt;
      std::string_view name = tag == 'C' ? cstr(body, 1) : cstr(body);
      if (name.substr(0, kPgscalePrefix.size()) != kPgscalePrefix) return std::nullopt;
      --answered;
      pos = next;
      continue;
    }
    if (rest_at == std::string_view::npos) rest_at = pos;
    if (tag == 'P') {
      std::string_view name = cstr(body);
      if (name.empty()) {
        unnamed_parsed = true;
      } else if (name.substr(0, kPgscalePrefix.size()) == kPgscalePrefix) {
        plan.parsed_names.emplace_back(name);
        if (StatementPtr s = resolve(name)) plan.parsed.push_back(std::move(s));
      } else {
        return std::nullopt;  // a client name: the relay always rewrites them
      }
    } else if (tag == 'B') {
      size_t portal_end = body.find('\0');
      if (portal_end == std::string_view::npos || body.find('\0', portal_end + 1) == std::string_view::npos) {
        return std::nullopt;
      }
      if (!need(cstr(body, portal_end + 1))) return std::nullopt;
    } else if (tag == 'D') {
      if (body.empty()) return std::nullopt;
      if (body[0] == 'S' && !need(cstr(body, 1))) return std::nullopt;
    }
    pos = next;
  }
  if (pos != sent.size() || answered > 0) return std::nullopt;
  plan.rest = rest_at == std::string_view::npos ? std::string_view{} : sent.substr(rest_at);
  return plan;
}

std::string resend_preparation(const ResendPlan& plan) {
  std::string out;
  for (const auto& s : plan.need_parse) append_close_statement(out, s->server_name);
  for (const auto& name : plan.parsed_names) append_close_statement(out, name);
  for (const auto& s : plan.need_parse) out += s->parse_frame;
  out.append("S\0\0\0\4", 5);
  return out;
}

}  // namespace pgscale::proxy
