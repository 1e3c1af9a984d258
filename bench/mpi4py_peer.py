"""mpi4py.futures peer of rankpool-bench: the same workloads on MPIPoolExecutor, printed as
JSON lines with the same fields and "impl": "mpi4py.futures".

    mpiexec -n 2 /usr/bin/python3 -m mpi4py.futures bench/mpi4py_peer.py [--runs R] [--quick] BENCH...

BENCH: latency submit map bandwidth scrypt svd granularity (or all). Rank 0 runs this script and prints;
the other ranks are mpi4py.futures' workers. Sizes follow rankpool-bench, except where
mpi4py.futures is too slow for them to finish in reasonable time (submit: 20k tasks); the
figures are rates, so the task count only affects how long a run takes.
p99 is the tail in the bad direction, as in rankpool-bench: the 99th percentile of times, the
rate of the 99th-percentile run for rates.
"""

import argparse
import hashlib
import json
import math
import sys
import time

import numpy as np
from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor

SCRYPT = dict(salt=b"rankpool-bench", n=128, r=1024, p=8, dklen=64)
SVD_ROWS, SVD_COLS, SVD_CHUNKSIZE = 1000, 10, 50
MIB = 1 << 20


# Task functions: module level, so workers find them by name.
def noop():
    pass


def identity(x):
    return x


def payload_size(b):
    return len(b)


def busy_wait(us):
    """Busy until this thread has used `us` µs of CPU. rankpool-bench's busy_wait does calibrated
    work instead of reading a clock; here a loop step costs more than a clock read, and the pool's
    per-task cost (hundreds of µs) dwarfs either."""
    until = time.thread_time() + us * 1e-6
    while time.thread_time() < until:
        pass
    return us


def scrypt_hash(password):
    return hashlib.scrypt(password, **SCRYPT)


def singular_values(m):
    return np.linalg.svd(m, compute_uv=False)


def summarize(values, higher_is_better):
    v = sorted(values)
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    rank99 = math.ceil(0.99 * n)
    p99 = v[n - rank99] if higher_is_better else v[rank99 - 1]
    return dict(median=median, p99=p99, min=v[0], max=v[-1])


def emit(bench, workers, values, higher_is_better, unit, runs, **params):
    rec = dict(bench=bench, impl="mpi4py.futures", ranks=MPI.COMM_WORLD.Get_size(), workers=workers)
    rec.update({k: float(f"{x:.6g}") for k, x in summarize(values, higher_is_better).items()})
    rec.update(unit=unit, runs=runs)
    rec.update(params)
    print(json.dumps(rec), flush=True)


def round_trips(ex, n):
    us = []
    for _ in range(n):
        t0 = time.perf_counter()
        ex.submit(noop).result()
        us.append((time.perf_counter() - t0) * 1e6)
    return us


def bench_latency(ex, a):
    iters = 500 if a.quick else 5000
    round_trips(ex, iters // 10)
    us = []
    for _ in range(a.runs):
        us += round_trips(ex, iters)
    emit("latency", a.workers, us, False, "us", a.runs, iterations=iters)


def bench_submit(ex, a):
    tasks = 2000 if a.quick else 20000
    rates = []
    for r in range(-1, a.runs):
        t0 = time.perf_counter()
        fs = [ex.submit(identity, i) for i in range(tasks)]
        total = sum(f.result() for f in fs)
        elapsed = time.perf_counter() - t0
        assert total == tasks * (tasks - 1) // 2
        if r >= 0:
            rates.append(tasks / elapsed)
    emit("submit", a.workers, rates, True, "tasks/s", a.runs, tasks=tasks)


def bench_map(ex, a):
    tasks, chunksize = (100_000 if a.quick else 1_000_000), 1000
    rates = []
    for r in range(-1, a.runs):
        t0 = time.perf_counter()
        total = sum(ex.map(identity, range(tasks), chunksize=chunksize))
        elapsed = time.perf_counter() - t0
        assert total == tasks * (tasks - 1) // 2
        if r >= 0:
            rates.append(tasks / elapsed)
    emit("map", a.workers, rates, True, "tasks/s", a.runs, tasks=tasks, chunksize=chunksize)


def bench_bandwidth(ex, a):
    iters = 40 if a.quick else 400
    payload = b"x" * MIB
    rates = []
    for r in range(-1, a.runs):
        t0 = time.perf_counter()
        for _ in range(iters):
            assert ex.submit(payload_size, payload).result() == MIB
        elapsed = time.perf_counter() - t0
        if r >= 0:
            rates.append(iters * MIB / elapsed / 1e6)
    emit("bandwidth", a.workers, rates, True, "MB/s", a.runs, bytes=MIB, iterations=iters, payload="bytes")


def bench_scrypt(ex, a):
    count = 8 if a.quick else 32
    passwords = [f"password-{i}".encode() for i in range(count)]
    seconds, digests = [], None
    for _ in range(a.runs):
        t0 = time.perf_counter()
        got = list(ex.map(scrypt_hash, passwords, chunksize=1))
        seconds.append(time.perf_counter() - t0)
        assert digests is None or got == digests
        digests = got
    emit("scrypt", a.workers, seconds, False, "s", a.runs, count=count, n=SCRYPT["n"], r=SCRYPT["r"],
         p=SCRYPT["p"], dklen=SCRYPT["dklen"], digest0=digests[0][:8].hex(), chunksize=1)


def bench_svd(ex, a):
    count = 400 if a.quick else 4000
    mats = np.random.default_rng(12345).uniform(-1, 1, size=(count, SVD_ROWS, SVD_COLS))
    seconds = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        got = list(ex.map(singular_values, mats, chunksize=SVD_CHUNKSIZE))
        seconds.append(time.perf_counter() - t0)
        assert len(got) == count
    emit("svd", a.workers, seconds, False, "s", a.runs, count=count, rows=SVD_ROWS, cols=SVD_COLS,
         chunksize=SVD_CHUNKSIZE)


GRID = (1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 200, 300, 500, 700, 1000)
QUICK_GRID = (1, 200, 1000)


def granularity_tasks(a, d):
    # As rankpool-bench (about 0.2 s of busy time per worker), but at most 2000 tasks (200 with
    # --quick): at a few thousand tasks/s more would take minutes and change nothing.
    n = int((0.01 if a.quick else 0.2) * 1e6 / d) * a.workers
    return max(16 * a.workers, min(n, 200 if a.quick else 2000))


def bench_granularity(ex, a):
    grid = a.grid or (QUICK_GRID if a.quick else GRID)
    effs = {("submit", d): [] for d in grid} | {("map", d): [] for d in grid}
    for _ in range(a.runs):
        for d in grid:
            n = granularity_tasks(a, d)
            # map's chunksize as rankpool's automatic one: about 16 chunks per worker.
            chunksize = max(1, -(-n // (16 * a.workers)))
            for api in ("submit", "map"):
                t0 = time.perf_counter()
                if api == "submit":
                    got = sum(f.result() for f in [ex.submit(busy_wait, d) for _ in range(n)])
                else:
                    got = sum(ex.map(busy_wait, [d] * n, chunksize=chunksize))
                elapsed = time.perf_counter() - t0
                assert got == n * d
                effs[(api, d)].append(n * d * 1e-6 / (a.workers * elapsed))
    for (api, d), values in effs.items():
        emit("granularity", a.workers, values, True, "efficiency", a.runs, api=api, d_us=d,
             tasks=granularity_tasks(a, d))


BENCHES = dict(latency=bench_latency, submit=bench_submit, map=bench_map, bandwidth=bench_bandwidth,
               scrypt=bench_scrypt, svd=bench_svd, granularity=bench_granularity)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    p.add_argument("--grid", type=lambda t: [int(x) for x in t.split(",")], default=None,
                   help="granularity: task lengths in µs (comma-separated) instead of the default sweep")
    p.add_argument("benches", nargs="+", choices=[*BENCHES, "all"])
    a = p.parse_args()
    if a.runs < 1:
        p.error("--runs must be positive")
    names = list(BENCHES) if "all" in a.benches else a.benches
    a.workers = MPI.COMM_WORLD.Get_size() - 1
    if a.workers < 1:
        sys.exit("mpi4py_peer: run under mpiexec -n 2 (or more) with -m mpi4py.futures")
    for name in names:
        # One executor per benchmark, as rankpool-bench builds one pool per benchmark; the
        # first task starts it, outside the timed part.
        with MPIPoolExecutor() as ex:
            ex.submit(noop).result()
            BENCHES[name](ex, a)


if __name__ == "__main__":
    main()
