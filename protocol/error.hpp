#pragma once
// Error category of the protocol codec. protocol/ never throws: decoders return one of these.
#include <cstdint>
#include <string_view>

namespace pgscale::protocol {

enum class Errc : uint8_t {
  ok = 0,
  incomplete,        // need more bytes; not an error of the peer
  malformed,         // the bytes can never form a valid message (08P01 to a client)
  too_long,          // declared length over the per-type maximum
  unsupported,       // e.g. a protocol version pgscale does not speak, channel binding required
  auth_failed,       // SCRAM/MD5 verification failed
  invalid_state,     // a state machine (SCRAM) was driven out of order
  key_mismatch,      // SCRAM pass-through: server's salt/iterations differ from our verifier's
  crypto_failure,    // OpenSSL returned an error (out of memory, RNG failure)
};

std::string_view errc_name(Errc e) noexcept;

}  // namespace pgscale::protocol
