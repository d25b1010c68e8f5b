// Node identity: an Ed25519 key pair (libsodium). A node *is* its public
// key (NodeId). The same key, converted, is its CurveZMQ key pair, so every
// connection is authenticated as the node that signs its records.
//
// Key files hold the secret key and are created with mode 0600; load()
// refuses a file that group or others can read. Secrets are never logged:
// no method here returns the secret key as text.
//
// Thread-safety: an Identity is immutable after construction; const methods
// may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "protocol/ids.h"
#include "protocol/status.h"

namespace polder {

using Signature = std::array<std::uint8_t, 64>;

// X25519 keys for CurveZMQ, raw 32 bytes each (node/ Z85-encodes them).
struct CurveKeyPair {
  std::array<std::uint8_t, 32> public_key{};
  std::array<std::uint8_t, 32> secret_key{};
};

class Identity {
 public:
  // A fresh random key pair.
  static Identity generate();
  // Deterministic key pair from a 32-byte seed (tests and the simulator).
  static Identity from_seed(std::span<const std::uint8_t, 32> seed);
  // Reads a key file written by save(). Refuses group/other-readable files.
  static Result<Identity> load(const std::string& path);

  // Writes the key file with mode 0600. Refuses to overwrite an existing file.
  Status save(const std::string& path) const;

  const NodeId& id() const { return id_; }
  Signature sign(std::span<const std::uint8_t> message) const;
  CurveKeyPair curve() const;

 private:
  Identity() = default;
  NodeId id_;
  std::array<std::uint8_t, 64> secret_key_{};  // libsodium layout: seed || public key
};

// True when `signature` is `signer`'s Ed25519 signature of `message`.
bool verify_signature(const NodeId& signer, std::span<const std::uint8_t> message, const Signature& signature);

// The CurveZMQ public key of a node, derived from its Ed25519 public key.
// Fails for bytes that are not a valid Ed25519 point.
Result<std::array<std::uint8_t, 32>> curve_public_key(const NodeId& node);

// Initialises libsodium once; safe to call from any thread, any number of times.
void ensure_sodium();

}  // namespace polder
