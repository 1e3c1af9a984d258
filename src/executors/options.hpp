#pragma once
// Internal: executor_options resolved against RANKPOOL_<OPTION> environment variables.

#include <cstddef>
#include <optional>
#include <rankpool/options.hpp>
#include <string>

namespace rankpool::detail {

/// `explicit_value` if set, else the environment variable `name` (a non-negative integer),
/// else nullopt. Throws rankpool::error when the variable is not a number.
std::optional<std::size_t> option_size(const char* name, std::optional<std::size_t> explicit_value);
/// The environment variable `name` when set and not empty.
std::optional<std::string> option_string(const char* name);
/// As option_size for booleans (1/0, true/false, yes/no, on/off).
std::optional<bool> option_bool(const char* name, std::optional<bool> explicit_value);

}  // namespace rankpool::detail
