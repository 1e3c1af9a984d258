#!/usr/bin/env python3
"""Cross-checks svd_batch against NumPy.

Makes a random float64 (K, M, N) stack, runs the command given after '--' on it as
`COMMAND stack.npy -o out.npy` over an older out.npy, and compares out.npy with
numpy.linalg.svd(compute_uv=False); the file must be what numpy.save writes for the same array,
and no temporary file may be left beside it.
Exit status 0 when every singular value agrees within the tolerance, 1 otherwise.

    svd_check.py --shape 150 60 8 --workdir /tmp/x -- mpiexec -n 4 build/examples/svd_batch
"""

import argparse
import io
import os
import subprocess
import sys

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", nargs=3, type=int, metavar=("K", "M", "N"), default=[150, 60, 8])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", required=True)
    # Singular values are perfectly conditioned: a backward-stable SVD is off by a small multiple
    # of eps * sigma_max, whatever the algorithm (Jacobi here, LAPACK's gesdd in NumPy).
    p.add_argument("--tolerance", type=float, default=1e-12, help="relative to each matrix's largest singular value")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the svd_batch command after --")

    k, m, n = args.shape
    os.makedirs(args.workdir, exist_ok=True)
    stack_path = os.path.join(args.workdir, "stack.npy")
    out_path = os.path.join(args.workdir, "singular_values.npy")
    # An existing output is replaced whole (svd_batch writes a temporary file, then renames it).
    with open(out_path, "wb") as f:
        f.write(b"an older file, to be replaced\n" * 100)

    rng = np.random.default_rng(args.seed)
    a = rng.standard_normal((k, m, n))
    # Scales spread over twelve orders of magnitude, and a rank-deficient matrix, so that the
    # tolerance is tested relative to each matrix and zero singular values occur.
    a *= np.logspace(-6, 6, k)[:, None, None]
    a[0, :, -1] = a[0, :, 0]
    np.save(stack_path, a)

    print("running:", " ".join(command + [stack_path, "-o", out_path]), flush=True)
    run = subprocess.run(command + [stack_path, "-o", out_path])
    if run.returncode != 0:
        print(f"svd_check: svd_batch exited with status {run.returncode}", file=sys.stderr)
        return 1

    left = [n for n in os.listdir(args.workdir) if n.startswith(".singular_values.npy.")]
    if left:
        print(f"svd_check: temporary files left behind: {left}", file=sys.stderr)
        return 1
    got = np.load(out_path)
    # The very bytes NumPy itself writes for this array (header, padding and data).
    saved = io.BytesIO()
    np.save(saved, got)
    with open(out_path, "rb") as f:
        if f.read() != saved.getvalue():
            print("svd_check: the output's bytes differ from numpy.save of the same array", file=sys.stderr)
            return 1
    want = np.linalg.svd(a, compute_uv=False)
    if got.dtype != np.float64 or got.shape != want.shape:
        print(f"svd_check: got {got.dtype} {got.shape}, expected float64 {want.shape}", file=sys.stderr)
        return 1
    if np.any(got < 0) or np.any(np.diff(got, axis=1) > 0):
        print("svd_check: singular values are not non-negative and in decreasing order", file=sys.stderr)
        return 1
    err = np.abs(got - want) / want[:, :1]
    worst = np.unravel_index(np.argmax(err), err.shape)
    print(f"svd_check: {k} matrices of {m} x {n}: max relative difference {err.max():.3g} "
          f"(matrix {worst[0]}, value {worst[1]}), tolerance {args.tolerance:g}")
    if not err.max() <= args.tolerance:
        print(f"svd_check: matrix {worst[0]}: svd_batch {got[worst[0]]} vs numpy {want[worst[0]]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
