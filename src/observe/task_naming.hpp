#pragma once
// Internal: the names a trace gives tasks. A task is named after its function: a function
// pointer from the module's symbol table, any other callable from the invoker's demangled type;
// map chunks are prefixed "map". Names are interned, so a trace record carries a small id, and
// the table holds the trace's few labels ("send", "shutdown") too.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rankpool::detail {

class task;

/// The first top-level template argument of a demangled "ns::name<A, B, ...>" (`s` itself when
/// it has none).
std::string first_template_argument(const std::string& s);

/// "f(int, double)" -> "f"; names of lambdas ("main::{lambda(int)#1}") stay whole.
std::string without_parameters(const std::string& s);

/// The display name of a task whose invoker type is `mangled` and whose function pointer is `fn`
/// (null for other callables): at most 160 characters, anonymous namespaces left out.
std::string task_display_name(const char* mangled, const void* fn);

/// Interned names: a task's display name or a label, each under a small id. Not thread-safe.
class name_table {
 public:
  /// The id of `t`'s display name (a repeat of the last task type costs two compares).
  std::uint32_t of_task(const task& t);
  /// The id of a label (`literal` a string literal: it is kept by address).
  std::uint32_t of_label(const char* literal);
  /// A name of its own (a track's label, the pool's name): its id.
  std::uint32_t add(std::string name);
  /// Every name so far, by id.
  const std::vector<std::string>& names() const noexcept { return names_; }

 private:
  std::vector<std::string> names_;
  // Keyed by the type name's address: typeid names are unique per type within a program.
  std::map<std::pair<const char*, const void*>, std::uint32_t> task_ids_;
  std::vector<std::pair<const char*, std::uint32_t>> label_ids_;  // a handful: searched in order
  const char* last_type_ = nullptr;
  const void* last_fn_ = nullptr;
  std::uint32_t last_id_ = 0;
};

}  // namespace rankpool::detail
