#!/usr/bin/env python3
"""Checks scrypt_batch against Python's hashlib.scrypt on random passwords.

Writes ~40 random passwords (empty, ASCII, UTF-8, long, with NUL and inner CR bytes) one per line,
runs scrypt_batch on them under mpiexec, and compares its output line by line with
hashlib.scrypt(...).hex(). Exits 0 on a match, 1 on a mismatch or failure, and 77 (ctest's
SKIP_RETURN_CODE) when this Python's hashlib has no scrypt.

    scrypt_check.py --mpiexec=mpiexec --exe=build/examples/scrypt_batch --ranks=3 \
        --preflag=--oversubscribe --salt=NaCl --n=1024 --r=8 --p=1 --dklen=64
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile

SKIP = 77


def random_passwords(rng: random.Random, count: int) -> list[bytes]:
    alphabet = [chr(c) for c in range(0x20, 0x7F)] + list("äöüßéñçøåÆ€日本語한국어пароль🔑🔒\t")
    fixed = [
        "",
        "password",
        "pässwörd",
        "日本語のパスワード",
        "🔑🔒 emoji",
        " leading and trailing spaces ",
        "inner\rcarriage return",  # only a trailing \r is stripped
        "nul\x00byte",
        "x" * 10000,
        "".join(rng.choice(alphabet) for _ in range(3000)),
    ]
    out = [s.encode("utf-8") for s in fixed]
    while len(out) < count:
        length = rng.choice([0, 1, 2, 8, 16, 33, 64, 65, 128, 200, 1000])
        out.append("".join(rng.choice(alphabet) for _ in range(length)).encode("utf-8"))
    rng.shuffle(out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--numproc-flag", default="-n")
    ap.add_argument("--ranks", type=int, default=3)
    ap.add_argument("--preflag", action="append", default=[], help="mpiexec flag before the program (repeatable)")
    ap.add_argument("--postflag", action="append", default=[], help="mpiexec flag after the program (repeatable)")
    ap.add_argument("--exe", required=True, help="the scrypt_batch executable")
    salt = ap.add_mutually_exclusive_group()
    salt.add_argument("--salt", help="salt as a string (UTF-8)")
    salt.add_argument("--salt-hex", help="salt as hex")
    ap.add_argument("--n", type=int, default=None, help="scrypt N (default: scrypt_batch's default, 16384)")
    ap.add_argument("--r", type=int, default=None, help="default 8")
    ap.add_argument("--p", type=int, default=None, help="default 1")
    ap.add_argument("--dklen", type=int, default=None, help="default 64")
    ap.add_argument("--chunksize", type=int, default=None)
    ap.add_argument("--count", type=int, default=40, help="number of passwords")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: fresh, printed)")
    ap.add_argument("--stdin", action="store_true", help="feed the passwords on stdin instead of a file argument")
    ap.add_argument("--timeout", type=float, default=150.0)
    a = ap.parse_args()

    if not hasattr(hashlib, "scrypt"):
        print("skipped: this Python's hashlib has no scrypt", file=sys.stderr)
        return SKIP

    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"seed {seed} (rerun with --seed={seed})")
    rng = random.Random(seed)
    passwords = random_passwords(rng, a.count)

    args: list[str] = []
    if a.salt is not None:
        args += ["--salt", a.salt]
        salt_bytes = a.salt.encode("utf-8")
    elif a.salt_hex is not None:
        args += ["--salt-hex", a.salt_hex]
        salt_bytes = bytes.fromhex(a.salt_hex)
    else:
        salt_bytes = b""
    for flag, value in (("-n", a.n), ("-r", a.r), ("-p", a.p), ("--dklen", a.dklen), ("--chunksize", a.chunksize)):
        if value is not None:
            args += [flag, str(value)]
    n = a.n if a.n is not None else 16384
    r = a.r if a.r is not None else 8
    p = a.p if a.p is not None else 1
    dklen = a.dklen if a.dklen is not None else 64

    # A last line without "\n" must count too, unless it is empty (then there is no line at all).
    trailing_newline = rng.random() < 0.5 or passwords[-1] == b""
    data = b"\n".join(passwords) + (b"\n" if trailing_newline else b"")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "passwords.txt")
        with open(path, "wb") as f:
            f.write(data)
        cmd = [a.mpiexec, a.numproc_flag, str(a.ranks), *a.preflag, a.exe, *a.postflag, *args]
        if not a.stdin:
            cmd.append(path)
        print("running:", " ".join(cmd), "< " + path if a.stdin else "", f"({len(passwords)} passwords)")
        with open(path if a.stdin else os.devnull, "rb") as stdin:
            try:
                proc = subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=a.timeout)
            except subprocess.TimeoutExpired:
                print(f"FAIL: no result after {a.timeout} s", file=sys.stderr)
                return 1

    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        print(f"FAIL: exit status {proc.returncode}\n--- stderr:\n{stderr}", file=sys.stderr)
        return 1

    expected = [hashlib.scrypt(pw, salt=salt_bytes, n=n, r=r, p=p, dklen=dklen, maxmem=2**31 - 1).hex()
                for pw in passwords]
    got = proc.stdout.decode("ascii", "replace").split("\n")
    if got[-1] != "":
        print("FAIL: output does not end with a newline", file=sys.stderr)
        return 1
    got.pop()
    failures = 0
    for i, (want, have) in enumerate(zip(expected, got)):
        if want != have:
            failures += 1
            if failures <= 5:
                print(f"FAIL: line {i + 1}, password {passwords[i][:60]!r}: expected {want}, got {have}",
                      file=sys.stderr)
    if len(got) != len(expected):
        failures += 1
        print(f"FAIL: {len(got)} output lines for {len(expected)} passwords", file=sys.stderr)
    if failures:
        print(f"--- stderr:\n{stderr}", file=sys.stderr)
        return 1
    print(f"ok: {len(expected)} digests match hashlib.scrypt(n={n}, r={r}, p={p}, dklen={dklen}, salt={salt_bytes!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
