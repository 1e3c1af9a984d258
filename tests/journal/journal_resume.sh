#!/usr/bin/env bash
# Kills an svd_batch run half-way (kill -9 of the whole job), re-runs it with the same journal,
# and requires output byte-identical to an uninterrupted run; then tears the journal's last
# record and requires the same again.
#   journal_resume.sh <mpiexec> <svd_batch> <scratch dir>
set -euo pipefail
mpiexec=$1 svd=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
# Big enough that the kill below lands half-way: the journal's size is polled from a shell, whose
# forks take tens of milliseconds on a loaded VM. 2000 matrices of 300 x 30 took 0.5 s at -n 3
# once the workers no longer waited for the root's receives, and the run finished first in 2 of 4
# tries; 60 columns make each matrix about four times the work.
args=(--count 1500 --rows 300 --cols 60 --seed 11 --chunksize 10)
# Open MPI's launcher needs --oversubscribe for 3 ranks on 2 cores; MPICH's Hydra has no such flag.
flags=()
if "$mpiexec" --version 2>&1 | grep -q -e "Open MPI" -e OpenRTE; then flags=(--oversubscribe); fi
run() { "$mpiexec" "${flags[@]}" -n 3 "$svd" "${args[@]}" "$@"; }

run -o "$dir/reference.npy" > "$dir/reference.log"

# Start the journaled run in its own process group, wait until it has recorded some results,
# then kill everything at once, as a node failure or a Slurm time-out would.
setsid "$mpiexec" "${flags[@]}" -n 3 "$svd" "${args[@]}" --journal "$dir/journal" -o "$dir/killed.npy" \
  > "$dir/killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  size=$(stat -c %s "$dir/journal" 2>/dev/null || echo 0)
  [ "$size" -gt 100000 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.01
done
# mpirun and every rank at once (Open MPI puts ranks in process groups of their own); every one
# of them has the journal's path on its command line.
pkill -9 -f -- "--journal $dir/journal" || true
wait "$pid" 2>/dev/null || true
for _ in $(seq 1 500); do pgrep -f -- "--journal $dir/journal" > /dev/null || break; sleep 0.01; done
if [ -e "$dir/killed.npy" ]; then
  echo "journal_resume: the run finished before it could be killed; make the job bigger" >&2
  exit 1
fi
echo "killed after $(stat -c %s "$dir/journal") journal bytes"

run --journal "$dir/journal" -o "$dir/resumed.npy" | tee "$dir/resumed.log"
cmp "$dir/reference.npy" "$dir/resumed.npy"
taken=$(sed -n 's/.*, \([0-9]*\) of \([0-9]*\) tasks taken.*/\1 \2/p' "$dir/resumed.log")
read -r got total <<< "$taken"
if [ "$got" -le 0 ] || [ "$got" -ge "$total" ]; then
  echo "journal_resume: expected some but not all tasks from the journal, got $got of $total" >&2
  exit 1
fi

# A torn last record (a write cut short) is detected and ignored.
truncate -s -7 "$dir/journal"
run --journal "$dir/journal" -o "$dir/torn.npy" > "$dir/torn.log" 2> "$dir/torn.err"
grep -q "torn or corrupt tail" "$dir/torn.err"
cmp "$dir/reference.npy" "$dir/torn.npy"
echo "journal_resume: resumed and torn-journal runs are identical to the uninterrupted run ($got of $total tasks reused)"
