#!/usr/bin/env bash
# What watching costs: runs rankpool-bench latency, submit and map at 2 ranks with nothing on,
# with RANKPOOL_TRACE, with RANKPOOL_SUMMARY=1 and with RANKPOOL_PROGRESS=1 (plain lines, as in a
# batch job), interleaved over several rounds so machine noise hits every variant alike; prints
# each variant's median of the per-run medians and its ratio to the plain run.
#   bench/telemetry_overhead.sh <release build dir> [rounds, default 5]
set -euo pipefail
build=$1 rounds=${2:-5}
bench=$build/bench/rankpool-bench
[ -x "$bench" ] || { echo "telemetry_overhead: $bench not found (build rankpool-bench first)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
variants=(plain trace summary progress)
for ((r = 1; r <= rounds; r++)); do
  for v in "${variants[@]}"; do
    env=()
    case $v in
      trace) env=(RANKPOOL_TRACE="$out/trace.json") ;;
      summary) env=(RANKPOOL_SUMMARY=1) ;;
      progress) env=(RANKPOOL_PROGRESS=1) ;;
    esac
    xs=()
    for e in "${env[@]}"; do xs+=(-x "${e%%=*}"); done
    env "${env[@]}" mpirun --oversubscribe -n 2 "${xs[@]}" "$bench" --runs 5 latency submit map \
      2>/dev/null | sed "s/^{/{\"variant\": \"$v\", /" >>"$out/all.jsonl"
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $rounds rounds"
python3 - "$out/all.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
benches = sorted({r["bench"] for r in rows})
print(f"{'bench':10} {'variant':9} {'median':>12} {'unit':9} {'vs plain':>9}  (runs)")
for b in benches:
    base = None
    for v in ["plain", "trace", "summary", "progress"]:
        xs = [r["median"] for r in rows if r["bench"] == b and r["variant"] == v]
        if not xs:
            continue
        m = statistics.median(xs)
        unit = next(r["unit"] for r in rows if r["bench"] == b)
        if v == "plain":
            base = m
        ratio = m / base if base else float("nan")
        print(f"{b:10} {v:9} {m:12.4g} {unit:9} {ratio:9.3f}  ({len(xs)})")
PY
