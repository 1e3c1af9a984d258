#pragma once
/// \file rankpool.hpp
/// Everything rankpool offers: executors (thread, comm, spawn), futures and their composition
/// (then, when_all, when_any, co_await), wait, errors, options, shared values and partial.
/// `<rankpool/eigen.hpp>` adds Eigen matrices and arrays as sendable types.

#include <rankpool/comm_executor.hpp>
#include <rankpool/compose.hpp>
#include <rankpool/environment.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/executor.hpp>
#include <rankpool/future.hpp>
#include <rankpool/map_range.hpp>
#include <rankpool/options.hpp>
#include <rankpool/partial.hpp>
#include <rankpool/serialization.hpp>
#include <rankpool/shared.hpp>
#include <rankpool/team.hpp>
#include <rankpool/this_pool.hpp>
#include <rankpool/this_task.hpp>
#include <rankpool/thread_executor.hpp>
#include <rankpool/wait.hpp>
