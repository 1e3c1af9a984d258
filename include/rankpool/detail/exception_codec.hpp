#pragma once
// Exceptions across ranks (compiled in src/wire/exception_codec.cpp): a worker writes kind,
// type, message, rank and host; the root rebuilds standard exception types as themselves and
// everything else as remote_error.

#include <exception>
#include <rankpool/detail/codec.hpp>

namespace rankpool::detail {

/// Writes status 1 and the exception `e` (kind, type name, message, this worker's rank and host).
void write_exception(writer& out, std::exception_ptr e) noexcept;
/// Reads what write_exception wrote, as the exception the root rethrows.
std::exception_ptr read_exception(reader& in);
/// `e` with `tail` added to its message: an exception from a worker is rebuilt as the same type
/// with the same context, a local one of a standard or rankpool type as that type (with a local
/// remote_context, rank -1); anything else is returned as it is.
std::exception_ptr with_message_suffix(const std::exception_ptr& e, const std::string& tail) noexcept;
/// The error of a result that failed to decode on the root (only that future fails).
std::exception_ptr make_result_decode_error(const std::exception_ptr& cause) noexcept;

}  // namespace rankpool::detail
