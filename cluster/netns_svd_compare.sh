#!/usr/bin/env bash
# svd_batch across the namespace hosts of netns_hosts.sh against svd_batch on one host: the
# two output files must be identical, byte for byte.
#
#   netns_svd_compare.sh SVD_BATCH WORKDIR [MPIEXEC]
#
# Exit status: 0 identical, 1 different or a run failed, 77 this machine cannot make namespace
# hosts (netns_hosts.sh check says why). SVD_HOSTS_NP ranks across the hosts [5: 2 + 2 + 1,
# so rank 0 and a worker on rp-h1, workers on rp-h2 and rp-h3], SVD_LOCAL_NP on one host [3].

set -euo pipefail

(($# >= 2)) || { echo "usage: netns_svd_compare.sh SVD_BATCH WORKDIR [MPIEXEC]" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exe=$1
work=$2
mpiexec=${3:-mpirun}
hosts_np=${SVD_HOSTS_NP:-5}
local_np=${SVD_LOCAL_NP:-3}
args=(--count 200 --rows 30 --cols 8 --seed 3)
export RP_NETNS_MPIRUN=$mpiexec

rc=0
"$here/netns_hosts.sh" check || rc=$?
((rc == 0)) || exit "$rc"

rm -rf -- "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
cd "$work"

echo "== svd_batch on $hosts_np ranks across the namespace hosts"
t0=$(date +%s.%N)
"$here/netns_hosts.sh" run -n "$hosts_np" "$exe" "${args[@]}" -o "$work/out_hosts.npy" | tee "$work/hosts.log"
t1=$(date +%s.%N)
# The input goes once to each node other than rank 0's, never once per worker rank: with rank 0
# on rp-h1, the root sends it to rp-h2 and rp-h3, twice in all (SVD_NODES hosts hold ranks).
read -r placed sent < <(sed -n 's/^placed: *\([0-9]*\) bytes of input, \([0-9]*\) bytes sent.*/\1 \2/p' "$work/hosts.log")
nodes=${SVD_NODES:-3}
echo "input bytes $placed, sent by rank 0 $sent: $((sent / placed)) copies for $nodes nodes and $((hosts_np - 1)) workers"
if [[ -z "$placed" || "$sent" -ne $(((nodes - 1) * placed)) ]]; then
  echo "rank 0 sent $sent bytes of input; once per other node is $(((nodes - 1) * placed))"
  exit 1
fi

echo "== svd_batch on $local_np ranks on this host"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none \
  "$mpiexec" -n "$local_np" --oversubscribe "$exe" "${args[@]}" -o "$work/out_local.npy"
t2=$(date +%s.%N)

ls -l "$work"/out_hosts.npy "$work"/out_local.npy
sha256sum "$work"/out_hosts.npy "$work"/out_local.npy
echo "timings: across hosts (harness up + hostname check + run + down) $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s, one host $(awk "BEGIN{printf \"%.2f\", $t2-$t1}") s"
if cmp "$work/out_hosts.npy" "$work/out_local.npy"; then
  echo "cmp: out_hosts.npy and out_local.npy are identical"
else
  echo "cmp: out_hosts.npy and out_local.npy DIFFER"
  exit 1
fi
