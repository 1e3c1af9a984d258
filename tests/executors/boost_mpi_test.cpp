// rankpool inside a Boost.MPI program: the program owns MPI through boost::mpi::environment
// (asking for threading::multiple, no rankpool::environment), splits its world with
// communicator::split, runs one comm_executor on each half at the same time (a
// boost::mpi::communicator converts to MPI_Comm), and after the pools are gone does its own
// Boost.MPI collectives and serialized point-to-point messages on the same ranks. Run at 4 and
// 5 ranks (halves of 2 and 2, 3 and 2). Exits 0 on every rank when everything matched; a
// mismatch is printed by the rank that saw it and every rank exits 1.

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/mpi/operations.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <numeric>
#include <rankpool/rankpool.hpp>
#include <string>
#include <utility>
#include <vector>

namespace mpi = boost::mpi;

namespace {

int failures = 0;

void check(bool ok, int world_rank, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "boost_mpi_test: rank %d: MISMATCH: %s\n", world_rank, what.c_str());
  ++failures;
}

int square(int x) {
  return x * x;
}

// The world rank of the worker that ran the task, read through Boost.MPI on the worker: shows
// which half's ranks a pool used.
int world_rank_of_worker(int) {
  return mpi::communicator{}.rank();
}

// Carries the half's colour into the task, so each pool's results differ from the other's.
long tag_with_colour(int colour, int x) {
  return 1000L * colour + x;
}

// A message of the application's own, sent with Boost.Serialization (not an MPI datatype).
struct ring_note {
  int from = -1;
  std::string text;
  std::vector<double> values;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& from& text& values;
  }
};

ring_note note_from(int rank) {
  return {rank, "from rank " + std::to_string(rank),
          std::vector<double>(static_cast<std::size_t>(rank) + 3, rank + 0.5)};
}

// What the root of half `colour` sums from its pool (tasks below); the same formula on every
// rank, so the world can check the two pools' sums with one all_reduce.
long expected_pool_total(int colour) {
  long total = 0;
  for (int x = 0; x < 50; ++x) total += tag_with_colour(colour, x);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  // The program owns MPI: Boost.MPI initializes and finalizes it. A pool of more than one rank
  // needs MPI_THREAD_MULTIPLE (its root's progress thread calls MPI while main runs).
  mpi::environment env(argc, argv, mpi::threading::multiple);
  mpi::communicator world;
  const int rank = world.rank(), size = world.size();
  check(mpi::environment::thread_level() == mpi::threading::multiple, rank,
        "Boost.MPI environment did not get threading::multiple");

  const int colour = rank % 2;
  // Outlives the pool below (Boost frees a split communicator when its last copy goes); the
  // pool itself works on a duplicate, so `half` stays the program's own.
  mpi::communicator half = world.split(colour);
  const int half_size = size / 2 + (colour == 0 ? size % 2 : 0);
  check(half.size() == half_size, rank,
        "half " + std::to_string(colour) + " has " + std::to_string(half.size()) + " ranks");

  long pool_total = 0;  // what this rank's pool computed (0 on workers)
  try {
    // Both halves build their pools at once; the workers of each half serve inside this
    // constructor until their root's pool shuts down, then go on below.
    rankpool::comm_executor pool(half);
    if (pool.is_root()) {
      check(rank == colour, rank,
            "root of half " + std::to_string(colour) + " is not world rank " + std::to_string(colour));
      check(pool.submit(square, 12).result() == 144, rank, "submit(square, 12)");
      check(pool.submit(tag_with_colour, colour, 7).result() == 1000L * colour + 7, rank, "submit(tag_with_colour)");
      std::vector<int> xs(50);
      std::iota(xs.begin(), xs.end(), 0);
      int i = 0;
      for (long v : pool.map(rankpool::partial(tag_with_colour, colour), xs, {.chunksize = 4})) {
        check(v == 1000L * colour + i, rank, "map element " + std::to_string(i) + " is " + std::to_string(v));
        pool_total += v;
        ++i;
      }
      check(i == 50, rank, "map gave " + std::to_string(i) + " results");
      for (int r : pool.map(world_rank_of_worker, std::vector<int>(40, 0))) {
        check(r % 2 == colour && r != rank, rank,
              "a task of half " + std::to_string(colour) + " ran on world rank " + std::to_string(r));
      }
    }
  } catch (const std::exception& e) {
    // Leaving the pool's scope ran its destructor, which releases this half's workers: every
    // rank still reaches the world's collectives below, so a failure ends in exit 1, not a hang.
    check(false, rank, std::string("pool: ") + e.what());
  }

  // The application's own Boost.MPI work on the same ranks, after the pools.
  // all_reduce: a value each rank computed itself, and the two pools' sums.
  const int mine = square(rank + 1);
  const int squares = mpi::all_reduce(world, mine, std::plus<int>());
  check(squares == size * (size + 1) * (2 * size + 1) / 6, rank, "all_reduce of squares: " + std::to_string(squares));
  const long pools = mpi::all_reduce(world, pool_total, std::plus<long>());
  check(pools == expected_pool_total(0) + expected_pool_total(1), rank,
        "all_reduce of pool totals: " + std::to_string(pools));

  // broadcast of a string and a vector from rank 0.
  std::string greeting;
  std::vector<int> table;
  if (rank == 0) {
    greeting = "rankpool inside Boost.MPI, " + std::to_string(size) + " ranks";
    table = {3, 1, 4, 1, 5, 9, 2, 6};
  }
  mpi::broadcast(world, greeting, 0);
  mpi::broadcast(world, table, 0);
  check(greeting == "rankpool inside Boost.MPI, " + std::to_string(size) + " ranks", rank,
        "broadcast string: " + greeting);
  check(table == std::vector<int>{3, 1, 4, 1, 5, 9, 2, 6}, rank, "broadcast vector");

  // gather of each rank's colour and rank in its half.
  std::vector<std::pair<int, int>> where;
  mpi::gather(world, std::make_pair(colour, half.rank()), where, 0);
  if (rank == 0) {
    check(static_cast<int>(where.size()) == size, rank, "gather size");
    for (int r = 0; r < static_cast<int>(where.size()); ++r) {
      const auto [c, hr] = where[static_cast<std::size_t>(r)];
      check(c == r % 2 && hr == r / 2, rank,
            "gather: rank " + std::to_string(r) + " reported colour " + std::to_string(c) + ", half rank " +
                std::to_string(hr));
    }
  }

  // A ring of serialized messages: each rank sends to (rank + 1) % size. Even ranks send first
  // and odd ranks receive first, so a blocking send never waits on a rank that is itself
  // blocked sending (also with an odd size, where the last even rank sends to rank 0).
  const int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  ring_note got;
  if (rank % 2 == 0) {
    world.send(next, 7, note_from(rank));
    world.recv(prev, 7, got);
  } else {
    world.recv(prev, 7, got);
    world.send(next, 7, note_from(rank));
  }
  const ring_note want = note_from(prev);
  check(got.from == want.from && got.text == want.text && got.values == want.values, rank,
        "ring message from rank " + std::to_string(prev) + " (got from=" + std::to_string(got.from) + ")");

  // And a collective on the half the pool used (rankpool left the communicator usable).
  const int half_sum = mpi::all_reduce(half, rank, std::plus<int>());
  int want_half = 0;
  for (int r = colour; r < size; r += 2) want_half += r;
  check(half_sum == want_half, rank, "all_reduce on half " + std::to_string(colour) + ": " + std::to_string(half_sum));

  const int any = mpi::all_reduce(world, failures, mpi::maximum<int>());
  if (any == 0 && rank == 0)
    std::printf("boost_mpi_test: %d ranks, pools on halves of %d and %d, Boost.MPI collectives and ring: all matched\n",
                size, size / 2 + size % 2, size / 2);
  return any == 0 ? 0 : 1;
}
