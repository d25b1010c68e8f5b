#include "protocol/identity.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace polder {
namespace {

constexpr std::string_view kKeyFileHeader = "polder-ed25519-secret-v1\n";
constexpr std::size_t kKeyFileMaxBytes = 4096;

std::string errno_text() { return std::strerror(errno); }

// Closes a file descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { if (fd_ >= 0) ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
 private:
  int fd_;
};

}  // namespace

void ensure_sodium() {
  static const int kInit = sodium_init();
  if (kInit < 0) {
    // libsodium cannot work at all on this machine: nothing secure can run.
    std::abort();
  }
}

Identity Identity::generate() {
  ensure_sodium();
  std::array<std::uint8_t, 32> seed;
  randombytes_buf(seed.data(), seed.size());
  Identity id = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return id;
}

Identity Identity::from_seed(std::span<const std::uint8_t, 32> seed) {
  ensure_sodium();
  Identity id;
  NodeId::Bytes pk;
  crypto_sign_seed_keypair(pk.data(), id.secret_key_.data(), seed.data());
  id.id_ = NodeId(pk);
  return id;
}

Result<Identity> Identity::load(const std::string& path) {
  ensure_sodium();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return not_found("cannot open key file " + path + ": " + errno_text());
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return unavailable("cannot stat key file " + path + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) return invalid_argument("key file " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return permission_denied("key file " + path + " has mode " + mode +
                             " and is readable by others; refusing to use it (run: chmod 600 " + path + ")");
  }
  if (st.st_size > static_cast<off_t>(kKeyFileMaxBytes)) return invalid_argument("key file " + path + " is too large");
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  ssize_t n = ::read(fd, text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size())) return unavailable("cannot read key file " + path);

  if (text.rfind(kKeyFileHeader, 0) != 0) return invalid_argument("key file " + path + " has no polder key header");
  std::string_view hex(text);
  hex.remove_prefix(kKeyFileHeader.size());
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.remove_suffix(1);
  auto seed = hex_to_32(hex);
  if (!seed) return invalid_argument("key file " + path + " is corrupt: " + seed.status().message());
  Identity id = from_seed(*seed);
  sodium_memzero(seed->data(), seed->size());
  return id;
}

Status Identity::save(const std::string& path) const {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status(StatusCode::kAlreadyExists, "key file " + path + " already exists; not overwriting it");
    return permission_denied("cannot create key file " + path + ": " + errno_text());
  }
  FdCloser closer(fd);
  // The umask may have narrowed the mode further, never widened it; make it exact.
  if (::fchmod(fd, 0600) != 0) return permission_denied("cannot chmod key file " + path + ": " + errno_text());
  // Only the 32-byte seed is stored; the public key is derived from it.
  std::string text(kKeyFileHeader);
  text += to_hex(std::span<const std::uint8_t>(secret_key_.data(), 32));
  text += '\n';
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  if (!ok) return unavailable("cannot write key file " + path + ": " + errno_text());
  return Status::ok();
}

Signature Identity::sign(std::span<const std::uint8_t> message) const {
  Signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_key_.data());
  return sig;
}

CurveKeyPair Identity::curve() const {
  CurveKeyPair keys;
  // A key we generated is always a valid point: failure here is our bug.
  int rc = crypto_sign_ed25519_pk_to_curve25519(keys.public_key.data(), id_.bytes().data());
  assert(rc == 0 && "own Ed25519 public key converts to X25519");
  (void)rc;
  crypto_sign_ed25519_sk_to_curve25519(keys.secret_key.data(), secret_key_.data());
  return keys;
}

bool verify_signature(const NodeId& signer, std::span<const std::uint8_t> message, const Signature& signature) {
  ensure_sodium();
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), signer.bytes().data()) == 0;
}

Result<std::array<std::uint8_t, 32>> curve_public_key(const NodeId& node) {
  ensure_sodium();
  std::array<std::uint8_t, 32> out;
  if (crypto_sign_ed25519_pk_to_curve25519(out.data(), node.bytes().data()) != 0) {
    return invalid_argument("key " + node.short_hex() + " is not a valid Ed25519 public key");
  }
  return out;
}

}  // namespace polder
