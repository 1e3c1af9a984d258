// SHA-256 through OpenSSL's EVP interface (see sha256.hpp).

#include "common/sha256.hpp"

#include <openssl/evp.h>

#include <rankpool/errors.hpp>

namespace rankpool::detail {

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
    throw error("rankpool: OpenSSL cannot compute SHA-256");
  }
}

sha256::~sha256() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

sha256& sha256::update(const void* data, std::size_t n) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
  return *this;
}

std::string sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &n);
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string sha256::of(const void* data, std::size_t n) {
  return sha256().update(data, n).finish();
}

}  // namespace rankpool::detail
