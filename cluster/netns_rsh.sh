#!/usr/bin/env bash
# netns_rsh.sh: the "ssh" Open MPI uses to start its daemons on the namespace hosts of
# netns_hosts.sh (mpirun --mca plm_rsh_agent /path/to/netns_rsh.sh).
#
#   netns_rsh.sh [ssh-style options] HOST COMMAND...
#
# HOST is a host's address or name from the hostfile; it is looked up in
# $RP_NETNS_STATE/hosts.map ("address-or-name namespace" per line, written by
# `netns_hosts.sh up`). COMMAND... is joined with spaces and run by sh, as sshd would run it,
# inside that network namespace and in a UTS namespace of its own whose hostname is the
# namespace's name, so each host reports a hostname of its own.
#
# Like ssh, it does not pass the caller's environment on: the command starts with PATH,
# LD_LIBRARY_PATH, HOME, TMPDIR and the locale only (Open MPI puts what its daemon needs
# on the command line). RP_NETNS_RSH_KEEP_ENV=1 keeps the whole environment instead.

set -euo pipefail

state=${RP_NETNS_STATE:-/tmp/rankpool-netns-${RP_NETNS_PREFIX:-rp}}

# ssh options Open MPI or a user may add (plm_rsh_args): skip them, with their values where
# they take one.
while (($#)) && [[ $1 == -* ]]; do
  case $1 in
    -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;
    *) shift ;;
  esac
done
(($# >= 2)) || { echo "usage: netns_rsh.sh [options] HOST COMMAND..." >&2; exit 255; }
host=$1
shift
host=${host#*@}  # user@host

[[ -r $state/hosts.map ]] || { echo "netns_rsh: $state/hosts.map not found (is netns_hosts.sh up?)" >&2; exit 255; }
ns=$(awk -v h="$host" '$1 == h { print $2; exit }' "$state/hosts.map")
[[ -n $ns ]] || { echo "netns_rsh: unknown host '$host' (not in $state/hosts.map)" >&2; exit 255; }

remote="hostname $ns && cd && { $*
}"
if [[ ${RP_NETNS_RSH_KEEP_ENV:-0} == 1 ]]; then
  exec ip netns exec "$ns" unshare --uts sh -c "$remote"
fi
keep=()
for v in PATH LD_LIBRARY_PATH HOME TMPDIR LANG LC_ALL USER LOGNAME; do
  [[ -z ${!v+x} ]] || keep+=("$v=${!v}")
done
exec env -i "${keep[@]}" ip netns exec "$ns" unshare --uts sh -c "$remote"
