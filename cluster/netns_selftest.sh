#!/usr/bin/env bash
# Cleanup checks of netns_hosts.sh: after `down`, after a failed run, after a run stopped by a
# signal, nothing of the harness is left (no namespaces, so no veths or bridge; no interfaces
# of ours in the root namespace; no state directory; none of the processes it started).
#
#   netns_selftest.sh [MPIEXEC]      exit 0 pass, 1 fail, 77 skip (see netns_hosts.sh check)

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
h=$here/netns_hosts.sh
prefix=${RP_NETNS_PREFIX:-rp}
state=${RP_NETNS_STATE:-/tmp/rankpool-netns-$prefix}
export RP_NETNS_MPIRUN=${1:-${RP_NETNS_MPIRUN:-mpirun}}

rc=0
"$h" check || rc=$?
((rc == 0)) || exit "$rc"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

ours_left() {
  local what=""
  what+=$(ip netns list | awk '{print $1}' | grep -E "^${prefix}-(sw|h[0-9]+)\$" | sed 's/^/namespace /' || true)
  what+=$(ip -br link | awk '{print $1}' | grep -E "^${prefix}-" | sed 's/^/root-namespace link /' || true)
  [[ ! -e $state ]] || what+=" state-dir $state"
  printf '%s' "$what"
}

expect_clean() {
  local left
  left=$(ours_left)
  if [[ -z $left ]]; then pass "$1: nothing left"; else fail "$1: left behind: $left"; fi
}

# 1. down with nothing up, twice: idempotent.
if "$h" down && "$h" down; then pass "down twice with nothing up"; else fail "down with nothing up failed"; fi
expect_clean "down (nothing up)"

# 2. up, then inspect what exists, then down.
"$h" up
n=$(ip netns list | awk '{print $1}' | grep -cE "^${prefix}-(sw|h[0-9]+)\$" || true)
if ((n == 4)); then pass "up made 4 namespaces (switch + 3 hosts)"; else fail "up made $n namespaces, expected 4"; fi
if ip -n "$prefix-sw" -d link show "$prefix-br0" | grep -q bridge; then pass "bridge $prefix-br0 in $prefix-sw"; else fail "no bridge $prefix-br0 in $prefix-sw"; fi
ports=$(ip -n "$prefix-sw" -br link show master "$prefix-br0" | wc -l)
if ((ports == 3)); then pass "3 veth ports on the bridge"; else fail "$ports ports on the bridge"; fi
for i in 1 2 3; do
  if ip -n "$prefix-h$i" -br addr show eth0 | grep -q "198\.1[89]\."; then pass "$prefix-h$i has its 198.18/15 address"; else fail "$prefix-h$i lacks its address"; fi
done
if [[ -z $(ip -br link | awk '{print $1}' | grep -E "^${prefix}-" || true) ]]; then pass "no interface of ours in the root namespace"; else fail "an interface of ours is in the root namespace"; fi
if "$h" up; then pass "up again over a running set (replaces it)"; else fail "second up failed"; fi
"$h" down
expect_clean "up + down"
if "$h" down; then pass "down again"; else fail "second down failed"; fi

# 3. a run whose program fails: status non-zero, everything removed.
rc=0
RP_NETNS_SHOW_HOSTS=0 "$h" run -n 3 false || rc=$?
if ((rc != 0)); then pass "run of 'false' failed with status $rc"; else fail "run of 'false' reported success"; fi
expect_clean "failed run"

# 4. a run whose executable does not exist.
rc=0
"$h" run -n 3 /nonexistent/program || rc=$?
if ((rc != 0)); then pass "run of a missing program failed with status $rc"; else fail "run of a missing program succeeded"; fi
expect_clean "run of a missing program"

# 5. a run stopped by SIGTERM while ranks run on every host: the harness stops mpirun, kills what
#    is left in the namespaces by pid, and removes everything.
RP_NETNS_SHOW_HOSTS=0 "$h" run -n 6 sleep 300 &
harness=$!
pids=()
for _ in $(seq 100); do
  mapfile -t pids < <(for i in 1 2 3; do ip netns pids "$prefix-h$i" 2>/dev/null; done)
  # 6 sleeps and the daemons: wait until the remote hosts have theirs.
  if [[ -n $(ip netns pids "$prefix-h3" 2>/dev/null) ]] && ((${#pids[@]} >= 8)); then break; fi
  sleep 0.2
done
echo "processes in the hosts before the signal: ${#pids[@]}"
if ((${#pids[@]} >= 8)); then pass "ranks running on all hosts"; else fail "ranks did not start on all hosts"; fi
kill -TERM "$harness"
rc=0
wait "$harness" || rc=$?
if ((rc == 143)); then pass "SIGTERM: harness exited with 143"; else fail "SIGTERM: harness exited with $rc"; fi
expect_clean "run stopped by SIGTERM"
# Alive: present and not a zombie (an exited process that init has not reaped yet).
alive=()
sleep 0.5
for p in "${pids[@]}"; do
  st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
  if [[ -n $st && $st != Z && $st != X ]]; then alive+=("$p($(cat "/proc/$p/comm" 2>/dev/null))"); fi
done
if ((${#alive[@]} == 0)); then pass "none of the ${#pids[@]} processes started in the hosts survives"; else fail "processes still alive: ${alive[*]}"; fi

# 6. a run stopped by its own timeout (RP_NETNS_TIMEOUT).
rc=0
RP_NETNS_SHOW_HOSTS=0 RP_NETNS_TIMEOUT=3 "$h" run -n 3 sleep 300 || rc=$?
if ((rc == 124)); then pass "RP_NETNS_TIMEOUT: status 124"; else fail "RP_NETNS_TIMEOUT: status $rc"; fi
expect_clean "run past RP_NETNS_TIMEOUT"

# 7. a harness killed with SIGKILL (as an outer timeout may do) cannot clean up; the next
#    `down` (or `up`) does: it stops the processes left in the namespaces and removes them.
RP_NETNS_SHOW_HOSTS=0 "$h" run -n 3 sleep 300 &
harness=$!
for _ in $(seq 100); do
  [[ -z $(ip netns pids "$prefix-h2" 2>/dev/null) ]] || break
  sleep 0.2
done
sleep 0.5
mapfile -t pids < <(for i in 1 2 3; do ip netns pids "$prefix-h$i" 2>/dev/null; done)
kill -KILL "$harness"
wait "$harness" 2>/dev/null || true
if [[ -n $(ours_left) ]]; then pass "SIGKILL: the harness left its hosts (${#pids[@]} processes in them)"; else fail "SIGKILL: nothing was left, the case was not exercised"; fi
if "$h" down; then pass "down after SIGKILL"; else fail "down after SIGKILL failed"; fi
expect_clean "down after a SIGKILLed run"
sleep 0.5
alive=()
for p in "${pids[@]}"; do
  st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
  if [[ -n $st && $st != Z && $st != X ]]; then alive+=("$p($(cat "/proc/$p/comm" 2>/dev/null))"); fi
done
if ((${#alive[@]} == 0)); then pass "down stopped all ${#pids[@]} processes the killed run left"; else fail "processes still alive: ${alive[*]}"; fi

# 8. the subnet guard: anything outside 198.18.0.0/15 is refused before anything is made.
for bad in 10.1.2 172.16.0 192.168.1 8.8.8 198.20.0; do
  if RP_NETNS_SUBNET=$bad "$h" up 2>/dev/null; then fail "subnet $bad accepted"; "$h" down; else pass "subnet $bad refused"; fi
done
expect_clean "subnet guard"

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all cleanup checks passed"
