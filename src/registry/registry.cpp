// Task identity without registration: invokers keyed by a hash of their mangled type name, and
// function addresses as (module, offset) pairs. Both are the same in every process running one
// executable, which the start-up handshake (fingerprint) verifies.

#include "registry/registry.hpp"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <rankpool/detail/registry.hpp>
#include <rankpool/errors.hpp>
#include <string>
#include <vector>

#include "common/sha256.hpp"
#include "common/text.hpp"

namespace rankpool::detail {
namespace {

std::uint64_t fnv1a(const char* s, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(s[i]);
    h *= 1099511628211ull;
  }
  return h;
}

struct registry_entry {
  std::string mangled;  // the invoker's type name, as the key was made from
  invoke_fn fn;
  std::string readable;  // demangled, for crash reports
};

struct registry_table {
  std::mutex m;
  std::map<std::uint64_t, registry_entry> entries;  // ordered: stable fingerprint
};

// A function-local static: invokers register from other translation units' static initialisers,
// in an order we do not control.
registry_table& table() {
  // Never destroyed: crash reports read task names from it until the process is gone, exit
  // handlers included.
  static auto* t = new registry_table;
  return *t;
}

struct module_info {
  std::uint64_t id;
  std::uintptr_t base;                                          // address of the ELF header
  std::uintptr_t bias;                                          // load bias: runtime = bias + link address
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> code;  // executable segments [begin, end)
  std::string name;
};

std::uint64_t module_id_of(const char* path, bool main_program) {
  if (main_program) return 0;  // the executable itself: its path may differ between hosts
  const char* slash = std::strrchr(path, '/');
  const char* base = slash ? slash + 1 : path;
  return fnv1a(base, std::strlen(base)) | 1u;  // never 0
}

int collect_module(dl_phdr_info* info, std::size_t, void* data) {
  auto& mods = *static_cast<std::vector<module_info>*>(data);
  module_info m;
  const bool main_program = mods.empty();  // the first entry is the main program
  m.name = info->dlpi_name ? info->dlpi_name : "";
  m.id = module_id_of(m.name.c_str(), main_program);
  std::uintptr_t lowest = UINTPTR_MAX;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    auto begin = info->dlpi_addr + ph.p_vaddr;
    lowest = std::min<std::uintptr_t>(lowest, begin - ph.p_offset);
    if (ph.p_flags & PF_X) m.code.emplace_back(begin, begin + ph.p_memsz);
  }
  m.base = lowest;
  m.bias = info->dlpi_addr;
  mods.push_back(std::move(m));
  return 0;
}

// Loaded modules, read once (dlopen after the first task is not supported for function pointers).
const std::vector<module_info>& modules() {
  static const std::vector<module_info> mods = [] {
    std::vector<module_info> v;
    dl_iterate_phdr(collect_module, &v);
    return v;
  }();
  return mods;
}

}  // namespace

std::uint64_t register_invoker(const char* type_name, invoke_fn fn) noexcept {
  auto& t = table();
  std::lock_guard lk(t.m);
  std::uint64_t key = fnv1a(type_name, std::strlen(type_name));
  auto it = t.entries.find(key);
  if (it == t.entries.end()) {
    t.entries.emplace(key, registry_entry{type_name, fn, demangle(type_name)});
  } else if (it->second.mangled != type_name) {
    // Two task types with one 64-bit key: refuse to run rather than call the wrong function.
    std::fprintf(stderr, "rankpool: task key collision between %s and %s\n", it->second.mangled.c_str(), type_name);
    std::abort();
  }
  return key;
}

invoke_fn find_invoker(std::uint64_t key) noexcept {
  auto& t = table();
  std::lock_guard lk(t.m);
  auto it = t.entries.find(key);
  return it == t.entries.end() ? nullptr : it->second.fn;
}

const char* invoker_name(std::uint64_t key) noexcept {
  auto& t = table();
  std::lock_guard lk(t.m);
  auto it = t.entries.find(key);
  return it == t.entries.end() ? "unknown task type" : it->second.readable.c_str();
}

code_address encode_code_address(const void* fn) {
  auto p = reinterpret_cast<std::uintptr_t>(fn);
  for (const auto& m : modules()) {
    for (auto [b, e] : m.code) {
      if (p >= b && p < e) return {m.id, p - m.base};
    }
  }
  throw error("rankpool: function at " + std::to_string(p) + " is not in any loaded module's code");
}

const void* decode_code_address(code_address a) {
  for (const auto& m : modules()) {
    if (m.id != a.module) continue;
    if (a.offset > UINTPTR_MAX - m.base) break;
    auto p = m.base + static_cast<std::uintptr_t>(a.offset);
    for (auto [b, e] : m.code) {
      if (p >= b && p < e) return reinterpret_cast<const void*>(p);
    }
    break;
  }
  throw decode_error("rankpool: function address (module " + std::to_string(a.module) + ", offset " +
                     std::to_string(a.offset) + ") is not code in this executable");
}

namespace {

struct symbol {
  std::uintptr_t begin, end;  // offsets from the module's base
  std::string name;
};

// The function symbols of an ELF file's .symtab (present unless the file is stripped), sorted by
// address, for naming function-pointer tasks in traces. Read from the file, not from memory,
// because .symtab is not loaded.
std::vector<symbol> read_symbols(const std::string& path) {
  std::vector<symbol> out;
  std::ifstream f(path, std::ios::binary);
  if (!f) return out;
  auto read_at = [&](std::uint64_t off, void* to, std::size_t n) {
    f.clear();
    f.seekg(static_cast<std::streamoff>(off));
    f.read(static_cast<char*>(to), static_cast<std::streamsize>(n));
    return f.gcount() == static_cast<std::streamsize>(n);
  };
  ElfW(Ehdr) eh{};
  if (!read_at(0, &eh, sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0 || eh.e_shnum > 65000)
    return out;
  std::vector<ElfW(Shdr)> sh(eh.e_shnum);
  if (!read_at(eh.e_shoff, sh.data(), sh.size() * sizeof(ElfW(Shdr)))) return out;
  for (const auto& s : sh) {
    if (s.sh_type != SHT_SYMTAB || s.sh_link >= sh.size() || s.sh_entsize != sizeof(ElfW(Sym))) continue;
    const auto& strs = sh[s.sh_link];
    if (s.sh_size > (1u << 30) || strs.sh_size > (1u << 30)) continue;
    std::vector<ElfW(Sym)> syms(s.sh_size / sizeof(ElfW(Sym)));
    std::string names(strs.sh_size, '\0');
    if (!read_at(s.sh_offset, syms.data(), syms.size() * sizeof(ElfW(Sym))) ||
        !read_at(strs.sh_offset, names.data(), names.size()))
      continue;
    for (const auto& y : syms) {
      if (ELF64_ST_TYPE(y.st_info) != STT_FUNC || y.st_value == 0 || y.st_name >= names.size()) continue;
      out.push_back(
          {y.st_value, y.st_value + std::max<std::uint64_t>(y.st_size, 1), demangle(names.c_str() + y.st_name)});
    }
  }
  std::sort(out.begin(), out.end(), [](const symbol& a, const symbol& b) { return a.begin < b.begin; });
  return out;
}

}  // namespace

std::string function_name(code_address a) {
  static std::mutex m;
  static std::map<std::uint64_t, std::vector<symbol>> by_module;
  const module_info* mod = nullptr;
  for (const auto& mi : modules()) {
    if (mi.id == a.module) mod = &mi;
  }
  if (!mod) return {};
  std::lock_guard lk(m);
  auto it = by_module.find(a.module);
  if (it == by_module.end())
    it = by_module.emplace(a.module, read_symbols(mod->id == 0 ? std::string("/proc/self/exe") : mod->name)).first;
  // Symbol values are link-time addresses (runtime = bias + value); the offset counts from base.
  const std::uint64_t link = a.offset + (mod->base - mod->bias);
  const auto& syms = it->second;
  auto pos = std::upper_bound(syms.begin(), syms.end(), link,
                              [](std::uint64_t off, const symbol& s) { return off < s.begin; });
  if (pos == syms.begin()) return {};
  --pos;
  return link < pos->end ? pos->name : std::string();
}

std::string executable_fingerprint() {
  static const std::string fp = [] {
    sha256 digest;
    std::ifstream exe("/proc/self/exe", std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (exe) {
      exe.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (exe.gcount() > 0) digest.update(buf.data(), static_cast<std::size_t>(exe.gcount()));
    }
    {
      auto& t = table();
      std::lock_guard lk(t.m);
      for (const auto& [key, entry] : t.entries) {
        digest.update(&key, sizeof key).update(entry.mangled.data(), entry.mangled.size());
      }
    }
    return digest.finish();
  }();
  return fp;
}

}  // namespace rankpool::detail
