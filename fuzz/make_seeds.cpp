// Writes the seed corpus of wire_fuzz: small valid messages made by rankpool's own encoders.
//   make_seeds <dir>
// Task messages come from call_task / chunk_task::encode_body, results from running those tasks
// through the registered invokers exactly as a worker does, exceptions from write_exception.
// Each file is one selector byte (0: the root receives it, 1: a worker does) and one message.
// The output is deterministic, except for free functions: they travel as code offsets in
// make_seeds itself, which change with every build (wire_fuzz copes: see real_code_address).

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/worker_identity.hpp"  // src/: the rank and host an exception reports
#include "fuzz_tasks.hpp"
#include "wire/framing.hpp"  // src/: message header and batch records

namespace {

namespace rd = rankpool::detail;
namespace wire = rankpool::detail::wire;
using namespace rankpool_fuzz;

constexpr char to_root = 0;
constexpr char to_worker = 1;

const char* const slot_names[] = {"call-int",     "call-string",         "call-vector-double", "call-map",
                                  "call-record",  "call-matrix",         "call-void",          "chunk-int",
                                  "chunk-string", "chunk-vector-double", "chunk-map",          "chunk-record",
                                  "chunk-matrix", "chunk-void",          "exception"};
static_assert(std::size(slot_names) == static_cast<std::size_t>(result_slot::count));

// Frames records (each: a record struct, then the body) into one message of kind `k`.
template <class Record>
std::vector<char> batch(wire::kind k, const std::vector<std::pair<Record, std::vector<char>>>& records) {
  std::vector<char> m(sizeof(wire::header));
  for (auto [rec, body] : records) {
    rec.bytes = body.size();
    auto at = m.size();
    m.resize(at + sizeof rec + body.size());
    std::memcpy(m.data() + at, &rec, sizeof rec);
    if (!body.empty()) std::memcpy(m.data() + at + sizeof rec, body.data(), body.size());
  }
  wire::put_header(m.data(), k, records.size(), m.size() - sizeof(wire::header));
  return m;
}

// A message made of a header of kind `k` and `body`.
std::vector<char> single(wire::kind k, std::uint64_t id, const std::vector<char>& body) {
  std::vector<char> m(sizeof(wire::header));
  m.insert(m.end(), body.begin(), body.end());
  wire::put_header(m.data(), k, id, body.size());
  return m;
}

std::vector<char> exception_body(std::exception_ptr e) {
  rd::writer w;
  rd::write_exception(w, std::move(e));
  return w.take();
}

class seeder {
 public:
  explicit seeder(std::filesystem::path dir) : dir_(std::move(dir)) {}

  template <class F, class... A>
  void submit(F f, const std::vector<std::tuple<A...>>& examples) {
    using R = std::invoke_result_t<F&, A&&...>;
    const auto type = type_index_++;
    int i = 0;
    for (const auto& args : examples) {
      auto s = std::make_shared<rd::shared_state<R>>();
      rd::call_task<R, F, A...> t(s, f, args);
      t.encode_body();
      task(t.bytes(), call_slot_of<R>(), "call" + std::to_string(type) + "-" + std::to_string(i++));
    }
  }

  template <class F, class X>
  void map(F f, const std::vector<std::vector<X>>& chunks) {
    using R = std::invoke_result_t<F&, X&&>;
    const auto type = type_index_++;
    int i = 0;
    for (const auto& items : chunks) {
      auto s = std::make_shared<rd::shared_state<std::vector<rd::outcome<R>>>>();
      rd::chunk_task<R, F, X> t(s, f, items);
      t.encode_body();
      task(t.bytes(), chunk_slot_of<R>(), "chunk" + std::to_string(type) + "-" + std::to_string(i++));
    }
  }

  // The seeds that are not one task and its result: batches, exceptions, control messages.
  void finish() {
    write("task-batch-all", to_worker, batch(wire::kind::task_batch, task_records_));
    write("result-batch-all", to_root, batch(wire::kind::result_batch, result_records_));
    if (!result_records_.empty()) {  // a result with captured output after its body (capture_output)
      auto talking = result_records_.front();
      const std::string said = "captured line\n";
      talking.second.insert(talking.second.end(), said.begin(), said.end());
      talking.first.output_bytes = static_cast<std::uint32_t>(said.size());
      write("result-with-output", to_root, batch(wire::kind::result_batch, std::vector{talking}));
    }

    const std::exception_ptr errors[] = {
        std::make_exception_ptr(std::runtime_error("runtime")),
        std::make_exception_ptr(std::invalid_argument("invalid")),
        std::make_exception_ptr(rankpool::broken_executor("broken")),
        std::make_exception_ptr(fuzz_error("user type")),
        std::make_exception_ptr(rankpool::task_crashed("killed by signal 9", 9, 0, 1, "seed-host")),
        std::make_exception_ptr(42),
    };
    std::vector<std::pair<wire::result_record, std::vector<char>>> bare;
    std::uint64_t n = 0;
    for (const auto& e : errors) {
      auto body = exception_body(e);
      body.erase(body.begin());  // read_exception starts after the status byte
      bare.push_back({{id_for(result_slot::exception, n++), 0, 0, 0, 0, 0}, body});
    }
    write("result-exceptions", to_root, batch(wire::kind::result_batch, bare));
    write("init-failed", to_root, single(wire::kind::init_failed, 0, exception_body(errors[0])));
    write("init-failed-other", to_root, single(wire::kind::init_failed, 0, exception_body(errors[5])));

    write("shutdown", to_worker, single(wire::kind::shutdown, 0, {}));
    const std::uint64_t unknown_key = 0x0123456789abcdefull;
    std::vector<char> unknown(sizeof unknown_key);
    std::memcpy(unknown.data(), &unknown_key, sizeof unknown_key);
    write("task-unknown-type", to_worker, single(wire::kind::task, 1, unknown));
    write("task-empty-batch", to_worker, batch<wire::task_record>(wire::kind::task_batch, {}));
  }

 private:
  // One encoded task (header room included): its task message, and the result a worker sends.
  void task(std::vector<char>& bytes, result_slot slot, const std::string& name) {
    const std::vector<char> body(bytes.begin() + sizeof(wire::header), bytes.end());
    const auto id = next_id_++;
    wire::put_header(bytes.data(), wire::kind::task, id, body.size());
    write("task-" + name, to_worker, bytes);
    task_records_.push_back({{id, 0}, body});

    // What src/worker/run_task.cpp's run_body does with the body.
    rd::reader in(body.data(), body.size());
    rd::writer out;
    auto fn = rd::find_invoker(in.raw().get_value<std::uint64_t>());
    if (!fn) throw std::logic_error("make_seeds: an invoker is not registered");
    fn(in, out);
    out.reset_archive();
    const wire::result_record rec{id_for(slot, id), 1000 * id, 0, 0, 0, 0};
    std::vector<std::pair<wire::result_record, std::vector<char>>> one{{rec, out.take()}};
    write("result-" + std::string(slot_names[static_cast<std::size_t>(slot)]) + "-" + name, to_root,
          batch(wire::kind::result_batch, one));
    result_records_.push_back(one.front());
  }

  void write(const std::string& name, char selector, const std::vector<char>& message) {
    std::ofstream f(dir_ / name, std::ios::binary | std::ios::trunc);
    f.put(selector);
    f.write(message.data(), static_cast<std::streamsize>(message.size()));
    if (!f) throw std::runtime_error("make_seeds: cannot write " + (dir_ / name).string());
  }

  std::filesystem::path dir_;
  int type_index_ = 0;
  std::uint64_t next_id_ = 1;
  std::vector<std::pair<wire::task_record, std::vector<char>>> task_records_;
  std::vector<std::pair<wire::result_record, std::vector<char>>> result_records_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  // Fixed identity: exception bodies carry rank and host, and the seeds should not depend on
  // the machine that generated them.
  rd::this_worker().rank = 1;
  rd::this_worker().host = "seed-host";
  try {
    std::filesystem::create_directories(argv[1]);
    // Seeds of an earlier run go first (task types may have been renumbered); reproducers of bugs
    // (crash-*, oom-*, ...) stay.
    for (const auto& e : std::filesystem::directory_iterator(argv[1])) {
      const auto name = e.path().filename().string();
      for (const char* prefix : {"task-", "result-", "init-failed", "shutdown"})
        if (e.is_regular_file() && name.rfind(prefix, 0) == 0) std::filesystem::remove(e.path());
    }
    seeder s(argv[1]);
    visit_task_types(s);
    s.finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
