#pragma once
// Internal: SHA-256 through OpenSSL's EVP interface, for the executable fingerprint and the
// journal's keys and checksums.

#include <cstddef>
#include <string>

namespace rankpool::detail {

/// An incremental SHA-256 digest.
class sha256 {
 public:
  /// Throws rankpool::error when OpenSSL cannot set up the digest.
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;

  /// Adds `n` bytes at `data`.
  sha256& update(const void* data, std::size_t n);
  /// The 32-byte digest of everything added (call once).
  std::string finish();

  /// The digest of `n` bytes at `data`, in one call.
  static std::string of(const void* data, std::size_t n);

 private:
  void* ctx_;  // EVP_MD_CTX, kept out of this header
};

}  // namespace rankpool::detail
