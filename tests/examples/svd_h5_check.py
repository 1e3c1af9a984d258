#!/usr/bin/env python3
"""Cross-checks svd_batch's HDF5 datasets against h5py and NumPy.

Writes stacks with h5py (float64 in a nested group, chunked and gzip-compressed; float32), runs
the command given after '--' as `COMMAND in.h5:/path -o out.h5:/path` (over an older out.h5,
which must be replaced whole), reads the results back with h5py and compares them with
numpy.linalg.svd(compute_uv=False). Also crosses formats: the same stack as .npy in, HDF5 out,
and HDF5 in, .npy out, must give the very same values.
Exit status 0 when everything agrees, 1 otherwise.

    svd_h5_check.py --workdir /tmp/x -- mpiexec -n 3 build/ci/examples/svd_batch
    svd_h5_check.py --write-fixtures DIR   # the malformed files svd_batch's bad-input tests use
"""

import argparse
import os
import subprocess
import sys

import h5py
import numpy as np

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"svd_h5_check: FAILED: {what}", file=sys.stderr)


def run(command, *args):
    line = command + list(args)
    print("running:", " ".join(line), flush=True)
    return subprocess.run(line).returncode


def stack(seed, k=40, m=30, n=6):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m, n))
    a *= np.logspace(-4, 4, k)[:, None, None]  # scales apart, so the tolerance is per matrix
    a[0, :, -1] = a[0, :, 0]  # a rank-deficient matrix: a zero singular value
    return a


def agrees(got, a, tolerance=1e-12):
    want = np.linalg.svd(a, compute_uv=False)
    if got.dtype != np.float64 or got.shape != want.shape:
        print(f"svd_h5_check: got {got.dtype} {got.shape}, expected float64 {want.shape}", file=sys.stderr)
        return False
    err = np.abs(got - want) / want[:, :1]
    print(f"svd_h5_check: {a.shape}: max relative difference {err.max():.3g}")
    return bool(err.max() <= tolerance)


def write_fixtures(d):
    os.makedirs(d, exist_ok=True)
    with h5py.File(os.path.join(d, "good.h5"), "w") as f:
        f.create_dataset("data/stack", data=stack(1, 4, 3, 2))
        f.create_dataset("matrix", data=np.ones((4, 5)))
        f.create_dataset("ints", data=np.ones((2, 3, 3), dtype=np.int32))
        f.create_dataset("empty_cols", shape=(2, 3, 0), dtype=np.float64)
    with open(os.path.join(d, "notes.h5"), "w") as f:
        f.write("not an HDF5 file\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir")
    p.add_argument("--write-fixtures", metavar="DIR")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.write_fixtures:
        write_fixtures(args.write_fixtures)
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or not args.workdir:
        p.error("give --workdir and the svd_batch command after --")
    w = args.workdir
    os.makedirs(w, exist_ok=True)

    # float64, nested group, chunked and compressed; the output replaces an older file whole.
    a = stack(7)
    src = os.path.join(w, "in.h5")
    with h5py.File(src, "w") as f:
        f.create_dataset("run/stacks/a", data=a, chunks=(5, 30, 6), compression="gzip")
        f.create_dataset("b32", data=a.astype(np.float32))
    out = os.path.join(w, "out.h5")
    with h5py.File(out, "w") as f:
        f.create_dataset("stale", data=np.zeros(3))
    check(run(command, f"{src}:/run/stacks/a", "-o", f"{out}:/results/sv") == 0, "float64 run exits 0")
    with h5py.File(out, "r") as f:
        check("stale" not in f, "the older output file is replaced whole")
        check("results/sv" in f, "the output holds /results/sv")
        got64 = f["results/sv"][()] if "results/sv" in f else np.zeros(0)
    check(agrees(got64, a), "float64 stack: singular values agree with NumPy")
    left = [n for n in os.listdir(w) if n.startswith(".out.h5.")]
    check(not left, f"no temporary file left beside the output ({left})")

    # float32 in: HDF5 converts to float64, so the result is NumPy's of the converted stack.
    out32 = os.path.join(w, "out32.h5")
    check(run(command, f"{src}:/b32", "-o", f"{out32}:/sv") == 0, "float32 run exits 0")
    with h5py.File(out32, "r") as f:
        check(agrees(f["sv"][()], a.astype(np.float32).astype(np.float64)), "float32 stack agrees with NumPy")

    # Across formats: .npy in, HDF5 out; HDF5 in, .npy out: the same values, bit for bit.
    npy_in = os.path.join(w, "in.npy")
    np.save(npy_in, a)
    from_npy = os.path.join(w, "from_npy.h5")
    to_npy = os.path.join(w, "to.npy")
    check(run(command, npy_in, "-o", f"{from_npy}:/sv") == 0, ".npy in, HDF5 out exits 0")
    check(run(command, f"{src}:/run/stacks/a", "-o", to_npy) == 0, "HDF5 in, .npy out exits 0")
    with h5py.File(from_npy, "r") as f:
        check(np.array_equal(f["sv"][()], got64), ".npy in gives the values HDF5 in gives")
    check(np.array_equal(np.load(to_npy), got64), ".npy out holds the values HDF5 out holds")

    if failures:
        print(f"svd_h5_check: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("svd_h5_check: all HDF5 checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
