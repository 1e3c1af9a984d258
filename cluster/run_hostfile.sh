#!/usr/bin/env bash
# svd_batch across plain hosts (no batch system) with Open MPI and a hostfile.
#
#   HOSTFILE=my_hosts cluster/run_hostfile.sh [svd_batch args...]
#   DRY_RUN=1 cluster/run_hostfile.sh --count 100    # print the launch command only
#
#   HOSTFILE   Open MPI hostfile, "name slots=N" per line [cluster/hostfile.example]
#   NP         ranks to start [the sum of the hostfile's slots; all slots if a line has none]
#   MAP_BY     --map-by policy [slot: fill each host's slots in order, so rank 0 is on the first
#              host; "node" deals ranks round-robin over the hosts; "ppr:1:node:PE=16" for one
#              rank per node with 16 cores bound to each]
#   BIND_TO    --bind-to [core]
#   THREADS_PER_RANK  cores per rank [1]. Above 1 (one rank per node with threads inside: a
#              hostfile with slots=1), each rank is bound to that many cores (MAP_BY gets :PE=N)
#              and runs that many tasks at once (RANKPOOL_THREADS_PER_WORKER=N)
#   TCP_IF     network for MPI and Open MPI's own traffic, an interface name or CIDR (e.g. eth1 or
#              192.0.2.0/24): selects the btl tcp,vader,self transports on it [unset: Open MPI
#              picks every usable interface]
#   SVD_BATCH  the executable [build/release/examples/svd_batch of this repository]
#   MPIRUN     the launcher [mpirun]
#   MPI_FLAGS  extra mpirun flags, split on blanks [none]
#   DRY_RUN=1  print the launch command on stdout and exit
#
# mpirun starts the remote ranks over ssh (password-less, to every host of the hostfile), and
# ssh carries no environment: every RANKPOOL_* variable set here is passed on with -x. The
# executable must be at the same path on every host (a shared file system, or copied there).

set -euo pipefail

# Prints a command as one shell line: words quoted only where the shell needs it.
show_command() {
  local w out=() safe='^[A-Za-z0-9_./:=,@%+-]+$' q="'"
  for w in "$@"; do
    if [[ $w =~ $safe ]]; then out+=("$w"); else out+=("$q${w//$q/$q\\$q$q}$q"); fi
  done
  printf '%s\n' "${out[*]}"
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
hostfile=${HOSTFILE:-$here/hostfile.example}
map_by=${MAP_BY:-slot}
bind_to=${BIND_TO:-core}
exe=${SVD_BATCH:-$repo/build/release/examples/svd_batch}
mpirun=${MPIRUN:-mpirun}
dry=${DRY_RUN:-0}

[[ -r $hostfile ]] || { echo "run_hostfile: cannot read HOSTFILE=$hostfile" >&2; exit 2; }

np=${NP:-}
if [[ -z $np ]]; then
  # Sum of slots=N; empty when a host line has no slots= (mpirun then uses all of each host's cores).
  np=$(awk '
    { sub(/#.*/, "") }
    NF == 0 { next }
    { n = 0; for (i = 2; i <= NF; i++) if ($i ~ /^slots=[0-9]+$/) { split($i, kv, "="); n = kv[2] }
      if (n == 0) { missing = 1 } total += n }
    END { if (!missing && total > 0) print total }' "$hostfile")
fi

cmd=("$mpirun")
[[ -z $np ]] || cmd+=(-n "$np")
threads=${THREADS_PER_RANK:-1}
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "run_hostfile: THREADS_PER_RANK=$threads: a positive integer" >&2; exit 2; }
((threads == 1)) || [[ $map_by == *PE=* ]] || map_by+=":PE=$threads"
cmd+=(--hostfile "$hostfile" --map-by "$map_by" --bind-to "$bind_to")
if [[ -n ${TCP_IF:-} ]]; then
  cmd+=(--mca btl "tcp,vader,self" --mca btl_tcp_if_include "$TCP_IF" --mca oob_tcp_if_include "$TCP_IF")
fi
for v in $(compgen -e | grep '^RANKPOOL_' || true); do
  ((threads == 1)) || [[ $v != RANKPOOL_THREADS_PER_WORKER ]] || continue
  cmd+=(-x "$v")
done
((threads == 1)) || cmd+=(-x "RANKPOOL_THREADS_PER_WORKER=$threads")
read -r -a extra <<<"${MPI_FLAGS:-}"
cmd+=("${extra[@]}" "$exe" "$@")

if [[ $dry == 1 ]]; then
  show_command "${cmd[@]}"
  exit 0
fi
[[ -x $exe ]] || { echo "run_hostfile: $exe is not an executable (set SVD_BATCH)" >&2; exit 2; }
exec "${cmd[@]}"
