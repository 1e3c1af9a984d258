#pragma once
/// \file errors.hpp
/// rankpool's exception hierarchy: everything the library throws derives from rankpool::error.

#include <stdexcept>
#include <string>

namespace rankpool {

/// Base of every exception rankpool throws itself (a std::runtime_error).
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A timed wait (`result(timeout)`, `wait`, `as_completed`, `map` with a timeout) ran out.
class timeout_error : public error {
 public:
  using error::error;
};

/// `result()` or `exception()` of a future whose task was cancelled.
class cancelled_error : public error {
 public:
  using error::error;
};

/// The pool can no longer run tasks: its initializer failed, or a worker was lost.
class broken_executor : public error {
 public:
  using error::error;
};

/// An operation that is not allowed in the current state, such as `submit` after `shutdown`
/// or on a rank that is not the root.
class invalid_state_error : public error {
 public:
  using error::error;
};

/// An MPI call the library made failed. rankpool sets MPI_ERRORS_RETURN on the communicators it
/// creates (its duplicate of the user's communicator, spawn intercommunicators), so a failure
/// reaches this exception instead of aborting the job. On the root, such a failure breaks the
/// executor: its futures fail with broken_executor, which nests this error
/// (`std::rethrow_if_nested`), and `shutdown()` rethrows it.
class mpi_error : public error {
 public:
  /// Builds the error for `routine` (e.g. "MPI_Isend") returning `code` of class `error_class`;
  /// `mpi_text` is MPI's error string for the code.
  mpi_error(std::string routine, int code, int error_class, const std::string& mpi_text)
      : error("rankpool: " + routine + " failed: " + mpi_text),
        routine_(std::move(routine)),
        code_(code),
        error_class_(error_class) {}
  /// The MPI routine that failed, e.g. "MPI_Isend".
  const std::string& routine() const noexcept { return routine_; }
  /// The error code it returned (MPI's, possibly implementation-specific).
  int code() const noexcept { return code_; }
  /// The standard MPI error class of code() (MPI_Error_class), e.g. MPI_ERR_COMM.
  int error_class() const noexcept { return error_class_; }

 private:
  std::string routine_;
  int code_;
  int error_class_;
};

/// Where and what a task threw on a worker. Every exception that crossed from a worker carries
/// one: `remote_error` derives from it, and so do the rebuilt standard exceptions
/// (`std::invalid_argument` and friends). Retrieve it with `remote_context_of`.
class remote_context {
 public:
  /// Builds the context of an exception of type `type_name` thrown on `rank` of `host`.
  remote_context(std::string type_name, std::string message, int rank, std::string host)
      : type_name_(std::move(type_name)), message_(std::move(message)), rank_(rank), host_(std::move(host)) {}
  remote_context(const remote_context&) = default;
  remote_context& operator=(const remote_context&) = default;
  virtual ~remote_context() = default;

  /// Demangled C++ type of the exception the task threw (e.g. `std::invalid_argument`).
  const std::string& type_name() const noexcept { return type_name_; }
  /// The original `what()` text.
  const std::string& message() const noexcept { return message_; }
  /// Rank (in the executor's communicator) of the worker that ran the task; -1 if local.
  int rank() const noexcept { return rank_; }
  /// Host name of the worker that ran the task.
  const std::string& host() const noexcept { return host_; }
  /// One line in the spirit of mpi4py's "### Worker r on host": type, message, rank, host.
  std::string describe() const {
    return type_name_ + ": " + message_ + " [worker rank " + std::to_string(rank_) + " on " + host_ + "]";
  }

 private:
  std::string type_name_;
  std::string message_;
  int rank_;
  std::string host_;
};

/// A task threw on a worker an exception that is not one of the standard types; `what()` is its
/// message, `type_name()`, `rank()` and `host()` tell which exception where.
class remote_error : public error, public remote_context {
 public:
  /// Builds the error for an exception of type `type_name` with text `message` from `rank`/`host`.
  remote_error(std::string type_name, std::string message, int rank, std::string host)
      : error(message), remote_context(std::move(type_name), std::move(message), rank, std::move(host)) {}
};

/// A task killed the process that ran it (a signal, or a call to exit) while the pool runs tasks
/// in isolated child processes (executor_options::isolate, RANKPOOL_ISOLATE=1). Only that task's
/// future fails; the worker starts a fresh child and the pool goes on.
class task_crashed : public error, public remote_context {
 public:
  /// Builds the error for a task that died of `signal` (0 if none) or exited with `exit_code`.
  task_crashed(std::string message, int signal, int exit_code, int rank, std::string host)
      : error(message),
        remote_context("rankpool::task_crashed", std::move(message), rank, std::move(host)),
        signal_(signal),
        exit_code_(exit_code) {}
  /// The signal that killed the task's process, or 0 when it exited.
  int signal() const noexcept { return signal_; }
  /// The exit status the task's process ended with (meaningful when signal() is 0).
  int exit_code() const noexcept { return exit_code_; }

 private:
  int signal_;
  int exit_code_;
};

/// A standard exception type rebuilt on the root as itself, so that
/// `catch (const std::invalid_argument&)` works, with the remote context attached.
template <class StdException>
class remote_exception : public StdException, public remote_context {
 public:
  /// Builds the rebuilt exception; `what()` is the original message.
  explicit remote_exception(remote_context ctx) : StdException(ctx.message()), remote_context(std::move(ctx)) {}
};

/// The remote context of an exception that came from a worker, or nullptr for a local one.
inline const remote_context* remote_context_of(const std::exception& e) noexcept {
  return dynamic_cast<const remote_context*>(&e);
}

}  // namespace rankpool
