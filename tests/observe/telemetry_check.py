#!/usr/bin/env python3
"""Runs tests/telemetry_probe and checks what the pool recorded against what it ran.

    telemetry_check.py <mpiexec> <telemetry_probe> <scratch dir> <ranks> <rankpool-trace>

Checks: the trace (RANKPOOL_TRACE, and executor_options::trace) is valid JSON in the Chrome
trace event format with one track per worker rank, one slice per task named after its
function, queueing spans that end where the task starts, no overlapping slices on a track, and
scheduler sends that cover every task; the summary (RANKPOOL_SUMMARY=1) has a row per worker
whose numbers add up to the run; RANKPOOL_LOG levels print rank- and host-prefixed lines (and
nothing by default); the thread executor records the same way; a killed run's binary trace
(also with a torn last record) converts with rankpool-trace into valid JSON holding every task.
"""

import json
import os
import re
import subprocess
import sys

MPIEXEC, PROBE, SCRATCH, RANKS, CONVERTER = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]


def launcher_is_openmpi():
    """Open MPI's mpiexec needs --oversubscribe and -x VAR; MPICH's Hydra neither (it passes the
    whole environment on)."""
    try:
        out = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return "Open MPI" in out.stdout + out.stderr or "OpenRTE" in out.stdout + out.stderr


OPENMPI = launcher_is_openmpi()


def launch(ranks, env_names):
    """The launcher's command line for `ranks` processes that see the variables `env_names`."""
    if not OPENMPI:
        return [MPIEXEC, "-n", str(ranks)]
    return [MPIEXEC, "--oversubscribe", "-n", str(ranks)] + [a for k in env_names for a in ("-x", k)]
TASKS, ELEMENTS, CHUNK = 60, 1000, 64
CHUNKS = (ELEMENTS + CHUNK - 1) // CHUNK
os.makedirs(SCRATCH, exist_ok=True)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(mode, env_extra, trace_arg=None, mpi=True, status=0):
    env = dict(os.environ)
    for k in ("RANKPOOL_TRACE", "RANKPOOL_SUMMARY", "RANKPOOL_LOG", "RANKPOOL_PROGRESS"):
        env.pop(k, None)
    env.update(env_extra)
    args = [PROBE, mode, str(TASKS), str(ELEMENTS), str(CHUNK)] + ([trace_arg] if trace_arg else [])
    if mpi:
        args = launch(RANKS, env_extra) + args
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    if p.returncode != status:
        print(p.stdout, p.stderr)
    check(p.returncode == status, f"{mode} {env_extra}: exit status {p.returncode}")
    m = re.search(r"probe: workers=(\d+) tasks=(\d+) elements=(\d+) chunks=(\d+) sum=(-?\d+)", p.stdout)
    check(m is not None, f"{mode}: probe line missing")
    expected_sum = sum(i * i for i in range(TASKS)) + sum(2 * i for i in range(ELEMENTS))
    if m:
        check(int(m.group(5)) == expected_sum, f"{mode}: wrong results")
    return p, int(m.group(1)) if m else 0


def check_trace(path, workers, track_names):
    if not os.path.exists(path):
        check(False, f"trace file {path} was written")
        return [{}], []
    with open(path) as f:
        events = json.load(f)  # the whole file must be valid JSON once the pool has shut down
    check(isinstance(events, list), "trace is a JSON array of events")
    names = {e["tid"]: e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name" and e.get("pid") == 1}
    check(sorted(names.values()) == sorted(track_names), f"worker tracks {sorted(names.values())} != {track_names}")
    slices = [e for e in events if e.get("ph") == "X" and e.get("cat") == "task"]
    check(len(slices) == TASKS + CHUNKS, f"{len(slices)} task slices, expected {TASKS + CHUNKS}")
    by_name = {}
    for s in slices:
        by_name[s["name"]] = by_name.get(s["name"], 0) + 1
    check(by_name.get("probe_square") == TASKS, f"slices named probe_square: {by_name}")
    check(by_name.get("map probe_twice") == CHUNKS, f"slices named map probe_twice: {by_name}")
    check(sum(s["args"]["elements"] for s in slices) == TASKS + ELEMENTS, "elements over all slices")
    check(all(s["tid"] in names for s in slices), "every slice is on a declared worker track")
    check(all(s["dur"] >= 0 and s["ts"] >= 0 for s in slices), "slices have non-negative times")
    sleepers = [s for s in slices if s["name"] == "probe_square"]
    check(all(s["dur"] >= 250 for s in sleepers), "each probe_square slice lasts its 300 us sleep")
    # One thread per worker: a track's slices never overlap (1 us of rounding allowed).
    for tid in names:
        track = sorted((s for s in slices if s["tid"] == tid), key=lambda s: s["ts"])
        for a, b in zip(track, track[1:]):
            check(a["ts"] + a["dur"] <= b["ts"] + 1.0, f"overlapping slices on track {names[tid]}: {a} {b}")
    # Queueing: a b/e pair per task, from submit to the task's start.
    begins = {e["id"]: e for e in events if e.get("ph") == "b" and e.get("cat") == "queue"}
    ends = {e["id"]: e for e in events if e.get("ph") == "e" and e.get("cat") == "queue"}
    check(len(begins) == len(ends) == TASKS + CHUNKS, "one queued span per task")
    for s in slices:
        i = s["args"]["id"]
        if i in begins and i in ends:
            check(begins[i]["ts"] <= ends[i]["ts"] + 1e-3, f"queued span of task {i} ends before it begins")
            check(abs(ends[i]["ts"] - s["ts"]) < 1e-2, f"queued span of task {i} ends where the task starts")
            check(abs(s["args"]["queued_us"] - (s["ts"] - begins[i]["ts"])) < 1e-2, "queued_us matches the span")
    return events, slices


def parse_summary(stderr):
    head = re.search(r"rankpool summary: (\w+), (\d+) workers, \S+ wall, (\d+) tasks \((\d+) elements\), "
                     r"queue peak (\d+), in flight peak (\d+)", stderr)
    check(head is not None, "summary header line")
    rows = {}
    for line in stderr.splitlines():
        parts = line.split()
        if len(parts) == 10 and re.fullmatch(r"\d+", parts[1]) and parts[3].endswith("%"):
            rows[parts[0]] = parts
    return head, rows


UNITS = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def quantity(text):
    """'18.87ms' -> 18870000.0, '4.4MB' -> 4400000.0 (the summary's units)."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]+)", text)
    check(m is not None and m.group(2) in UNITS, f"summary quantity {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)] if m and m.group(2) in UNITS else 0.0


def check_summary(stderr, pool, workers, labels, moves_bytes=True):
    head, rows = parse_summary(stderr)
    if not head:
        return
    check(head.group(1) == pool, f"summary names the pool {pool}")
    check(int(head.group(2)) == workers, "summary's worker count")
    check(int(head.group(3)) == TASKS + CHUNKS, f"summary's task count {head.group(3)}")
    check(int(head.group(4)) == TASKS + ELEMENTS, f"summary's element count {head.group(4)}")
    check(1 <= int(head.group(5)) <= TASKS + CHUNKS, f"queue peak {head.group(5)} within 1..tasks")
    check(1 <= int(head.group(6)) <= TASKS + CHUNKS, f"in-flight peak {head.group(6)} within 1..tasks")
    check(sorted(k for k in rows if k != "all") == sorted(labels), f"summary rows {sorted(rows)} != {labels}")
    if "all" not in rows:
        return
    per_worker = [rows[k] for k in rows if k != "all"]
    check(sum(int(r[1]) for r in per_worker) == int(rows["all"][1]) == TASKS + CHUNKS, "worker rows add up")
    check(sum(int(r[2]) for r in per_worker) == TASKS + ELEMENTS, "worker elements add up")
    for r in rows.values():
        busy = float(r[3].rstrip("%"))
        check(0.0 <= busy <= 100.0, f"busy {busy}% within 0..100")
        p50, p90, p99, top = (quantity(x) for x in r[6:10])
        check(p50 <= p90 <= p99 <= top, f"percentiles of {r[0]} in order: {r[6:10]}")
        bytes_in, bytes_out = quantity(r[4]), quantity(r[5])
        if moves_bytes and int(r[1]) > 0:
            check(bytes_in > 0 and bytes_out > 0, f"{r[0]} moved bytes both ways: {r[4]} {r[5]}")
        else:
            check(bytes_in == 0 and bytes_out == 0, f"{r[0]}: local threads move no bytes: {r[4]} {r[5]}")
    # The slowest task is a probe_square, which sleeps 300 us.
    check(quantity(rows["all"][9]) >= 250e3, f"longest task {rows['all'][9]} covers the 300 us sleep")


print(f"telemetry_check: {RANKS} ranks")
workers_expected = max(RANKS - 1, 1)
rank_tracks = [f"rank {r}" for r in range(1, RANKS)] if RANKS > 1 else [f"thread {i}" for i in range(workers_expected)]
rank_labels = [t.replace(" ", "-") for t in rank_tracks]
pool_name = "comm_executor"

# 1. Trace and summary from the environment.
trace = os.path.join(SCRATCH, "env.json")
p, workers = run("comm", {"RANKPOOL_TRACE": trace, "RANKPOOL_SUMMARY": "1"})
if RANKS == 1:  # one rank: local threads (hardware threads of this machine)
    rank_tracks = [f"thread {i}" for i in range(workers)]
    rank_labels = [t.replace(" ", "-") for t in rank_tracks]
check(workers == len(rank_tracks), f"probe reports {workers} workers")
events, slices = check_trace(trace, workers, rank_tracks)
check_summary(p.stderr, pool_name, workers, rank_labels, moves_bytes=RANKS > 1)
sends = [e for e in events if e.get("ph") == "X" and e.get("cat") == "scheduler" and e["name"] == "send"]
if RANKS > 1:
    # At least once each: a task an idle worker takes back from a busy one's window is sent again.
    sent = sum(e["args"]["count"] for e in sends)
    check(sent >= TASKS + CHUNKS, f"scheduler sends cover every task ({sent} sent)")
    check(any(e.get("ph") == "C" and e.get("name") == "tasks" for e in events), "queue counter events")
check(events[-1].get("name") == "rankpool" and events[-1]["args"]["dropped_records"] == 0, "no dropped records")
check("rankpool[" not in p.stderr, "no log lines by default")

# 2. The same through executor_options.
trace2 = os.path.join(SCRATCH, "options.json")
p, workers = run("comm-options", {}, trace_arg=trace2)
check_trace(trace2, workers, rank_tracks)
check_summary(p.stderr, pool_name, workers, rank_labels, moves_bytes=RANKS > 1)

# 3. Logging levels.
p, _ = run("comm", {"RANKPOOL_LOG": "info"})
lines = [l for l in p.stderr.splitlines() if l.startswith("rankpool[")]
check(all(re.match(r"rankpool\[\d+@[^\]]+\] \d\d:\d\d:\d\d\.\d{3} (error|warn|info|debug): ", l) for l in lines),
      "log lines have the rank@host prefix, a time and a level")
check(any(l.startswith("rankpool[0@") for l in lines), "the root logs at info")
for r in range(1, RANKS):
    check(any(f"worker rank {r} serving" in l and l.startswith(f"rankpool[{r}@") for l in lines),
          f"worker rank {r} logs that it serves")
check(not any(" debug: " in l for l in lines), "info hides debug lines")
p, _ = run("comm", {"RANKPOOL_LOG": "debug"})
if RANKS > 1:
    check(re.search(r"rankpool\[0@[^\]]+\] \S+ debug: sent \d+ tasks", p.stderr) is not None, "debug shows sends")
p, _ = run("comm", {"RANKPOOL_LOG": "loud"})
check("ignored RANKPOOL_LOG=loud" in p.stderr, "a bad RANKPOOL_LOG value is named")

# 4. Worker ranks with two threads each: a track per thread, slices never overlap on one.
if RANKS > 1:
    trace4 = os.path.join(SCRATCH, "team.json")
    p, workers = run("comm", {"RANKPOOL_TRACE": trace4, "RANKPOOL_THREADS_PER_WORKER": "2"})
    check_trace(trace4, workers, [f"rank {r} thread {t}" for r in range(1, RANKS) for t in range(2)])

# 5. The thread executor records the same way.
trace3 = os.path.join(SCRATCH, "thread.json")
p, workers = run("thread", {"RANKPOOL_TRACE": trace3, "RANKPOOL_SUMMARY": "1"}, mpi=False)
check_trace(trace3, workers, [f"thread {i}" for i in range(workers)])
check_summary(p.stderr, "thread_executor", workers, [f"thread-{i}" for i in range(workers)], moves_bytes=False)

# 6. A trace file that cannot be created: a clear error and a failing status on the root, and
# the workers released (no hang; run() has a timeout).
def bad_trace(mode, mpi):
    env = dict(os.environ)
    env["RANKPOOL_TRACE"] = "/nonexistent-rankpool-dir/x.json"
    args = [PROBE, mode, "4", "10", "2"]
    if mpi:
        args = launch(RANKS, ["RANKPOOL_TRACE"]) + args
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    check(p.returncode != 0, f"{mode}: an uncreatable trace file fails the run")
    check("cannot create the trace file /nonexistent-rankpool-dir/x.json" in p.stderr,
          f"{mode}: the error names the trace file: {p.stderr[-400:]}")
bad_trace("comm", True)
bad_trace("thread", False)

# 7. Two pools one after another: the second writes thread2.2.json, not over the first.
trace5 = os.path.join(SCRATCH, "thread2.json")
second = os.path.join(SCRATCH, "thread2.2.json")
for f in (trace5, second):
    if os.path.exists(f):
        os.remove(f)
p, workers = run("thread-twice", {"RANKPOOL_TRACE": trace5}, mpi=False)
check_trace(trace5, workers, [f"thread {i}" for i in range(workers)])
check_trace(second, workers, [f"thread {i}" for i in range(workers)])

# 8. A killed run: the JSON path holds a note, the binary trace beside it converts to a trace of
# every task; cut inside its last record (a kill during a write) it still converts.
trace6 = os.path.join(SCRATCH, "killed.json")
binary = trace6 + ".rptrace"
for f in (trace6, binary, trace6 + ".json"):
    if os.path.exists(f):
        os.remove(f)
p, workers = run("thread-killed", {"RANKPOOL_TRACE": trace6}, mpi=False, status=-9)
with open(trace6) as f:
    note = json.load(f)
check("rankpool-trace" in json.dumps(note), f"the killed run's JSON says how to convert: {note}")
check(os.path.exists(binary), "a killed run leaves its binary trace")
converted = os.path.join(SCRATCH, "killed-converted.json")
c = subprocess.run([CONVERTER, binary, converted], capture_output=True, text=True, timeout=60)
check(c.returncode == 0 and "did not finish" in c.stdout, f"rankpool-trace converts: {c.stdout} {c.stderr}")
events, _ = check_trace(converted, workers, [f"thread {i}" for i in range(workers)])
check(events[-1].get("name") == "rankpool" and events[-1]["args"].get("complete") is False,
      f"the converted trace says it is incomplete: {events[-1]}")
size = os.path.getsize(binary)
with open(binary, "r+b") as f:
    f.truncate(size - 30)
c = subprocess.run([CONVERTER, binary], capture_output=True, text=True, timeout=60)
check(c.returncode == 0, f"rankpool-trace converts a torn file: {c.stderr}")
with open(trace6) as f:  # the default output: the binary's name without .rptrace
    torn = json.load(f)
torn_slices = [e for e in torn if e.get("ph") == "X" and e.get("cat") == "task"]
check(TASKS + CHUNKS - 1 <= len(torn_slices) <= TASKS + CHUNKS, f"torn file keeps all but its last record: {len(torn_slices)}")
c = subprocess.run([CONVERTER, trace6], capture_output=True, text=True, timeout=60)
check(c.returncode != 0 and "not a binary rankpool trace" in c.stderr, f"a JSON file is refused: {c.stderr}")
check(not os.path.exists(trace6 + ".json"), "a refused input leaves no output file")

if failures:
    print(f"telemetry_check: {len(failures)} checks failed")
    sys.exit(1)
print("telemetry_check: trace, summary and log checks passed")
