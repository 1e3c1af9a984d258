// Exceptions across ranks: a worker writes kind, type, message, rank and host; the root
// rebuilds standard exception types as themselves and everything else as remote_error.

#include <cxxabi.h>
#include <unistd.h>

#include <cstdlib>
#include <iterator>
#include <memory>
#include <new>
#include <rankpool/detail/exception_codec.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/errors.hpp>
#include <stdexcept>
#include <typeinfo>

#include "common/text.hpp"
#include "common/worker_identity.hpp"

namespace rankpool::detail {
namespace {

enum class exception_kind : std::uint8_t {
  other = 0,
  logic_error,
  invalid_argument,
  domain_error,
  length_error,
  out_of_range,
  runtime_error,
  range_error,
  overflow_error,
  underflow_error,
  broken_executor,
  task_crashed,
  timeout_error,
  count
};

// The types of each kind (indexed by exception_kind; `other` has none): as thrown on a worker,
// and as rebuild() makes it on the root.
struct kind_types {
  const std::type_info* thrown;
  const std::type_info* rebuilt;
};
const kind_types& types_of(exception_kind k) {
  static const kind_types table[] = {
      {nullptr, nullptr},  // other
      {&typeid(std::logic_error), &typeid(remote_exception<std::logic_error>)},
      {&typeid(std::invalid_argument), &typeid(remote_exception<std::invalid_argument>)},
      {&typeid(std::domain_error), &typeid(remote_exception<std::domain_error>)},
      {&typeid(std::length_error), &typeid(remote_exception<std::length_error>)},
      {&typeid(std::out_of_range), &typeid(remote_exception<std::out_of_range>)},
      {&typeid(std::runtime_error), &typeid(remote_exception<std::runtime_error>)},
      {&typeid(std::range_error), &typeid(remote_exception<std::range_error>)},
      {&typeid(std::overflow_error), &typeid(remote_exception<std::overflow_error>)},
      {&typeid(std::underflow_error), &typeid(remote_exception<std::underflow_error>)},
      {&typeid(rankpool::broken_executor), &typeid(remote_exception<rankpool::broken_executor>)},
      {&typeid(rankpool::task_crashed), &typeid(rankpool::task_crashed)},
      {&typeid(rankpool::timeout_error), &typeid(remote_exception<rankpool::timeout_error>)},
  };
  static_assert(std::size(table) == static_cast<std::size_t>(exception_kind::count));
  return table[static_cast<std::size_t>(k)];
}

// The kind of `e`, compared as thrown (`rebuilt` false) or as rebuild() made it. Only exact
// types count: a user type derived from a standard one is not that type, and a handler written
// for it must see remote_error with its real name.
exception_kind kind_of(const std::exception& e, bool rebuilt = false) {
  const std::type_info& t = typeid(e);
  for (std::size_t k = 1; k < static_cast<std::size_t>(exception_kind::count); ++k) {
    const auto& types = types_of(static_cast<exception_kind>(k));
    if (t == *(rebuilt ? types.rebuilt : types.thrown)) return static_cast<exception_kind>(k);
  }
  return exception_kind::other;
}

void put_string(writer& w, const std::string& s) {
  codec<std::string>::write(w, s);
}

// The exception a root rebuilds for `kind`: the standard and rankpool types as themselves (with
// `ctx` attached), anything else as remote_error.
std::exception_ptr rebuild(exception_kind kind, remote_context ctx, std::int32_t sig, std::int32_t code) {
  switch (kind) {
    case exception_kind::logic_error:
      return std::make_exception_ptr(remote_exception<std::logic_error>(ctx));
    case exception_kind::invalid_argument:
      return std::make_exception_ptr(remote_exception<std::invalid_argument>(ctx));
    case exception_kind::domain_error:
      return std::make_exception_ptr(remote_exception<std::domain_error>(ctx));
    case exception_kind::length_error:
      return std::make_exception_ptr(remote_exception<std::length_error>(ctx));
    case exception_kind::out_of_range:
      return std::make_exception_ptr(remote_exception<std::out_of_range>(ctx));
    case exception_kind::runtime_error:
      return std::make_exception_ptr(remote_exception<std::runtime_error>(ctx));
    case exception_kind::range_error:
      return std::make_exception_ptr(remote_exception<std::range_error>(ctx));
    case exception_kind::overflow_error:
      return std::make_exception_ptr(remote_exception<std::overflow_error>(ctx));
    case exception_kind::underflow_error:
      return std::make_exception_ptr(remote_exception<std::underflow_error>(ctx));
    case exception_kind::broken_executor:
      return std::make_exception_ptr(remote_exception<broken_executor>(ctx));
    case exception_kind::timeout_error:
      return std::make_exception_ptr(remote_exception<timeout_error>(ctx));
    case exception_kind::task_crashed:
      return std::make_exception_ptr(task_crashed(ctx.message(), sig, code, ctx.rank(), ctx.host()));
    default:
      return std::make_exception_ptr(remote_error(ctx.type_name(), ctx.message(), ctx.rank(), ctx.host()));
  }
}

}  // namespace

void write_exception(writer& out, std::exception_ptr e) noexcept {
  try {
    exception_kind kind = exception_kind::other;
    std::string type, message;
    std::int32_t rank = this_worker().rank;
    std::string host = this_worker().host;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      if (const auto* ctx = remote_context_of(ex)) {
        // Rebuilt from another rank (a nested task's, rethrown by the task that waited on it):
        // it travels on as it came, naming the rank that threw it first.
        kind = kind_of(ex, true);
        type = ctx->type_name();
        message = ctx->message();
        rank = ctx->rank();
        host = ctx->host();
      } else {
        kind = kind_of(ex);
        type = demangle(typeid(ex).name());
        message = ex.what();
      }
    } catch (...) {
      auto* t = abi::__cxa_current_exception_type();
      type = t ? demangle(t->name()) : "unknown";
      message = "a non-std::exception of type " + type + " was thrown";
    }
    out.raw().put_value(result_exception);
    out.raw().put_value(static_cast<std::uint8_t>(kind));
    put_string(out, type);
    put_string(out, message);
    out.raw().put_value<std::int32_t>(rank);
    put_string(out, host);
    if (kind == exception_kind::task_crashed) {
      std::int32_t sig = 0, code = 0;
      try {
        std::rethrow_exception(e);
      } catch (const task_crashed& c) {
        sig = c.signal();
        code = c.exit_code();
      } catch (...) {
      }
      out.raw().put_value(sig);
      out.raw().put_value(code);
    }
  } catch (...) {
    // Out of memory while describing an error: nothing sensible is left to send.
    std::abort();
  }
}

std::exception_ptr read_exception(reader& in) {
  auto kind = static_cast<exception_kind>(in.raw().get_value<std::uint8_t>());
  if (kind >= exception_kind::count) throw decode_error("rankpool: unknown exception kind in a result");
  std::string type, message, host;
  codec<std::string>::read(in, type);
  codec<std::string>::read(in, message);
  auto rank = in.raw().get_value<std::int32_t>();
  codec<std::string>::read(in, host);
  remote_context ctx(type, message, rank, host);
  std::int32_t sig = 0, code = 0;
  if (kind == exception_kind::task_crashed) {
    sig = in.raw().get_value<std::int32_t>();
    code = in.raw().get_value<std::int32_t>();
  }
  return rebuild(kind, std::move(ctx), sig, code);
}

std::exception_ptr with_message_suffix(const std::exception_ptr& e, const std::string& tail) noexcept {
  try {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      if (const auto* ctx = remote_context_of(ex)) {
        std::int32_t sig = 0, code = 0;
        if (const auto* c = dynamic_cast<const task_crashed*>(&ex)) sig = c->signal(), code = c->exit_code();
        return rebuild(kind_of(ex, true),
                       remote_context(ctx->type_name(), ctx->message() + tail, ctx->rank(), ctx->host()), sig, code);
      }
      // A local exception of a type that travels as itself: the same type, its context local.
      if (const auto kind = kind_of(ex); kind != exception_kind::other && kind != exception_kind::task_crashed)
        return rebuild(kind, remote_context(demangle(typeid(ex).name()), ex.what() + tail, -1, this_worker().host), 0,
                       0);
    }
  } catch (...) {
    // Out of memory, or not a std::exception: `e` as it is.
  }
  return e;
}

std::exception_ptr make_result_decode_error(const std::exception_ptr& cause) noexcept {
  try {
    return std::make_exception_ptr(
        error("rankpool: the task's result failed to decode on the root: " + describe(cause)));
  } catch (...) {  // out of memory: the cause itself is the best that is left
    return cause;
  }
}

}  // namespace rankpool::detail
