#!/usr/bin/env python3
"""Checks that svd_batch's rank 0 holds the stack once (issue 13: root memory <= 1.1 S).

Runs the command given after '--' twice: on a generated stack (built straight in the node's
shared window) and on an .npy file of the same size (memory-mapped and copied into the window).
Each run prints rank 0's memory line; the growth over what the process held before the input
(MPI, the libraries, the started pool: a fixed 20-30 MB whatever the stack) must be at most
--limit times the input. A second copy of the stack anywhere on rank 0 shows as about 2x.
No NumPy needed: the .npy file is written by hand. Exit status 0 when both runs pass.

    svd_memory_check.py --count 800 --workdir /tmp/x -- mpiexec -n 3 build/examples/svd_batch
"""

import argparse
import array
import os
import re
import subprocess
import sys

ROWS, COLS = 1000, 10


def write_npy(path, count):
    """A float64 (count, ROWS, COLS) C-order .npy file of finite, varied values."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({count}, {ROWS}, {COLS}), }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    # One matrix of values, repeated: fast to write, and SVD of equal matrices is still work.
    matrix = array.array("d", (((i * 7919) % 1009) / 97.0 - 5.0 for i in range(ROWS * COLS)))
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1"))
        for _ in range(count):
            matrix.tofile(f)


def growth(command, what, limit):
    """Runs command; returns an error message, or None when rank 0 grew by at most limit x the input."""
    print("running:", " ".join(command), flush=True)
    run = subprocess.run(command, capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        return f"{what}: svd_batch exited with status {run.returncode}"
    m = re.search(r"^memory: .*grew ([0-9.]+) MB, ([0-9.]+) x the input", run.stdout, re.M)
    if not m:
        return f"{what}: no memory line with the growth in svd_batch's output"
    ratio = float(m.group(2))
    if ratio > limit:
        return f"{what}: rank 0 grew {m.group(1)} MB, {ratio} x the input, more than {limit} x (a second copy?)"
    print(f"svd_memory_check: {what}: rank 0 grew {ratio} x the input (limit {limit})", flush=True)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=800, help="matrices of 1000 x 10 (800: 64 MB)")
    p.add_argument("--limit", type=float, default=1.1, help="largest growth allowed, times the input")
    p.add_argument("--workdir", required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the svd_batch command after --")

    os.makedirs(args.workdir, exist_ok=True)
    stack = os.path.join(args.workdir, "stack.npy")
    write_npy(stack, args.count)
    shape = ["--count", str(args.count), "--rows", str(ROWS), "--cols", str(COLS)]
    errors = [e for e in (growth(command + shape + ["--no-progress"], "generated stack", args.limit),
                          growth(command + [stack, "--no-progress"], ".npy input", args.limit)) if e]
    os.remove(stack)
    for e in errors:
        print(f"svd_memory_check: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
