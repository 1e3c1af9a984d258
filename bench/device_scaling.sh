#!/usr/bin/env bash
# Scaling figures on a many-core machine without MPI of its own (see README, "Performance"):
# carry .mpikit/ (from ../shared/tools/device-mpi-kit, with RANKPOOL_KIT_EXTRA="libssl3
# libstdc++6 libgcc-s1") and a Release rankpool-bench, then run
#   source .mpikit/activate.sh && bench/device_scaling.sh BENCH OUTFILE
# Pool and static split of the scrypt and SVD batches at 2, 4, 8 and 16 ranks, serial once,
# and latency / throughput at 2 and 16 ranks. JSON lines, one per measurement.
set -u
bench=${1:?rankpool-bench path} out=${2:?output file}
runs=${RUNS:-3}
: > "$out"
note() { echo "{\"note\": \"$1\", \"cores\": $(nproc), \"date\": \"$(date -u +%FT%TZ)\"}" >> "$out"; }
mp() { timeout 200 mpirun --oversubscribe --bind-to none -n "$@" 2>&1 | grep '^{' >> "$out"; }
note "device scaling start"
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: //' | sed 's/^/cpu: /'
mp 2 "$bench" --runs 1 --variants serial scrypt svd
for n in 2 4 8 16; do
  mp "$n" "$bench" --runs "$runs" --variants pool,static scrypt svd
done
for n in 2 16; do
  mp "$n" "$bench" --runs "$runs" latency submit map
done
note "device scaling end"
