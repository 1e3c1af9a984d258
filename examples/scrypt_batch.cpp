// scrypt_batch: scrypt (RFC 7914) of many passwords, one per input line, farmed out to the ranks
// of an MPI job through a rankpool::comm_executor. Prints one lowercase hex digest per line, in
// input order, identical to Python's hashlib.scrypt(password, salt=..., n=..., r=..., p=...,
// dklen=...).hex().
//
//     mpirun -n 4 scrypt_batch -n 16384 -r 8 -p 1 --salt NaCl passwords.txt > digests.txt
//
//     mpirun -n 4 scrypt_batch -n 16384 -r 8 -p 1 --salt NaCl passwords.txt -o digests.txt
//
// Exit status: 0 success; 1 a hash failed or the output could not be written; 2 bad usage, bad
// parameters, an unreadable input file or an output file (-o) that cannot be created.

#include <openssl/err.h>
#include <openssl/evp.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <ranges>
#include <rankpool/rankpool.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "atomic_file.hpp"
#include "command_line.hpp"

namespace scrypt_batch {

/// The cost and output parameters shared by every password of a run. Trivially copyable, so
/// rankpool sends it as raw bytes.
struct params {
  std::uint64_t n = 16384;
  std::uint64_t r = 8;
  std::uint64_t p = 1;
  std::uint64_t dklen = 64;
  /// The limit handed to OpenSSL. Never 0 once validated: OpenSSL reads 0 as its own 32 MiB.
  std::uint64_t maxmem = 0;
};

/// One task: everything a worker needs to hash one password.
struct job {
  params prm;
  std::string salt;
  std::string password;

  template <class Archive>
  void serialize(Archive& ar, const unsigned int /*version*/) {
    ar& prm& salt& password;
  }
};

/// Used when --maxmem is 0 or absent. Python's hashlib keeps OpenSSL's 32 MiB default, which
/// already refuses n=32768 with r=8; the point of farming scrypt out is heavier parameters, so
/// allow what a worker can normally afford and make anything beyond an explicit choice.
inline constexpr std::uint64_t default_maxmem = std::uint64_t{1} << 31;  // 2 GiB

/// A digest line of 2 MiB of hex is already far past any use of scrypt; Python allows up to 2^31-1.
inline constexpr std::uint64_t max_dklen = std::uint64_t{1} << 20;

/// OpenSSL reports scrypt's limit on r*p as SCRYPT_PR_MAX = 2^30 - 1.
inline constexpr std::uint64_t pr_limit = std::uint64_t{1} << 30;

constexpr std::string_view usage_text =
    R"(usage: scrypt_batch [options] [FILE]

Hashes every line of FILE (or of standard input when FILE is absent or "-") with scrypt
(RFC 7914, OpenSSL's EVP_PBE_scrypt) and prints one lowercase hex digest per line, in input
order, to standard output or to the file given with -o. The output equals Python's
    hashlib.scrypt(line, salt=SALT, n=N, r=R, p=P, dklen=L).hex()
A line's trailing "\n" and then one trailing "\r" are removed; an empty line is the empty
password; a last line without "\n" counts.

Run it under MPI to spread the work: rank 0 reads and prints, the other ranks hash.
    mpirun -n 8 scrypt_batch -n 16384 --salt NaCl passwords.txt
Alone (one rank) it hashes on local threads. RANKPOOL_MAX_WORKERS=K limits the workers (on one
rank, the threads); every concurrent hash holds its own scrypt memory.

options:
  -n N             CPU/memory cost, a power of two > 1 and < 2^(16*R) (default 16384)
  -r R             block size (default 8)
  -p P             parallelization (default 1); R*P must be below 2^30
  --salt STRING    the salt, as the bytes of STRING (default: empty)
  --salt-hex HEX   the salt, as hex digits (an even number of them; empty allowed)
  --dklen L        digest length in bytes, 1 to 1048576 (default 64, as hashlib.scrypt)
  --maxmem BYTES   refuse parameters that need more than BYTES of memory per hash, which is
                   128*R*(N+P+2). 0 or absent: up to 2 GiB (2147483648). Python's hashlib
                   defaults to OpenSSL's 32 MiB; pass --maxmem 33554432 for the same limit.
  --chunksize C    passwords per task sent to a worker (default 1)
  -o, --output FILE
                   write the digests to FILE instead of standard output. FILE is created
                   first, as a hidden temporary file in its folder, so that a path that
                   cannot be written fails at once (exit status 2) before anything is
                   hashed; it replaces FILE only once every digest is in it. When a hash
                   fails, the digests of the lines before it are kept in FILE.partial
                   (named in the error message; no file when the first line fails).
  --progress       progress bar on stderr even when it is not a terminal (plain lines
                   every RANKPOOL_PROGRESS_INTERVAL seconds, default 10)
  --no-progress    no progress bar (default: shown when stderr is a terminal, or as
                   RANKPOOL_PROGRESS=1/0 says)
  -h, --help       this text

Long options also take "--option=VALUE"; short ones "-nVALUE" and "-n=VALUE". "--" ends the options.
Exit status: 0 success, 1 a hash failed or output could not be written, 2 bad usage,
bad parameters, unreadable input or an output file that cannot be created.
)";

/// Bad usage, bad parameters or unreadable input: reported with exit status 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct options {
  params prm;
  std::string salt;
  std::size_t chunksize = 1;
  std::optional<bool> progress;       // --progress / --no-progress; unset: map_options' default
  std::optional<std::string> input;   // absent: standard input
  std::optional<std::string> output;  // -o; absent: the `out` stream given to run()
  bool help = false;
};

inline std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? std::string("no error reported by OpenSSL") : text;
}

inline std::string to_hex(const std::vector<unsigned char>& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex(2 * bytes.size(), '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = digits[bytes[i] >> 4];
    hex[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  return hex;
}

/// The task: scrypt of one password, as lowercase hex. Throws std::runtime_error with OpenSSL's
/// error text when EVP_PBE_scrypt fails.
inline std::string hash_one(const job& j) {
  // OpenSSL's PBKDF2 step takes the password length as an int.
  if (j.password.size() > static_cast<std::size_t>(INT_MAX))
    throw std::length_error("password longer than " + std::to_string(INT_MAX) + " bytes");
  std::vector<unsigned char> key(j.prm.dklen);
  ERR_clear_error();  // so the message below names this call's failure only
  if (EVP_PBE_scrypt(j.password.data(), j.password.size(), reinterpret_cast<const unsigned char*>(j.salt.data()),
                     j.salt.size(), j.prm.n, j.prm.r, j.prm.p, j.prm.maxmem, key.data(), key.size()) != 1)
    throw std::runtime_error("EVP_PBE_scrypt failed: " + openssl_errors());
  return to_hex(key);
}

inline std::uint64_t parse_u64(std::string_view option, std::string_view text) {
  if (text.empty()) throw usage_error("option " + std::string(option) + " needs a number");
  const command_line::decimal d = command_line::read_decimal(text);
  if (d.error == command_line::decimal::status::not_digits)
    throw usage_error("option " + std::string(option) + ": '" + std::string(text) + "' is not a non-negative integer");
  if (d.error == command_line::decimal::status::too_large)
    throw usage_error("option " + std::string(option) + ": " + std::string(text) + " is too large");
  return d.value;
}

inline std::string parse_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) throw usage_error("--salt-hex: odd number of hex digits in '" + std::string(hex) + "'");
  auto nibble = [&](std::size_t i) -> unsigned {
    const char c = hex[i];
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
    throw usage_error("--salt-hex: '" + std::string(hex) + "' is not hex (bad digit at position " +
                      std::to_string(i + 1) + ")");
  };
  std::string bytes(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(static_cast<unsigned char>(nibble(2 * i) << 4 | nibble(2 * i + 1)));
  return bytes;
}

inline options parse_args(const std::vector<std::string>& args) {
  options o;
  bool salt_given = false;
  bool salt_hex_given = false;
  // "--name=VALUE", "-nVALUE" and "-n=VALUE" as well as the value in the next word.
  command_line::parser<usage_error> cl(args, {.short_joined = true});
  cl.unknown([](const std::string& word) { return "unknown option '" + word + "' (see --help)"; });
  cl.flag("-h,--help", [&] { o.help = true; });
  cl.flag("--progress", [&] { o.progress = true; });
  cl.flag("--no-progress", [&] { o.progress = false; });
  cl.option("-n", [&](const std::string& name, const std::string& v) { o.prm.n = parse_u64(name, v); });
  cl.option("-r", [&](const std::string& name, const std::string& v) { o.prm.r = parse_u64(name, v); });
  cl.option("-p", [&](const std::string& name, const std::string& v) { o.prm.p = parse_u64(name, v); });
  cl.option("--salt", [&](const std::string&, const std::string& v) {
    o.salt = v;
    salt_given = true;
  });
  cl.option("--salt-hex", [&](const std::string&, const std::string& v) {
    o.salt = parse_hex(v);
    salt_hex_given = true;
  });
  cl.option("--dklen", [&](const std::string& name, const std::string& v) { o.prm.dklen = parse_u64(name, v); });
  cl.option("--maxmem", [&](const std::string& name, const std::string& v) { o.prm.maxmem = parse_u64(name, v); });
  cl.option("-o,--output", [&](const std::string& name, const std::string& file) {
    if (file.empty()) throw usage_error("option " + name + " needs a file name");
    o.output = file;
  });
  cl.option("--chunksize", [&](const std::string& name, const std::string& v) {
    o.chunksize = static_cast<std::size_t>(parse_u64(name, v));
  });
  cl.operands([&](const std::string& word) {
    if (o.input) throw usage_error("more than one input file ('" + *o.input + "' and '" + word + "')");
    o.input = word;
  });
  cl.parse();
  if (salt_given && salt_hex_given) throw usage_error("give either --salt or --salt-hex, not both");
  return o;
}

/// Checks the parameters as OpenSSL would, so that a bad value is a clear message and exit
/// status 2 up front rather than the same failure on every task; sets prm.maxmem to the limit
/// OpenSSL is to enforce.
inline void validate(options& o) {
  params& q = o.prm;
  const std::string nrp = "n=" + std::to_string(q.n) + ", r=" + std::to_string(q.r) + ", p=" + std::to_string(q.p);
  if (q.n < 2 || (q.n & (q.n - 1)) != 0)
    throw usage_error("-n must be a power of two greater than 1 (got " + std::to_string(q.n) + ")");
  if (q.r == 0) throw usage_error("-r must be at least 1");
  if (q.p == 0) throw usage_error("-p must be at least 1");
  if (q.r >= pr_limit || q.p >= pr_limit || q.r * q.p >= pr_limit)
    throw usage_error("-r times -p must be below 2^30 (got " + nrp + ")");
  if (16 * q.r < 64 && q.n >= (std::uint64_t{1} << (16 * q.r)))
    throw usage_error("-n must be below 2^(16*r) = " + std::to_string(std::uint64_t{1} << (16 * q.r)) + " (got " + nrp +
                      ")");
  // OpenSSL runs PBKDF2 with an int output length of 128*r*p bytes.
  if (128 * q.r * q.p > static_cast<std::uint64_t>(INT_MAX))
    throw usage_error("128*r*p must fit in an int (got " + nrp + ")");
  if (q.dklen == 0) throw usage_error("--dklen must be at least 1");
  if (q.dklen > max_dklen)
    throw usage_error("--dklen must be at most " + std::to_string(max_dklen) + " (got " + std::to_string(q.dklen) +
                      ")");
  if (o.chunksize == 0) throw usage_error("--chunksize must be at least 1");

  // OpenSSL needs 128*r*(n+2) bytes for V, X and T plus 128*r*p for B.
  std::uint64_t v = 0;
  std::uint64_t need = 0;
  const bool overflow =
      __builtin_mul_overflow(128 * q.r, q.n + 2, &v) || __builtin_add_overflow(v, 128 * q.r * q.p, &need);
  const std::uint64_t limit = q.maxmem != 0 ? q.maxmem : default_maxmem;
  if (overflow || need > limit) {
    const std::string needs = overflow ? "more than 2^64 bytes" : std::to_string(need) + " bytes";
    if (q.maxmem != 0)
      throw usage_error("scrypt with " + nrp + " needs " + needs + " of memory per hash, above --maxmem " +
                        std::to_string(q.maxmem));
    throw usage_error("scrypt with " + nrp + " needs " + needs + " of memory per hash, above the default maxmem of " +
                      std::to_string(default_maxmem) + " bytes (2 GiB); pass --maxmem BYTES to allow more");
  }
  q.maxmem = limit;
}

/// Splits `in` into passwords: one per line, trailing "\n" then one trailing "\r" removed, a
/// last line without "\n" kept. `name` names the input in error messages.
inline std::vector<std::string> read_lines(std::istream& in, const std::string& name) {
  std::vector<std::string> lines;
  std::string line;
  errno = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    line.clear();
  }
  if (in.bad()) {
    const int e = errno;
    throw usage_error("cannot read " + name + (e != 0 ? std::string(": ") + std::strerror(e) : std::string()));
  }
  return lines;
}

inline std::vector<std::string> read_passwords(const std::optional<std::string>& path, std::istream& std_in) {
  if (!path || *path == "-") return read_lines(std_in, "standard input");
  errno = 0;
  std::ifstream file(*path, std::ios::binary);
  if (!file) {
    const int e = errno;
    throw usage_error("cannot open input file '" + *path + "'" + (e != 0 ? std::string(": ") + std::strerror(e) : ""));
  }
  return read_lines(file, "input file '" + *path + "'");
}

/// Where a task's exception came from, when it crossed from a worker.
inline std::string origin(const std::exception& e) {
  if (const auto* ctx = rankpool::remote_context_of(e))
    return " [worker rank " + std::to_string(ctx->rank()) + " on " + ctx->host() + "]";
  return "";
}

/// After a failed hash with -o: keeps the `done` digests already written in "<FILE>.partial" and
/// returns the end of the error message that says so (the temporary file goes otherwise).
inline std::string keep_partial(atomic_file::atomic_output& file, std::size_t done) {
  const std::string dest = file.destination().string();
  if (done == 0) return "; nothing was written to " + dest;
  const std::string partial = dest + ".partial";
  try {
    file.commit_as(partial);
  } catch (const atomic_file::error& e) {
    return "; the digests before it could not be kept: " + std::string(e.what());
  }
  return "; the digests of lines 1 to " + std::to_string(done) + " are in " + partial + " (" + dest +
         " was not written)";
}

/// The whole program over any rankpool executor: parses `args` (without the program name),
/// hashes every password on `pool`, prints the digests to `out` (or, with -o, to that file),
/// reports problems on `err`, and returns the exit status. `hash` is the task; a test passes one
/// that fails on a chosen line, which the real parameters cannot do (they are the same for all).
template <class Executor>
int run(Executor& pool, const std::vector<std::string>& args, std::istream& std_in, std::ostream& out,
        std::ostream& err, std::string (*hash)(const job&) = hash_one) {
  options o;
  std::vector<std::string> passwords;
  std::optional<atomic_file::atomic_output> file;
  try {
    o = parse_args(args);
    if (o.help) {
      out << usage_text << std::flush;
      return out ? 0 : 1;
    }
    validate(o);
    // Created before anything is hashed: a run must not do all its work and then find that it
    // cannot write the result.
    if (o.output) {
      try {
        file.emplace(*o.output);
      } catch (const atomic_file::error& e) {
        throw usage_error(e.what());
      }
    }
    passwords = read_passwords(o.input, std_in);
  } catch (const usage_error& e) {
    err << "scrypt_batch: " << e.what() << std::endl;
    return 2;
  }

  // Built lazily as map consumes them, so the passwords are not held twice.
  auto jobs = passwords | std::views::transform([&o](std::string& pw) { return job{o.prm, o.salt, std::move(pw)}; });
  std::size_t line = 0;
  try {
    for (const std::string& hex : pool.map(hash, jobs, {.chunksize = o.chunksize, .progress = o.progress})) {
      ++line;
      if (file) {
        std::fwrite(hex.data(), 1, hex.size(), file->file());
        std::fputc('\n', file->file());  // a failed write shows in commit(), which checks ferror
      } else {
        out << hex << '\n';
      }
    }
  } catch (const std::exception& e) {
    // The digests before the failing line are valid output: flushed to `out`, or kept in a file.
    const std::string kept = file ? keep_partial(*file, line) : "";
    out.flush();
    err << "scrypt_batch: input line " << line + 1 << ": " << e.what() << origin(e) << kept << std::endl;
    return 1;
  }
  if (file) {
    try {
      file->commit();
    } catch (const atomic_file::error& e) {
      err << "scrypt_batch: " << e.what() << std::endl;
      return 1;
    }
    return 0;
  }
  out.flush();
  if (!out) {
    err << "scrypt_batch: error writing the digests to the output" << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace scrypt_batch

// A test may define SCRYPT_BATCH_NO_MAIN, include this file and drive scrypt_batch::run with a
// rankpool::thread_executor, without MPI.
#ifndef SCRYPT_BATCH_NO_MAIN
int main(int argc, char** argv) {
  try {
    rankpool::environment env(argc, argv);
    rankpool::comm_executor pool;
    if (!pool.is_root()) return 0;
    // Parsed on the root only, after the pool exists, so that every rank takes part in the
    // collective start-up whatever the arguments; the workers are released by pool's destructor.
    std::vector<std::string> args(argv + 1, argv + argc);
    std::ios::sync_with_stdio(false);
    return scrypt_batch::run(pool, args, std::cin, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "scrypt_batch: " << e.what() << std::endl;
  } catch (...) {
    std::cerr << "scrypt_batch: unknown exception" << std::endl;
  }
  return 1;
}
#endif
