// Task names for traces (see task_naming.hpp).

#include "observe/task_naming.hpp"

#include <rankpool/detail/task.hpp>

#include "common/text.hpp"
#include "registry/registry.hpp"

namespace rankpool::detail {

std::string first_template_argument(const std::string& s) {
  auto open = s.find('<');
  if (open == std::string::npos) return s;
  int depth = 0;
  for (std::size_t i = open + 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '<' || c == '(' || c == '[' || c == '{') ++depth;
    if (c == '>' || c == ')' || c == ']' || c == '}') {
      if (depth == 0) return s.substr(open + 1, i - open - 1);
      --depth;
    }
    if (c == ',' && depth == 0) return s.substr(open + 1, i - open - 1);
  }
  return s;
}

std::string without_parameters(const std::string& s) {
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '<' || c == '{' || c == '[') ++depth;
    if (c == '>' || c == '}' || c == ']') --depth;
    if (c == '(' && depth == 0 && i > 0) return s.substr(0, i);
  }
  return s;
}

std::string task_display_name(const char* mangled, const void* fn) {
  const std::string type = demangle(mangled);
  const bool chunk = type.find("chunk_invoker<") != std::string::npos;
  std::string name = first_template_argument(type);
  if (fn) {
    try {
      if (auto f = function_name(encode_code_address(fn)); !f.empty()) name = without_parameters(f);
    } catch (...) {  // not in a loaded module: keep the type's name
    }
  }
  const std::string anon = "(anonymous namespace)::";
  for (std::size_t at; (at = name.find(anon)) != std::string::npos;) name.erase(at, anon.size());
  if (name.size() > 160) name = name.substr(0, 157) + "...";
  return chunk ? "map " + name : name;
}

std::uint32_t name_table::of_task(const task& t) {
  const char* mangled = t.type_name();
  const void* fn = t.function_address();
  // Runs of one task type are the rule: skip the map lookup for a repeat.
  if (mangled == last_type_ && fn == last_fn_) return last_id_;
  last_type_ = mangled;
  last_fn_ = fn;
  auto it = task_ids_.find({mangled, fn});
  if (it == task_ids_.end()) it = task_ids_.emplace(std::pair{mangled, fn}, add(task_display_name(mangled, fn))).first;
  last_id_ = it->second;
  return last_id_;
}

std::uint32_t name_table::of_label(const char* literal) {
  for (const auto& [p, id] : label_ids_)
    if (p == literal) return id;
  label_ids_.emplace_back(literal, add(literal));
  return label_ids_.back().second;
}

std::uint32_t name_table::add(std::string name) {
  names_.push_back(std::move(name));
  return static_cast<std::uint32_t>(names_.size() - 1);
}

}  // namespace rankpool::detail
