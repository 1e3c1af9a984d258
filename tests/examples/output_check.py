#!/usr/bin/env python3
"""Checks how svd_batch and scrypt_batch write their output file (-o FILE).

An output that cannot be created (a missing folder, a read-only folder, a path that is a
directory, a parent that is a file) must fail before anything is computed, with a message that
names the path and the system's reason and exit status 2, and leave no file behind. A successful
run must replace an existing file whole (keeping its permissions) and leave no temporary file; a
failed run must leave an existing file as it was.

    output_check.py --program svd_batch --workdir /tmp/x -- mpiexec -n 2 build/examples/svd_batch

Exit status 0 when every case passes, 1 otherwise.
"""

import argparse
import os
import pwd
import shutil
import stat
import subprocess
import sys

failures = []


def check(ok, what):
    print(("ok:   " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(command, timeout=120, as_user=None):
    print("running:", " ".join(command), "(as nobody)" if as_user else "", flush=True)
    with open(os.devnull, "rb") as devnull:
        p = subprocess.run(command, stdin=devnull, capture_output=True, timeout=timeout, preexec_fn=as_user)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def leftovers(dest):
    """The temporary files atomic_output may have left for `dest` (".<name>.XXXXXX")."""
    folder = os.path.dirname(dest) or "."
    prefix = "." + os.path.basename(dest) + "."
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if n.startswith(prefix))


def read_only_folder(workdir, command):
    """A folder no file can be created in, the reason the program should report, and the
    function that makes the program's process unprivileged where root would ignore the folder's
    permissions (None: not needed). `command` runs the program, to see that 'nobody' can."""
    ro = os.path.join(workdir, "read_only")
    os.makedirs(ro, exist_ok=True)
    os.chmod(ro, 0o555)
    if os.geteuid() != 0:
        return ro, "Permission denied", None
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        nobody = None
    if nobody:
        def drop():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        # Where the build lies in a folder 'nobody' cannot enter, the program cannot start as
        # 'nobody' at all; the read-only file system below is the fallback then.
        if run(command + ["--help"], as_user=drop)[0] == 0:
            return ro, "Permission denied", drop
    # No unprivileged user: a file system mounted read-only, found by statvfs (nothing written).
    for candidate in ("/sys", "/proc/sys", "/usr", "/"):
        if os.path.isdir(candidate) and os.statvfs(candidate).f_flag & os.ST_RDONLY:
            return candidate, "Read-only file system", None
    return None, None, None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--program", choices=["svd_batch", "scrypt_batch"], required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the program's command after --")

    work = os.path.abspath(args.workdir)
    if os.path.isdir(work):
        for root, dirs, _ in os.walk(work):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        shutil.rmtree(work)
    os.makedirs(work)
    name = args.program

    if name == "svd_batch":
        passwords = None
        base = command + ["--count", "6", "--rows", "5", "--cols", "3", "--seed", "1"]
        # Nothing read or computed: svd_batch prints "input: ..." once it has its stack.
        computed = lambda out: "input:" in out  # noqa: E731
    else:
        passwords = os.path.join(work, "passwords.txt")
        with open(passwords, "wb") as f:
            f.write(b"password\n\npleaseletmein\n" + b"".join(b"pw%d\n" % i for i in range(20)))
        base = command + ["-n", "16", "-r", "1", "-p", "1", passwords]
        computed = lambda out: out != ""  # noqa: E731

    # --- outputs that cannot be created: exit status 2 at once, and no file left --------------
    os.makedirs(os.path.join(work, "a_directory"))
    with open(os.path.join(work, "a_file"), "w") as f:
        f.write("not a folder\n")
    ro, ro_reason, ro_user = read_only_folder(work, command)
    cases = [  # what, destination, message, run as
        ("missing folder", os.path.join(work, "missing", "out"),
         "cannot create the output file in '" + os.path.join(work, "missing") + "': No such file or directory", None),
        ("destination is a directory", os.path.join(work, "a_directory"),
         "cannot create the output file: Is a directory", None),
        ("parent is a file", os.path.join(work, "a_file", "out"),
         "cannot create the output file in '" + os.path.join(work, "a_file") + "': Not a directory", None),
    ]
    if ro:
        cases.append(("read-only folder", os.path.join(ro, "out"),
                      "cannot create the output file in '" + ro + "': " + ro_reason, ro_user))
    else:
        print("skipped: the read-only case (running as root, with no user 'nobody' and no read-only file system)")
    for what, dest, message, as_user in cases:
        rc, out, err = run(base + ["-o", dest], as_user=as_user)
        check(rc == 2, f"{what}: exit status {rc}, expected 2")
        check(f"{name}: {dest}: {message}" in err, f"{what}: stderr says '{name}: {dest}: {message}'\n{err}")
        check(not computed(out), f"{what}: nothing computed before the failure (stdout: {out!r})")
        check("terminate called" not in err and "Segmentation" not in err, f"{what}: no crash")
        check(leftovers(dest) == [], f"{what}: no temporary file left ({leftovers(dest)})")
    check(os.path.isdir(cases[1][1]) and os.listdir(cases[1][1]) == [], "the directory is left as it was")
    check(not os.path.exists(os.path.join(work, "missing")), "the missing folder is not created")
    if ro:
        check(not os.path.exists(os.path.join(ro, "out")), "nothing created in the read-only folder")

    # --- success: an existing file is replaced whole, keeps its mode, no temporary file --------
    dest = os.path.join(work, "result")
    with open(dest, "wb") as f:
        f.write(b"old contents, longer than nothing" * 1000)
    os.chmod(dest, 0o640)
    rc, out, err = run(base + ["-o", dest])
    check(rc == 0, f"success: exit status {rc}\n{err}")
    check(leftovers(dest) == [], f"success: no temporary file left ({leftovers(dest)})")
    check(stat.S_IMODE(os.stat(dest).st_mode) == 0o640, "success: the replaced file keeps mode 0640")
    with open(dest, "rb") as f:
        got = f.read()
    if name == "svd_batch":
        header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (6, 3), }"
        check(got.startswith(b"\x93NUMPY\x01\x00") and header in got[:128] and len(got) == 128 + 6 * 3 * 8,
              f"success: a (6, 3) float64 .npy file ({len(got)} bytes)")
        check(f"output:    {dest}, shape (6, 3)" in out, "success: the output line names the file")
    else:
        rc2, stdout_digests, err2 = run(base)
        check(rc2 == 0 and stdout_digests.count("\n") == 23, f"stdout run: 23 digests\n{err2}")
        check(got.decode("ascii", "replace") == stdout_digests, "success: -o FILE holds exactly what stdout gets")
        check(out == "", f"success: nothing on stdout with -o ({out!r})")
        # A file name that is new (no mode to keep) and is given as "--output=FILE".
        fresh = os.path.join(work, "fresh.txt")
        rc3, _, err3 = run(base + ["--output=" + fresh])
        with open(fresh, "rb") as f:
            check(rc3 == 0 and f.read().decode() == stdout_digests, f"--output=FILE: same digests\n{err3}")
        check(leftovers(fresh) == [], "--output=FILE: no temporary file left")

        # --- a failed hash: the existing file is left as it was, nothing else created ---------
        with open(dest, "wb") as f:
            f.write(b"keep me\n")
        bad = command + ["-n", "18014398509481984", "-r", "4", "--maxmem", "18446744073709551615", passwords]
        rc, out, err = run(bad + ["-o", dest])
        check(rc == 1, f"failed hash: exit status {rc}, expected 1")
        check(f"scrypt_batch: input line 1: EVP_PBE_scrypt failed: " in err
              and f"; nothing was written to {dest}" in err, f"failed hash: the message\n{err}")
        with open(dest, "rb") as f:
            check(f.read() == b"keep me\n", "failed hash: the existing file is untouched")
        check(not os.path.exists(dest + ".partial"), "failed hash on line 1: no .partial file")
        check(leftovers(dest) == [], f"failed hash: no temporary file left ({leftovers(dest)})")

    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print(f"{name}: all output-file checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
