#!/usr/bin/env bash
# netns_hosts.sh: several "hosts" on one Linux machine, for running Open MPI programs across
# nodes without a cluster. Each host is a network namespace (rp-h1, rp-h2, ...) with its own
# address, joined by veth pairs to a bridge that lives in a namespace of its own (rp-sw), so the
# machine's own interfaces and its root namespace are never touched. Open MPI launches its
# daemons on the hosts through netns_rsh.sh instead of ssh, and every host gets its own hostname
# (a UTS namespace), so Open MPI sees separate nodes and talks between them over TCP.
#
#   netns_hosts.sh check            exit 0 if this machine can do it, 77 (skip) if not, and why
#   netns_hosts.sh up               create the hosts (tears down a stale set first)
#   netns_hosts.sh down             remove everything `up` made; idempotent
#   netns_hosts.sh status           what exists now (exit 1 if anything of ours is left)
#   netns_hosts.sh run ARGS...      up; print `hostname` from every host; mpirun ARGS across the
#                                   hosts; down (also on failure or signal); exit with mpirun's status
#   netns_hosts.sh exec CMD...      up; CMD on the first host (a login node), with RP_NETNS_HOSTFILE,
#                                   RP_NETNS_AGENT (the plm_rsh_agent) and RP_NETNS_CIDR set; down
#   netns_hosts.sh mpirun-command   print the mpirun command line `run` uses (hosts must be up)
#   DRY_RUN=1 netns_hosts.sh run ARGS...   print that command line only; makes nothing
#
# Needs root, iproute2 (`ip netns`), util-linux (unshare, flock, timeout from coreutils) and
# Open MPI's mpirun. Environment (defaults in brackets):
#   RP_NETNS_PREFIX   name prefix of namespaces [rp]: hosts PREFIX-h1..hN, switch PREFIX-sw
#   RP_NETNS_HOSTS    number of hosts [3]
#   RP_NETNS_SLOTS    slots per host in the hostfile [2]
#   RP_NETNS_SUBNET   first three octets of the /24, inside 198.18.0.0/15 only [198.18.7]
#   RP_NETNS_MPIRUN   the mpirun to use [mpirun]
#   RP_NETNS_TIMEOUT  seconds mpirun may run under `run` before it is stopped [300]; keep it
#                     below any outer timeout (ctest's TIMEOUT) so that cleanup still happens
#   RP_NETNS_SHOW_HOSTS  1: `run` first runs `hostname` on every host and fails unless every
#                     host answers with its own name [1]
#   RP_NETNS_STATE    directory for the hostfile and the address map [/tmp/rankpool-netns-PREFIX]
#
# mpirun itself runs inside the first host (rp-h1), so that its out-of-band address is on the
# harness subnet; rank 0 therefore lands on rp-h1.

set -euo pipefail

prefix=${RP_NETNS_PREFIX:-rp}
nhosts=${RP_NETNS_HOSTS:-3}
slots=${RP_NETNS_SLOTS:-2}
subnet=${RP_NETNS_SUBNET:-198.18.7}
mpirun_exe=${RP_NETNS_MPIRUN:-mpirun}
run_timeout=${RP_NETNS_TIMEOUT:-300}
show_hosts=${RP_NETNS_SHOW_HOSTS:-1}
state=${RP_NETNS_STATE:-/tmp/rankpool-netns-$prefix}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
agent=$here/netns_rsh.sh
switch_ns=$prefix-sw
bridge=$prefix-br0
lockfile=/run/lock/rankpool-netns-$prefix.lock
[[ -d /run/lock ]] || lockfile=/tmp/rankpool-netns-$prefix.lock

say() { printf 'netns_hosts: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Only 198.18.0.0/15 (RFC 2544 benchmarking space) is allowed: never a private or public range.
if ! [[ $subnet =~ ^198\.(18|19)\.([0-9]{1,3})$ ]] || ((BASH_REMATCH[2] > 255)); then
  die "RP_NETNS_SUBNET=$subnet: must be 198.18.X or 198.19.X (inside 198.18.0.0/15)"
fi
if ! [[ $nhosts =~ ^[0-9]+$ ]] || ((nhosts < 1 || nhosts > 200)); then die "RP_NETNS_HOSTS=$nhosts: 1..200"; fi
if ! [[ $slots =~ ^[0-9]+$ ]] || ((slots < 1)); then die "RP_NETNS_SLOTS=$slots: a positive integer"; fi
[[ $prefix =~ ^[a-z][a-z0-9]{0,5}$ ]] || die "RP_NETNS_PREFIX=$prefix: 1-6 lowercase letters/digits (interface names are short)"

host_ns() { printf '%s-h%d' "$prefix" "$1"; }
host_addr() { printf '%s.%d' "$subnet" "$1"; }
cidr=$subnet.0/24

# ---------------------------------------------------------------------------------------------
check() {
  local why=()
  ((EUID == 0)) || why+=("not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
  command -v ip >/dev/null || why+=("no 'ip' command (iproute2)")
  command -v unshare >/dev/null || why+=("no 'unshare' command (util-linux)")
  command -v flock >/dev/null || why+=("no 'flock' command (util-linux)")
  command -v timeout >/dev/null || why+=("no 'timeout' command (coreutils)")
  command -v "$mpirun_exe" >/dev/null || why+=("no '$mpirun_exe' (Open MPI)")
  if ((${#why[@]} == 0)); then
    # mpirun says "mpirun (Open MPI) 4.1.4", mpiexec "mpiexec (OpenRTE) 4.1.4".
    local version
    version=$("$mpirun_exe" --version 2>&1 || true)
    if [[ $version != *"(Open MPI)"* && $version != *"(OpenRTE)"* ]]; then
      why+=("'$mpirun_exe' is not Open MPI's (the rsh launch agent and MCA flags are Open MPI's): ${version%%$'\n'*}")
    fi
  fi
  if ((${#why[@]} == 0)); then
    # Try the real thing on a scratch namespace: netns, bridge, veth, UTS namespace.
    local t=$prefix-chk$$ out
    if ! out=$( {
        ip netns add "$t" &&
          ip -n "$t" link add "${prefix}cb$$" type bridge &&
          ip -n "$t" link add name "${prefix}ca$$" type veth peer name "${prefix}cp$$" &&
          ip -n "$t" link set "${prefix}cp$$" master "${prefix}cb$$" &&
          ip netns exec "$t" unshare --uts sh -c "hostname $t && test \"\$(hostname)\" = $t"
      } 2>&1); then
      why+=("cannot build namespaces here: ${out//$'\n'/ }")
    fi
    ip netns del "$t" 2>/dev/null || true
  fi
  if ((${#why[@]})); then
    for w in "${why[@]}"; do printf 'netns_hosts: skip: %s\n' "$w"; done
    return 77
  fi
  local ipv mpv
  ipv=$(ip -V 2>&1 || true)
  mpv=$("$mpirun_exe" --version 2>&1 || true)
  echo "netns_hosts: this machine can run $nhosts namespace hosts (${ipv%%$'\n'*}; ${mpv%%$'\n'*})"
}

# Processes still inside one of our namespaces (Open MPI daemons or ranks that outlived mpirun).
# They were all started by this harness (through mpirun or netns_rsh.sh): ended by their ids.
kill_ns_procs() {
  local ns=$1 pids=()
  mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
  ((${#pids[@]})) || return 0
  say "stopping processes left in $ns: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 0.2
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    ((${#pids[@]})) || return 0
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  sleep 0.2
}

our_namespaces() {
  # (PREFIX-chkPID: the scratch namespace of a `check` that was killed before it could delete it.)
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}-(sw|h[0-9]+|chk[0-9]+)\$" || true
}

down_unlocked() {
  local ns
  # All of ours, not just 1..nhosts, in case an earlier `up` used more hosts.
  for ns in $(our_namespaces); do kill_ns_procs "$ns"; done
  for ns in $(our_namespaces); do
    # Deleting a namespace deletes its interfaces: the veth ends in it, with their peers, and
    # the bridge in the switch namespace.
    ip netns del "$ns" 2>/dev/null || say "warning: could not delete namespace $ns"
  done
  rm -rf -- "$state"
  local left
  left=$(our_namespaces)
  [[ -z $left ]] || die "namespaces still present after down: $left"
}

up_unlocked() {
  if [[ -n $(our_namespaces) ]]; then
    say "removing a stale set of hosts first"
    down_unlocked
  fi
  mkdir -p "$state"
  : >"$state/hostfile"
  : >"$state/hosts.map"
  ip netns add "$switch_ns"
  ip -n "$switch_ns" link set lo up
  ip -n "$switch_ns" link add "$bridge" type bridge
  ip -n "$switch_ns" link set "$bridge" up
  local i ns addr
  for ((i = 1; i <= nhosts; i++)); do
    ns=$(host_ns "$i")
    addr=$(host_addr "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Both ends are born in the switch namespace; one moves into the host and becomes its eth0.
    ip -n "$switch_ns" link add name "$prefix-e$i" type veth peer name "$prefix-p$i"
    ip -n "$switch_ns" link set "$prefix-p$i" master "$bridge"
    ip -n "$switch_ns" link set "$prefix-p$i" up
    ip -n "$switch_ns" link set "$prefix-e$i" netns "$ns"
    ip -n "$ns" link set "$prefix-e$i" name eth0
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    printf '%s slots=%d\n' "$addr" "$slots" >>"$state/hostfile"
    printf '%s %s\n' "$addr" "$ns" >>"$state/hosts.map"
    printf '%s %s\n' "$ns" "$ns" >>"$state/hosts.map"
  done
  # Wait until every host reaches every other one (the bridge forwards at once; the links may
  # take a moment to come up).
  local j ok out
  for ((i = 1; i <= nhosts; i++)); do
    for ((j = 1; j <= nhosts; j++)); do
      ((i != j)) || continue
      ok=0
      for _ in $(seq 50); do
        # Nothing listens on port 9 (discard): "refused" means the other host answered.
        out=$(timeout 2 ip netns exec "$(host_ns "$i")" bash -c "exec 3<>/dev/tcp/$(host_addr "$j")/9" 2>&1 || true)
        if [[ $out == *"Connection refused"* ]]; then ok=1; break; fi
        sleep 0.1
      done
      ((ok)) || die "$(host_ns "$i") cannot reach $(host_addr "$j")"
    done
  done
  say "up: $nhosts hosts $(host_ns 1)..$(host_ns "$nhosts") on $cidr (bridge $bridge in $switch_ns), hostfile $state/hostfile"
}

# Sets the array cmd to the mpirun command line for the hosts (arguments to come after it).
mpirun_command() {
  local ns1
  ns1=$(host_ns 1)
  cmd=(ip netns exec "$ns1" unshare --uts sh -c "hostname $ns1 && exec \"\$0\" \"\$@\""
    "$mpirun_exe" --hostfile "$state/hostfile"
    --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1
    --mca pml ob1 --mca btl "tcp,self"
    --mca btl_tcp_if_include "$cidr" --mca oob_tcp_if_include "$cidr")
}

# Prints a command as one shell line: words quoted only where the shell needs it.
print_command() {
  local w out=() safe='^[A-Za-z0-9_./:=,@%+-]+$' q="'"
  for w in "$@"; do
    if [[ $w =~ $safe ]]; then out+=("$w"); else out+=("$q${w//$q/$q\\$q$q}$q"); fi
  done
  printf '%s\n' "${out[*]}"
}

# Runs a command in the background and waits for it, so that a signal to this script is
# handled at once (bash runs traps only between foreground commands) and passed on to it.
child=
run_child() {
  # 9>&-: the lock stays with this script; were it inherited, daemons left by a killed harness
  # would hold it and block the `down` that is to remove them.
  "$@" 0<&0 9>&- &
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=
  return "$rc"
}

on_signal() {
  local code=$1
  trap '' INT TERM HUP
  if [[ -n $child ]]; then
    say "signal: stopping mpirun (pid $child)"
    kill -TERM "$child" 2>/dev/null || true
    local n
    for ((n = 0; n < 50; n++)); do
      kill -0 "$child" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$child" 2>/dev/null || true
  fi
  exit "$code"
}

# up, with everything removed again when this script ends, however it ends (but SIGKILL).
up_for_this_script() {
  ((EUID != 0)) || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  # For netns_rsh.sh (a child of mpirun) and for the command of `exec`.
  export RP_NETNS_STATE=$state RP_NETNS_PREFIX=$prefix RP_NETNS_HOSTFILE=$state/hostfile \
    RP_NETNS_AGENT=$agent RP_NETNS_CIDR=$cidr
  trap 'rc=$?; trap - EXIT; trap "" INT TERM HUP; down_unlocked || rc=1; exit $rc' EXIT
  trap 'on_signal 130' INT
  trap 'on_signal 143' TERM
  trap 'on_signal 129' HUP
  up_unlocked
}

# `exec`: a command of the caller's on the first host, as on a cluster's login node.
exec_on_first_host() {
  up_for_this_script
  local ns1 rc=0
  ns1=$(host_ns 1)
  echo "netns_hosts: on $ns1: $(print_command "$@")"
  run_child timeout -k 10 "$run_timeout" ip netns exec "$ns1" unshare --uts \
    sh -c "hostname $ns1 && exec \"\$0\" \"\$@\"" "$@" || rc=$?
  ((rc != 124)) || say "the command ran past RP_NETNS_TIMEOUT=${run_timeout}s and was stopped"
  echo "netns_hosts: the command exited with status $rc"
  return "$rc"
}

run() {
  up_for_this_script
  mpirun_command
  local rc=0 t0 t1 i
  if [[ $show_hosts == 1 ]]; then
    echo "netns_hosts: hostname on each of the $nhosts hosts:"
    local names line
    run_child timeout -k 10 60 "${cmd[@]}" -n "$nhosts" --map-by node hostname >"$state/hostnames" || {
      rc=$?
      cat "$state/hostnames"
      die "mpirun across the hosts failed (status $rc) just running 'hostname'"
    }
    names=$(<"$state/hostnames")
    while IFS= read -r line; do echo "  $line"; done <<<"$names"
    for ((i = 1; i <= nhosts; i++)); do
      grep -qx "$(host_ns "$i")" <<<"$names" || die "host $(host_ns "$i") did not answer"
    done
    echo "netns_hosts: hosts seen: $(sort -u <<<"$names" | tr '\n' ' ')($(sort -u <<<"$names" | wc -l) distinct)"
  fi
  echo "netns_hosts: $(print_command "${cmd[@]}" "$@")"
  t0=$(date +%s.%N)
  run_child timeout -k 10 "$run_timeout" "${cmd[@]}" "$@" || rc=$?
  t1=$(date +%s.%N)
  ((rc != 124)) || say "mpirun ran past RP_NETNS_TIMEOUT=${run_timeout}s and was stopped"
  echo "netns_hosts: mpirun exited with status $rc after $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s"
  # What crossed the wire: each host's eth0 counters, from `up` on (hostname check included).
  local traffic="" rx tx
  for ((i = 1; i <= nhosts; i++)); do
    rx=$(ip netns exec "$(host_ns "$i")" cat /sys/class/net/eth0/statistics/rx_bytes 2>/dev/null || echo "?")
    tx=$(ip netns exec "$(host_ns "$i")" cat /sys/class/net/eth0/statistics/tx_bytes 2>/dev/null || echo "?")
    traffic+=" $(host_ns "$i") rx $rx tx $tx;"
  done
  echo "netns_hosts: bytes on the hosts' eth0:${traffic%;}"
  return "$rc"
}

status() {
  local left
  left=$(our_namespaces)
  if [[ -z $left ]]; then
    echo "netns_hosts: nothing of ours exists (no $prefix-* namespaces, so no veths or bridge)"
    [[ ! -e $state ]] || { echo "netns_hosts: but the state directory $state is left"; return 1; }
    return 0
  fi
  local ns
  for ns in $left; do
    echo "== $ns"
    ip -n "$ns" -br addr 2>/dev/null | sed 's/^/  /'
  done
  return 1
}

# Exit 77 (skip) with the reasons when this machine cannot make the hosts.
check_or_skip() {
  local rc=0
  check >/dev/null || rc=$?
  ((rc == 0)) || { check; exit 77; }
}

lock() {
  exec 9>"$lockfile"
  flock -w 900 9 || die "another netns_hosts.sh holds $lockfile"
}

cmdname=${1:-}
shift || true
case $cmdname in
  check) check ;;
  up)
    check_or_skip
    lock
    # A failed `up` leaves nothing behind.
    trap 'rc=$?; trap - EXIT; ((rc == 0)) || down_unlocked || true; exit $rc' EXIT
    up_unlocked
    ;;
  down) lock; down_unlocked; say "down: no $prefix-* namespaces left" ;;
  status) status ;;
  run)
    (($#)) || die "usage: netns_hosts.sh run MPIRUN-ARGS... (e.g. run -n 5 ./app)"
    if [[ ${DRY_RUN:-0} == 1 ]]; then
      say "DRY_RUN: would make $nhosts hosts $(host_ns 1)..$(host_ns "$nhosts") ($(host_addr 1)..$(host_addr "$nhosts"), $slots slots each) and run:"
      mpirun_command
      print_command "${cmd[@]}" "$@"
      exit 0
    fi
    check_or_skip
    lock
    run "$@"
    ;;
  exec)
    (($#)) || die "usage: netns_hosts.sh exec COMMAND [ARGS...]"
    check_or_skip
    lock
    exec_on_first_host "$@"
    ;;
  mpirun-command)
    [[ -s $state/hostfile ]] || die "the hosts are not up (run: netns_hosts.sh up)"
    mpirun_command
    print_command "${cmd[@]}"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [[ $cmdname == -h || $cmdname == --help || $cmdname == help ]] || exit 2
    ;;
esac
