#include "executors/options.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <rankpool/errors.hpp>
#include <string>

namespace rankpool::detail {

std::optional<std::size_t> option_size(const char* name, std::optional<std::size_t> explicit_value) {
  if (explicit_value) return explicit_value;
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  std::string s(v);
  if (!std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }) || s.size() > 18)
    throw error(std::string("rankpool: environment variable ") + name + "=" + s + " is not a non-negative integer");
  return static_cast<std::size_t>(std::stoull(s));
}

std::optional<std::string> option_string(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::optional<bool> option_bool(const char* name, std::optional<bool> explicit_value) {
  if (explicit_value) return explicit_value;
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  throw error(std::string("rankpool: environment variable ") + name + "=" + v + " is not a boolean (use 1 or 0)");
}

}  // namespace rankpool::detail
