#pragma once
/// \file executor.hpp
/// rankpool::basic_executor: the interface every rankpool executor shares (submit, map,
/// shutdown, num_workers). The executors themselves are in thread_executor.hpp and
/// comm_executor.hpp; the results of map in map_range.hpp.

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <memory>
#include <ranges>
#include <rankpool/detail/core.hpp>
#include <rankpool/detail/dependency.hpp>
#include <rankpool/detail/journal.hpp>
#include <rankpool/detail/journaled.hpp>
#include <rankpool/detail/map_builder.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/detail/team.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <rankpool/map_range.hpp>
#include <rankpool/options.hpp>
#include <rankpool/serialization.hpp>
#include <rankpool/shared.hpp>
#include <span>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool {

namespace detail {
/// What `f(args...)` returns, called as the task calls it (on decayed copies, the arguments
/// moved; a future argument gives its value).
template <class F, class... A>
using call_result_t = std::invoke_result_t<std::decay_t<F>&, arg_t<A>&&...>;

/// True for a future<T>: a map element that is a dependency.
template <class X>
inline constexpr bool is_future_v = arg_of<X>::dependency;
}  // namespace detail

/// The interface every rankpool executor shares, as Python's concurrent.futures.Executor:
/// `submit` one call, `map` a function over a range, `shutdown`, `num_workers`. It is not used
/// on its own: thread_executor, comm_executor and spawn_executor derive from it and give it their
/// pool.
///
/// `Remote`: tasks may travel to other processes (the MPI executors). There the callable, the
/// arguments and the result must be sendable (serialization.hpp), and what is not is a
/// compile-time error that says why and names the type. A local executor takes any callable.
///
///     rankpool::thread_executor pool(4);
///     rankpool::future<int> f = pool.submit([](int a, int b) { return a + b; }, 2, 3);
///     for (int sq : pool.map([](int x) { return x * x; }, std::vector{1, 2, 3})) std::cout << sq;
///     pool.shutdown();  // also done by the destructor
template <bool Remote>
class basic_executor {
 public:
  basic_executor(const basic_executor&) = delete;
  basic_executor& operator=(const basic_executor&) = delete;

  /// Schedules `f(args...)` and returns its future at once, as Executor.submit. `f` and `args`
  /// are copied (moved when given as rvalues) into the task. On a remote executor they are
  /// encoded now and rebuilt on a worker: `f` is a free function, a capture-less lambda, a
  /// default-constructible function object, or one with a serialize member. With a journal
  /// (executor_options::journal), a call that a previous run finished completes at once from
  /// the stored result.
  ///
  /// An argument that is a `future<T>` is a dependency: the task receives its value (a T) and
  /// starts only once it is done; if it failed, the task fails with the same exception without
  /// running, and if it was cancelled, the task is cancelled. No thread waits meanwhile: the
  /// task is handed to the pool by the thread that completes its last input, and until then it
  /// can be cancelled. shutdown(wait) lets waiting tasks start first; shutdown with
  /// cancel_futures cancels them. A future<void> cannot be an argument (it has no value).
  ///
  /// Throws invalid_state_error after shutdown and on a rank that is not the root, and what
  /// encoding an argument throws. The call's own exception is not thrown here: the future's
  /// result() rethrows it. On a broken executor the future fails with broken_executor.
  ///
  ///     double area(double r) { return 3.14159 * r * r; }
  ///     auto f = pool.submit(area, 2.0);
  ///     double a = f.result();
  ///     auto g = pool.submit(std::plus<double>{}, f, pool.submit(area, 1.0));  // after both
  template <class F, class... Args>
  future<detail::call_result_t<F, Args...>> submit(F&& f, Args&&... args) {
    return submit_with(submit_options{}, std::forward<F>(f), std::forward<Args>(args)...);
  }

  /// submit() with options for this call: `o.priority` (higher starts first among the tasks not
  /// yet started; equal priorities keep submission order) and `o.retries` (runs after a failed
  /// first one, see executor_options::retries). Throws as submit().
  ///
  ///     auto urgent = pool.submit_with({.priority = 10}, area, 1.0);
  template <class F, class... Args>
  future<detail::call_result_t<F, Args...>> submit_with(const submit_options& o, F&& f, Args&&... args) {
    using R = detail::call_result_t<F, Args...>;
    using Fn = std::decay_t<F>;
    check_sendable<Fn, R, detail::arg_t<Args>...>();
    auto s = std::make_shared<detail::shared_state<R>>();
    if constexpr (detail::any_dependency<Args...>) {
      core();  // throws on a rank without a pool
      if (dependencies_->closed()) throw invalid_state_error("rankpool: cannot submit after shutdown");
      auto launch = [this, o](std::shared_ptr<detail::shared_state<R>> st, Fn&& fn, auto&&... values) {
        submit_state(o, std::move(st), std::move(fn), std::forward<decltype(values)>(values)...);
      };
      auto w = std::make_shared<detail::waiting_call<R, Fn, decltype(launch), std::decay_t<Args>...>>(
          s, Fn(std::forward<F>(f)), std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...), std::move(launch),
          dependencies_);
      w->watch();
    } else {
      submit_state(o, s, std::forward<F>(f), std::forward<Args>(args)...);
    }
    return future<R>(std::move(s));
  }

  /// Applies `f` to every element of `range`, as Executor.map, and returns the lazy range of
  /// the results at once (map_range). Every element is submitted now, in chunks of
  /// `o.chunksize` elements that each travel and run as one task (0: chosen automatically, see
  /// auto_chunksize); chunks go to the pool as they are built, so workers start while the rest
  /// of the input is still being encoded. Iterating the result yields `f(x)` in input order (in
  /// completion order with `o.unordered`), rethrows an element's exception at its position, and
  /// throws timeout_error once `o.timeout`, counted from this call, has run out. `o.journal`
  /// and `o.progress`: see map_options.
  ///
  /// A range of `future<T>` elements maps `f` over their values: each chunk starts once its
  /// elements are done, without a thread waiting; an element that failed (or was cancelled)
  /// yields its exception (cancelled_error) at its position and the rest of its chunk runs. Such
  /// a map shows no progress display.
  ///
  /// Throws invalid_state_error when a chunk is handed to an executor that was shut down and on
  /// a rank that is not the root, rankpool::error when `o.journal` cannot be opened, and what
  /// encoding an element throws.
  ///
  ///     std::vector<Eigen::MatrixXd> mats = ...;
  ///     for (const Eigen::VectorXd& sv : pool.map(singular_values, mats, {.chunksize = 0})) use(sv);
  ///     std::vector<int> squares = pool.map(square, std::views::iota(0, 100)).to_vector();
  template <class F, std::ranges::input_range Range>
  auto map(F&& f, Range&& range, map_options o = {}) {
    using X = std::decay_t<std::ranges::range_reference_t<Range>>;
    using Fn = std::decay_t<F>;
    if constexpr (detail::is_future_v<X>) {
      return map_after(Fn(std::forward<F>(f)), std::forward<Range>(range), o);
    } else if (o.buffersize) {
      return map_lazily(std::forward<F>(f), std::forward<Range>(range), o);
    } else {
      check_sendable<Fn, std::invoke_result_t<Fn&, X&&>, X>();
      constexpr bool sized = std::ranges::sized_range<Range>;
      std::size_t size = 0;
      if constexpr (sized) size = static_cast<std::size_t>(std::ranges::size(range));
      detail::map_builder<Remote, Fn, X, sized> chunks(core(), std::forward<F>(f), o, size, journal_,
                                                       retry_rule_for(std::nullopt));
      for (auto&& x : range) chunks.add(std::forward<decltype(x)>(x));
      return chunks.finish(o.unordered);
    }
  }

  /// map for a function of several arguments, as Python's itertools.starmap: yields
  /// `f(std::get<I>(t)...)` for each tuple (pair, array) `t` of `range`, with map's chunks,
  /// order, options and errors. On an MPI executor the tuples are the elements that travel
  /// (each of their types sendable) and `f` travels as submit's callable does. Throws as map.
  ///
  ///     std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}};
  ///     for (int sum : pool.starmap(add, pairs)) use(sum);  // add(1, 2), add(3, 4)
  template <class F, std::ranges::input_range Range>
  auto starmap(F&& f, Range&& range, map_options o = {}) {
    // Checked here as well, so that an unsendable callable is reported by its own type.
    if constexpr (Remote) static_assert(detail::require_sendable_callable<std::decay_t<F>>::value);
    return map(detail::star_fn<std::decay_t<F>>{std::forward<F>(f)}, std::forward<Range>(range), std::move(o));
  }

  /// Runs `f(team, args...)` on `k` worker ranks at once (an MPI executor only), as mpi4py's
  /// get_comm_workers gives a task its ranks: `team` is an MPI communicator of exactly those
  /// ranks, built by them alone (MPI_Comm_create_group; the other workers go on with their
  /// tasks) and freed when the call returns. The future's value is team rank 0's. The scheduler
  /// starts the task once `k` workers are idle: it stops feeding the least busy ones until they
  /// are, while the rest keep working, and tasks that end in time still fill the waiting ones.
  ///
  /// When `f` throws on any team rank, the future fails with that exception (its remote context
  /// names the rank), and the members still running are asked to stop: stop_requested() turns
  /// true for them. A member blocked in a collective that the failed one never reaches would
  /// wait forever: a task whose members may fail waits with rankpool::team_wait (team.hpp),
  /// which returns false when its task is asked to stop. The pool goes on either way. A team
  /// task runs at once when it starts, so cancel() succeeds only while it waits on the root.
  /// Needs MPI_THREAD_MULTIPLE; not with executor_options::isolate (MPI cannot run in a forked
  /// child: the task fails with invalid_state_error).
  ///
  /// Throws std::invalid_argument when `k` is 0 or more than the pool's worker ranks,
  /// invalid_state_error below MPI_THREAD_MULTIPLE and as submit() does.
  ///
  ///     double norm(MPI_Comm team, int n);   // each rank sums its share, MPI_Allreduce over team
  ///     rankpool::future<double> f = pool.submit_parallel(4, norm, 1'000'000);
  template <class F, class... Args>
  requires Remote auto submit_parallel(std::size_t k, F&& f, Args&&... args) {
    using Fn = std::decay_t<F>;
    using R = std::invoke_result_t<Fn&, MPI_Comm, std::decay_t<Args>&&...>;
    static_assert(!(detail::is_future_v<std::decay_t<Args>> || ...),
                  "rankpool: submit_parallel takes values, not futures: wait for them first (or use then())");
    check_sendable<Fn, R, std::decay_t<Args>...>();
    core().check_team(k);
    auto s = std::make_shared<detail::shared_state<R>>();
    hand_over(std::make_unique<detail::team_task<R, Fn, std::decay_t<Args>...>>(
                  s, k, std::forward<F>(f), std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)),
              *s);
    return future<R>(std::move(s));
  }

  /// submit_parallel for each element of `range`: `f(team, x)` on `k` worker ranks per element,
  /// several teams at once where the pool has the ranks. Returns map's lazy range: the results
  /// in input order (completion order with `o.unordered`), an element's exception at its
  /// position, `o.timeout` and `o.priority` as map; every element is its own team task
  /// (`o.chunksize` does not apply). Throws as submit_parallel, and std::invalid_argument for
  /// `o.journal` or `o.buffersize` (not for team tasks).
  template <class F, std::ranges::input_range Range>
  requires Remote auto map_parallel(std::size_t k, F&& f, Range&& range, map_options o = {}) {
    using X = std::decay_t<std::ranges::range_reference_t<Range>>;
    using Fn = std::decay_t<F>;
    using R = std::invoke_result_t<Fn&, MPI_Comm, X&&>;
    using chunk_t = std::vector<detail::outcome<R>>;
    check_sendable<Fn, R, X>();
    core().check_team(k);
    if (o.journal || o.buffersize)
      throw std::invalid_argument("rankpool: map_parallel takes no journal and no buffersize");
    const Fn fn(std::forward<F>(f));
    std::vector<future<chunk_t>> chunks;
    std::vector<detail::task_ptr> tasks;
    for (auto&& x : range) {
      auto st = std::make_shared<detail::shared_state<chunk_t>>();
      auto t = std::make_unique<detail::team_task<R, Fn, X>>(st, k, fn, std::tuple<X>(X(x)));
      t->priority = o.priority;
      detail::prepare_task<Remote>(core(), *t);
      tasks.push_back(std::move(t));
      chunks.emplace_back(std::move(st));
    }
    if (!tasks.empty()) core().submit(tasks);
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (o.timeout) deadline = detail::deadline_after(*o.timeout);
    return map_range<R>(std::move(chunks), o.unordered, deadline, nullptr, false);
  }

  /// Places `value` where every task of this executor can read it, and returns its handle
  /// (shared.hpp): on an MPI executor a contiguous value (arithmetic vector, trivially copyable
  /// type, dense Eigen type) goes once into each node's shared-memory window, any other
  /// sendable value once to each worker rank; a local executor keeps the value itself. Pass the
  /// handle as a task argument, or bind it with rankpool::partial, instead of the value: it
  /// travels as a few bytes. Blocks until the root's node holds the value (the other nodes get
  /// theirs before any later task starts there). The value is released when the last handle on
  /// the root is gone and no task holding it runs.
  ///
  /// Throws invalid_state_error after shutdown and on a rank that is not the root, and what
  /// encoding the value throws.
  ///
  ///     auto h = pool.share(std::move(matrices));                 // std::vector<double>, say
  ///     auto sums = pool.map(rankpool::partial(block_sum, h), std::views::iota(0, 100));
  template <class T>
  shared<std::decay_t<T>> share(T&& value) {
    using V = std::decay_t<T>;
    using L = detail::shared_layout<V>;
    if constexpr (Remote) static_assert(detail::require_sendable<V>::value);
    detail::share_service* svc = Remote ? core().sharing() : nullptr;
    if (!svc) {
      if (core().num_workers() == 0)
        throw invalid_state_error("rankpool: cannot share a value after shutdown (or on a broken executor)");
      auto v = std::make_shared<const V>(std::forward<T>(value));
      auto b = std::make_shared<detail::shared_block>(++local_shares_, detail::shared_block::where::local);
      if constexpr (L::contiguous) {
        const auto d = L::dims(*v);
        b->set_value(v, L::data(*v), L::bytes(*v), d[0], d[1]);
      } else {
        b->set_value(v);
      }
      return shared<V>(std::move(b));
    } else if constexpr (L::contiguous) {
      const auto d = L::dims(value);
      const std::size_t n = L::bytes(value);
      return shared<V>(svc->place(n, d[0], d[1], [&](char* to) { std::memcpy(to, L::data(value), n); }));
    } else {
      detail::writer w;
      detail::encode(w, value);
      auto b = svc->send(w.take());
      b->set_value(std::make_shared<const V>(std::forward<T>(value)));
      return shared<V>(std::move(b));
    }
  }

  /// share() for `n` elements of type E written in place by `fill(std::span<E>)`: on an MPI
  /// executor straight into the root's node window, so a large input is never held twice
  /// (svd_batch builds its stack this way). Throws as share(), and what `fill` throws.
  template <class E, class Fill>
  shared<std::vector<E>> share_array(std::size_t n, Fill&& fill) {
    static_assert(detail::raw_bytes<E>, "rankpool: share_array takes a plain element type");
    detail::share_service* svc = Remote ? core().sharing() : nullptr;
    if (!svc) {
      std::vector<E> v(n);
      fill(std::span<E>(v));
      return share(std::move(v));
    }
    return shared<std::vector<E>>(
        svc->place(n * sizeof(E), n, 0, [&](char* to) { fill(std::span<E>(reinterpret_cast<E*>(to), n)); }));
  }

  /// Encoded bytes an automatic chunk aims at, at most (MPI executors); see auto_chunksize.
  static constexpr std::size_t auto_chunk_bytes = detail::auto_chunk_bytes;

  /// The chunk size `map` uses for chunksize 0, for `n` elements (0: unknown) and `workers`
  /// workers: about 16 chunks per worker, at most 8192 elements, 64 for an input of unknown
  /// size; on an MPI executor also at most about auto_chunk_bytes of encoded input, judged by
  /// the first element (detail/map_builder.hpp gives the measurements).
  static std::size_t auto_chunksize(std::size_t n, std::size_t workers) { return detail::auto_chunksize(n, workers); }

  /// Takes no new tasks, as Executor.shutdown: `cancel_futures` cancels the tasks not yet
  /// started (wherever they wait), `wait` blocks until the running ones end. Idempotent; after
  /// it, submit throws invalid_state_error and num_workers() is 0. Does nothing on a rank that
  /// is not the root.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    if (!core_) return;
    dependencies_->close();
    // Tasks waiting for input futures start (or are cancelled) first: their inputs are, as a
    // rule, this pool's own tasks, which need the pool to finish.
    if (cancel_futures)
      dependencies_->cancel_all();
    else if (wait)
      dependencies_->wait_empty();
    core_->shutdown(wait, cancel_futures);
  }

  /// Stops every worker now, as ProcessPoolExecutor.terminate_workers() (Python 3.14): tasks
  /// waiting for their input futures are cancelled, and every other unfinished future (queued,
  /// sent ahead, running) fails with broken_executor at once; a running task is asked to stop (stop_requested()
  /// turns true) and, where its worker isolates tasks, its process gets SIGTERM. Then the
  /// executor is shut down: submit throws invalid_state_error, num_workers() is 0. It returns
  /// once every worker has answered for its tasks: at once for isolated tasks; an unisolated
  /// task ends when it notices the stop or finishes (MPI cannot take a rank's thread away
  /// without MPI_Abort, which rankpool never calls). A thread_executor's threads cannot be
  /// stopped either: it returns at once, and the destructor joins them. Does nothing on a rank
  /// that is not the root, and after shutdown.
  void terminate_workers() { stop_workers_now(SIGTERM); }

  /// terminate_workers(), with SIGKILL for isolated tasks' processes (a task that handles or
  /// ignores SIGTERM still ends).
  void kill_workers() { stop_workers_now(SIGKILL); }

  /// How many workers execute tasks; 0 after shutdown, on a broken executor, and on a rank
  /// that is not the root.
  std::size_t num_workers() const noexcept { return core_ ? core_->num_workers() : 0; }

 protected:
  basic_executor() = default;
  /// shutdown(wait = true); never throws.
  ~basic_executor() {
    try {
      shutdown(true);
    } catch (...) {  // a destructor never throws; shutdown's own errors are already on the futures
    }
  }

  /// The pool; throws invalid_state_error on a rank that holds none.
  detail::executor_core& core() {
    if (!core_) throw invalid_state_error("rankpool: this executor has no pool on this rank (it is not the root)");
    return *core_;
  }

  /// Set by the derived executor's constructor: the pool (null on a rank that is not the root).
  std::unique_ptr<detail::executor_core> core_;
  /// The result journal of executor_options::journal, if any.
  std::shared_ptr<detail::journal> journal_;
  /// Numbers the values share() keeps in this process (a pool of local threads).
  std::atomic<std::uint64_t> local_shares_{0};
  /// executor_options::retries and retry_if (null: none), set by the derived executor.
  std::shared_ptr<const detail::retry_rule> retries_;
  /// Tasks waiting for their input futures (submit and map with future arguments).
  std::shared_ptr<detail::dependency_board> dependencies_ = std::make_shared<detail::dependency_board>();

 private:
  void stop_workers_now(int signal) {
    if (!core_) return;
    dependencies_->close();
    dependencies_->cancel_all();
    core_->terminate(signal);
  }

  // Builds the task of `f(args...)` (no futures among them) for the state `s` and hands it to
  // the pool, or completes `s` from the journal.
  template <class R, class F, class... Args>
  void submit_state(const submit_options& o, std::shared_ptr<detail::shared_state<R>> s, F&& f, Args&&... args) {
    auto t = std::make_unique<detail::call_task<R, std::decay_t<F>, std::decay_t<Args>...>>(
        s, std::forward<F>(f), std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
    t->priority = o.priority;
    t->retry = retry_rule_for(o.retries);
    hand_over(std::move(t), *s);
  }

  // Completes `s` from the journal when a previous run finished task `t`, or hands `t` to the
  // pool.
  template <class Task, class State>
  void hand_over(std::unique_ptr<Task> t, State& s) {
    if constexpr (Remote) {
      if (journal_ && detail::replay_or_record(*t, s, journal_)) return;
    }
    detail::prepare_task<Remote>(core(), *t);
    std::vector<detail::task_ptr> one;
    one.push_back(std::move(t));
    core().submit(one);
  }

  // map with map_options::buffersize: the input is read as results are taken
  // (detail::lazy_map_input), at most buffersize chunks ahead of the consumer.
  template <class F, class Range>
  auto map_lazily(F&& f, Range&& range, const map_options& o) {
    using X = std::decay_t<std::ranges::range_reference_t<Range>>;
    using Fn = std::decay_t<F>;
    using R = std::invoke_result_t<Fn&, X&&>;
    using chunk_t = std::vector<detail::outcome<R>>;
    check_sendable<Fn, R, X>();
    if (*o.buffersize == 0) throw std::invalid_argument("rankpool: map_options::buffersize must be at least 1");
    using View = std::views::all_t<Range>;
    auto in = std::make_shared<detail::lazy_map_input<Remote, Fn, X, View>>(std::views::all(std::forward<Range>(range)),
                                                                            core(), std::forward<F>(f), o, journal_,
                                                                            retry_rule_for(std::nullopt));
    auto& b = in->chunks();
    return map_range<R>([in](std::vector<future<chunk_t>>& out) { return in->next(out); }, *o.buffersize, o.unordered,
                        b.deadline(), b.display(), b.journaled());
  }

  // map over a range of futures: chunks of `o.chunksize` elements (0: automatic), each a task
  // that starts once its elements are done (detail::waiting_chunk).
  template <class Fn, class Range>
  auto map_after(Fn fn, Range&& range, const map_options& o) {
    using U = typename std::decay_t<std::ranges::range_reference_t<Range>>::value_type;
    using R = std::invoke_result_t<Fn&, U&&>;
    using chunk_t = std::vector<detail::outcome<R>>;
    check_sendable<Fn, R, U>();
    std::size_t n = 0;
    if constexpr (std::ranges::sized_range<Range>) n = static_cast<std::size_t>(std::ranges::size(range));
    const std::size_t chunk = o.chunksize ? o.chunksize : auto_chunksize(n, core().num_workers());
    if (dependencies_->closed()) throw invalid_state_error("rankpool: cannot map after shutdown");
    auto launch = [this, fn, priority = o.priority](std::shared_ptr<detail::shared_state<chunk_t>> st,
                                                    std::vector<U> values) {
      auto t = std::make_unique<detail::chunk_task<R, Fn, U>>(st, fn, std::move(values));
      t->priority = priority;
      t->retry = retry_rule_for(std::nullopt);
      hand_over(std::move(t), *st);
    };
    std::vector<future<chunk_t>> chunks;
    std::vector<future<U>> inputs;
    auto end_chunk = [&] {
      auto st = std::make_shared<detail::shared_state<chunk_t>>();
      chunks.emplace_back(st);
      auto w = std::make_shared<detail::waiting_chunk<R, U, decltype(launch)>>(std::move(st), std::move(inputs), launch,
                                                                               dependencies_);
      inputs = {};
      w->watch();
    };
    for (auto&& x : range) {
      if (!x.valid()) throw invalid_state_error("rankpool: map over an invalid future");
      inputs.push_back(x);
      if (inputs.size() == chunk) end_chunk();
    }
    if (!inputs.empty()) end_chunk();
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (o.timeout) deadline = detail::deadline_after(*o.timeout);
    return map_range<R>(std::move(chunks), o.unordered, deadline, nullptr, journal_ != nullptr);
  }

  // The retries of a task: `per_call` (submit_options::retries) with the executor's retry_if,
  // or the executor's own; null when there are none.
  std::shared_ptr<const detail::retry_rule> retry_rule_for(std::optional<std::size_t> per_call) const {
    if (!per_call) return retries_ && retries_->retries > 0 ? retries_ : nullptr;
    if (*per_call == 0) return nullptr;
    if (retries_ && retries_->retries == *per_call) return retries_;
    return std::make_shared<const detail::retry_rule>(
        detail::retry_rule{*per_call, retries_ ? retries_->retry_if : decltype(detail::retry_rule::retry_if){}});
  }

  template <class Fn, class R, class... A>
  static constexpr void check_sendable() {
    if constexpr (Remote) {
      // Each require_* reports its own failure, naming the type; these only instantiate them.
      static_assert(detail::require_sendable_callable<Fn>::value,
                    "rankpool: the callable must be one a worker can rebuild (see the error above)");
      static_assert((detail::require_sendable<A>::value && ... && true),
                    "rankpool: every argument type must be sendable (see the error above)");
      if constexpr (!std::is_void_v<R>)
        static_assert(detail::require_sendable_result<R>::value,
                      "rankpool: the result type must be sendable (see the error above)");
    }
  }
};

namespace detail {
/// The interface's earlier name, kept for code that still uses it.
template <bool Remote>
using basic_executor = rankpool::basic_executor<Remote>;
}  // namespace detail

}  // namespace rankpool
