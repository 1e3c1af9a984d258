#!/usr/bin/env python3
"""The progress bar on a real (pseudo-)terminal.

Runs `progress_test --demo slow` (a thread_executor map of 30 x 100 ms tasks on 2 threads,
~1.5 s) with its stdio on a pty of 72 columns and the default resolution (RANKPOOL_PROGRESS
unset), and checks what a user would see: redraws in place ("\\r" + line + "\\x1b[K"), none before
~0.5 s, at most ~10 a second, lines that fit the width, and a final "30/30" line ending in a
newline. Then `--demo fast` (a map that ends at once) must print no bar at all.

usage: progress_tty.py path/to/progress_test
"""

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time

COLUMNS = 72


def run_on_pty(exe, demo):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    env = dict(os.environ)
    env.pop("RANKPOOL_PROGRESS", None)
    env.pop("RANKPOOL_PROGRESS_INTERVAL", None)
    start = time.monotonic()
    proc = subprocess.Popen([exe, "--demo", demo], stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    chunks = []  # (seconds since start, bytes)
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append((time.monotonic() - start, data))
    rc = proc.wait(timeout=30)
    os.close(master)
    return rc, chunks


def fail(msg, out):
    print("FAIL:", msg)
    print("output was:", repr(out))
    sys.exit(1)


def main():
    exe = sys.argv[1]

    rc, chunks = run_on_pty(exe, "slow")
    out = b"".join(d for _, d in chunks).decode()
    elapsed = chunks[-1][0] if chunks else 0.0
    print(f"slow demo: rc={rc}, {len(out)} bytes in {elapsed:.2f} s")
    if rc != 0:
        fail(f"demo exited with {rc}", out)
    if "demo done: sum=465" not in out:
        fail("demo did not finish", out)
    # A pty turns "\n" into "\r\n"; every other "\r" starts a redraw.
    redraws = out.replace("\r\n", "\n").count("\r")
    if "\x1b[K" not in out:
        fail("no erase-line code", out)
    if redraws < 3:
        fail(f"only {redraws} redraws in a ~1.5 s map", out)
    first = next((t for t, d in chunks if b"\r" in d.replace(b"\r\n", b"\n")), None)
    if first is None or first < 0.4:
        fail(f"first redraw at {first} s: expected the ~0.5 s delay", out)
    # The periodic redraws (all but the final one) between the first and the end.
    rate = (redraws - 1) / max(elapsed - first + 0.1, 0.1)
    print(f"redraws: {redraws}, first at {first:.2f} s, {rate:.1f}/s after the delay")
    if rate > 12:
        fail(f"{rate:.1f} redraws a second: expected at most ~10", out)
    frames = [f for f in re.split(r"\r\n|\r|\n", out) if f]
    bars = [f.replace("\x1b[K", "") for f in frames if f.startswith("map")]
    if not bars:
        fail("no bar drawn", out)
    for b in bars:
        if len(b) > COLUMNS - 1:
            fail(f"line of {len(b)} columns on a {COLUMNS}-column terminal: {b!r}", out)
    final = bars[-1]
    if not re.match(r"map  \[#+\]  30/30  100%  \S+/s  elapsed 0:0\d$", final):
        fail(f"unexpected final line {final!r}", out)
    if not any(re.search(r"busy [0-2]/2", b) for b in bars[:-1]):
        fail("no busy count in the redraws", out)
    if not any("[#" in b or "[." in b for b in bars[:-1]):
        fail("no bar in the redraws", out)
    if "rankpool: map" in out:
        fail("plain lines on a terminal", out)
    print("first frame:", repr(bars[0]))
    print("final frame:", repr(final))

    rc, chunks = run_on_pty(exe, "fast")
    out = b"".join(d for _, d in chunks).decode()
    if rc != 0 or out.replace("\r\n", "\n") != "demo done: sum=465\n":
        fail("a quick map on a terminal must print no bar", out)
    print("fast demo: silent")
    print("progress_tty: OK")


if __name__ == "__main__":
    main()
