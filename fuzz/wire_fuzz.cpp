// libFuzzer target for rankpool's wire decoding: everything a rank does with the bytes of a
// received message before (and while) it trusts them. The first input byte picks a side:
//   even: the root's result path (src/root/scheduler.cpp): header, result_batch records, then each
//         record's body through call_task / chunk_task::complete_from or read_exception, and the
//         init_failed body;
//   odd:  the worker's task path (src/worker/serve.cpp): header, task or task_batch records, then each task
//         body through the invoker registry, as run_body does; the result the invoker writes must
//         then decode on the root again (a round trip that must never fail to decode).
// The rest of the input is the message, header included. No MPI call is made: src/wire/transport.cpp's
// checks on a received message are repeated here (see received_header).
//
// Properties checked beyond the sanitizers: decoding never throws out of the paths that the
// library runs unprotected, a completed future is always done, every map element holds exactly
// one of value and error, and a worker's result never fails to decode on the root.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "fuzz_tasks.hpp"
#include "wire/framing.hpp"  // src/: the message header and batch records

namespace {

namespace rd = rankpool::detail;
namespace wire = rankpool::detail::wire;
using namespace rankpool_fuzz;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "wire_fuzz: property violated: %s\n", what);
  std::abort();
}

// How the root saw a result body: decoded (value or remote exception), or a decode failure.
enum class decoded { ok, decode_error };

decoded classify(const std::exception_ptr& e) {
  if (!e) return decoded::ok;
  try {
    std::rethrow_exception(e);
  } catch (const rankpool::remote_context&) {
    return decoded::ok;  // the task's own exception, rebuilt: the body decoded fine
  } catch (...) {
    return decoded::decode_error;  // make_result_decode_error's rankpool::error
  }
}

template <class R>
decoded complete_call(const char* p, std::size_t n) {
  auto s = std::make_shared<rd::shared_state<R>>();
  rd::call_task<R, R (*)()> t(s, nullptr, {});  // the callable is never run: only the result decodes
  rd::reader in(p, n);
  t.complete_from(in);  // noexcept: a decode failure must end up in the future
  if (!s->done()) fail("call_task::complete_from left the future pending");
  return classify(s->exception_unsafe());
}

template <class R>
decoded complete_chunk(const char* p, std::size_t n) {
  using result_type = std::vector<rd::outcome<R>>;
  auto s = std::make_shared<rd::shared_state<result_type>>();
  // The root knows how many elements it sent (task::weight). Make it the count the body claims
  // (up to a bound on the fuzzer's own allocation), so that a decoder that checks the count
  // against it still sees inputs that pass.
  std::size_t claimed = 0;
  if (n >= 1 + sizeof(std::uint64_t)) {
    std::uint64_t c = 0;
    std::memcpy(&c, p + 1, sizeof c);
    if (c <= 4096) claimed = static_cast<std::size_t>(c);
  }
  rd::chunk_task<R, R (*)(int), int> t(s, nullptr, std::vector<int>(claimed));
  rd::reader in(p, n);
  t.complete_from(in);
  if (!s->done()) fail("chunk_task::complete_from left the future pending");
  if (s->failed()) return classify(s->exception_unsafe());
  for (const auto& o : *s->value_unsafe()) {
    if (o.value.has_value() == (o.error != nullptr)) fail("a map element has both or neither of value and error");
    if (classify(o.error) != decoded::ok) fail("a map element's error is not a remote exception");
  }
  return decoded::ok;
}

decoded complete_exception(const char* p, std::size_t n) {
  rd::reader in(p, n);
  try {
    if (!rd::read_exception(in)) fail("read_exception returned no exception");
  } catch (const rd::decode_error&) {  // the documented failure; src/root/scheduler.cpp catches std::exception
    return decoded::decode_error;
  }
  return decoded::ok;
}

using complete_fn = decoded (*)(const char*, std::size_t);

constexpr complete_fn result_decoders[] = {
    &complete_call<int>,
    &complete_call<std::string>,
    &complete_call<std::vector<double>>,
    &complete_call<std::map<std::string, int>>,
    &complete_call<record>,
    &complete_call<Eigen::MatrixXd>,
    &complete_call<void>,
    &complete_chunk<int>,
    &complete_chunk<std::string>,
    &complete_chunk<std::vector<double>>,
    &complete_chunk<std::map<std::string, int>>,
    &complete_chunk<record>,
    &complete_chunk<Eigen::MatrixXd>,
    &complete_chunk<void>,
    &complete_exception,
};
static_assert(std::size(result_decoders) == static_cast<std::size_t>(result_slot::count));

// The checks transport::receive_matched makes on a first part before anyone reads it. Inputs are
// far below max_part_bytes(), so a message whose header claims more bytes than it has would wait
// for continuation parts that a single input cannot carry: it is rejected, as a short first part.
wire::header received_header(const char* data, std::size_t n) {
  auto h = wire::decode_header(data, n);
  if (h.body_bytes > (SIZE_MAX >> 1)) throw rd::decode_error("absurd message length");
  if (sizeof(wire::header) + h.body_bytes > n) throw rd::decode_error("short first part");
  return h;
}

// ---- the root ------------------------------------------------------------------------------

// scheduler::handle, minus the bookkeeping of tasks in flight.
void root_receives(const char* data, std::size_t n) {
  wire::header h;
  try {
    h = received_header(data, n);
  } catch (const rd::decode_error&) {
    return;  // dropped, as the root's progress thread does
  }
  rd::in_buffer body(data + sizeof(wire::header), n - sizeof(wire::header));
  if (h.kind == static_cast<std::uint8_t>(wire::kind::init_failed)) {
    try {
      rd::reader in(body.current(), body.remaining());
      if (in.raw().get_value<std::uint8_t>() == rd::result_exception) (void)rd::read_exception(in);
    } catch (const std::exception&) {  // the scheduler swallows a malformed cause (catch (...))
    }
    return;
  }
  if (h.kind != static_cast<std::uint8_t>(wire::kind::result_batch)) return;
  try {
    for (std::uint64_t i = 0; i < h.id; ++i) {
      auto rec = body.get_value<wire::result_record>();
      if (rec.bytes > body.remaining()) throw rd::decode_error("result record longer than its message");
      // The root fails a task whose output claims more than its body, and decodes the rest.
      const auto slot = rec.id % std::size(result_decoders);
      if (rec.output_bytes <= rec.bytes)
        (void)result_decoders[slot](body.current(), static_cast<std::size_t>(rec.bytes - rec.output_bytes));
      body.skip(static_cast<std::size_t>(rec.bytes));
    }
  } catch (const rd::decode_error&) {  // the rest of a malformed batch is dropped
  }
}

// ---- the worker ------------------------------------------------------------------------------

// What the fuzzer knows about each registered task type.
struct task_type {
  bool by_address = false;                  // the callable travels as a code address
  std::vector<rd::code_address> functions;  // where the functions of that type a program could submit are
  complete_fn root_decoder = nullptr;       // how the root decodes this type's result
};

std::map<std::uint64_t, task_type>& task_types() {
  static std::map<std::uint64_t, task_type> types;
  return types;
}

// Registers each task type of fuzz_tasks.hpp: odr-using invoker<...>::key is what puts the
// invoker into rankpool's registry, as a submit or map call in a program does.
struct registrar {
  template <class F, class... A>
  void submit(F f, const std::vector<std::tuple<A...>>& /*examples*/) {
    using R = std::invoke_result_t<F&, A&&...>;
    add<F, R>(rd::invoker<F, A...>::key, f, &complete_call<R>);
  }
  template <class F, class X>
  void map(F f, const std::vector<std::vector<X>>& /*chunks*/) {
    using R = std::invoke_result_t<F&, X&&>;
    add<F, R>(rd::chunk_invoker<F, X>::key, f, &complete_chunk<R>);
  }
  template <class F, class R>
  void add(std::uint64_t key, F f, complete_fn decoder) {
    if (!rd::find_invoker(key)) fail("an invoker of fuzz_tasks.hpp is not registered");
    auto& t = task_types()[key];
    t.root_decoder = decoder;
    if constexpr (rd::function_pointer<F>) {
      t.by_address = true;
      t.functions.push_back(
          rd::encode_code_address(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(f))));
    }
  }
};

// A code address is only checked to lie in executable code (registry.cpp): any such address is
// called. Ranks of one program only ever send addresses of real functions of the task's type, so
// an address inside the code that is none of them is not something a run can produce, and
// calling it would crash the fuzzer without telling anything about the decoder. Such an address
// is replaced by a function of the task's type (picked by the offset), and the rest of the body
// decodes as it came; an address outside the code reaches the invoker as it is, which must
// reject it. This also makes the seeds' function pointers work: they carry make_seeds' offsets.
// Returns the body to decode: `body` itself, or `patched` holding the corrected copy.
std::pair<const char*, std::size_t> real_code_address(const task_type& t, const char* body, std::size_t n,
                                                      std::vector<char>& patched) {
  constexpr std::size_t at = sizeof(std::uint64_t);  // after the invoker key
  if (!t.by_address || n < at + sizeof(rd::code_address)) return {body, n};
  rd::code_address a;
  std::memcpy(&a, body + at, sizeof a);
  for (const auto& f : t.functions)
    if (a.module == f.module && a.offset == f.offset) return {body, n};
  try {
    (void)rd::decode_code_address(a);
  } catch (const rd::decode_error&) {
    return {body, n};  // not code: the invoker must reject it
  }
  patched.assign(body, body + n);
  const auto& real = t.functions[static_cast<std::size_t>(a.offset % t.functions.size())];
  std::memcpy(patched.data() + at, &real, sizeof real);
  return {patched.data(), n};
}

// What src/worker/run_task.cpp's run_body does (it needs the worker's crash and stop machinery, so
// the fuzzer has its own copy of the decoding steps), plus the round trip to the root.
void run_body(const char* body, std::size_t n) {
  const task_type* type = nullptr;
  std::vector<char> patched;
  if (n >= sizeof(std::uint64_t)) {
    std::uint64_t key = 0;
    std::memcpy(&key, body, sizeof key);
    auto it = task_types().find(key);
    if (it != task_types().end()) {
      type = &it->second;
      std::tie(body, n) = real_code_address(*type, body, n, patched);
    }
  }
  rd::reader in(body, n);
  rd::writer out;
  rd::invoke_fn fn = nullptr;
  try {
    auto key = in.raw().get_value<std::uint64_t>();
    fn = rd::find_invoker(key);
    if (!fn) throw rankpool::error("unknown task type");
    if (!type) fail("the registry has an invoker that the fuzzer did not register");
  } catch (const rankpool::error&) {
    rd::write_exception(out, std::current_exception());
  }
  if (fn) fn(in, out);  // noexcept: a bad body must become an exception result
  out.reset_archive();
  const auto& result = out.raw().bytes();
  // The root decodes with the decoder of the task's type; an unknown type yields an exception,
  // which any decoder reads.
  complete_fn decode = type ? type->root_decoder : &complete_call<int>;
  if (decode(result.data(), result.size()) != decoded::ok) fail("a worker's result failed to decode on the root");
}

// src/worker/serve.cpp's handle, for one message.
void worker_receives(const char* data, std::size_t n) {
  wire::header h;
  try {
    h = received_header(data, n);
  } catch (const rd::decode_error&) {
    return;
  }
  const char* body = data + sizeof(wire::header);
  const std::size_t body_n = n - sizeof(wire::header);
  switch (static_cast<wire::kind>(h.kind)) {
    case wire::kind::task:
      run_body(body, body_n);
      break;
    case wire::kind::task_batch: {
      rd::in_buffer records(body, body_n);
      try {
        for (std::uint64_t i = 0; i < h.id; ++i) {
          auto rec = records.get_value<wire::task_record>();
          if (rec.bytes > records.remaining()) throw rd::decode_error("task record longer than its batch");
          run_body(records.current(), static_cast<std::size_t>(rec.bytes));
          records.skip(static_cast<std::size_t>(rec.bytes));
        }
      } catch (const rd::decode_error&) {
      }
      break;
    }
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  registrar r;
  visit_task_types(r);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const char* msg = reinterpret_cast<const char*>(data + 1);
  if (data[0] % 2 == 0) {
    root_receives(msg, size - 1);
  } else {
    worker_receives(msg, size - 1);
  }
  return 0;
}
