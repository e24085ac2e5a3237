#include "protocol/error.hpp"

namespace pgscale::protocol {

std::string_view errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::incomplete: return "incomplete";
    case Errc::malformed: return "malformed";
    case Errc::too_long: return "too_long";
    case Errc::unsupported: return "unsupported";
    case Errc::auth_failed: return "auth_failed";
    case Errc::invalid_state: return "invalid_state";
    case Errc::key_mismatch: return "key_mismatch";
    case Errc::crypto_failure: return "crypto_failure";
  }
  return "unknown";
}

}  // namespace pgscale::protocol
