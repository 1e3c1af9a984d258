#!/usr/bin/env bash
# Runs a cluster script in dry mode and checks the launch command it prints.
#
#   check_dry_run.sh REGEX [VAR=value...] -- SCRIPT [ARGS...]
#
# The script runs under bash with DRY_RUN=1 and the VAR=value settings, in an environment
# cleared of the variables the scripts read (SLURM_*, PBS_*, RANKPOOL_*, VARIANT, SVD_*, ...),
# so a test run inside a real batch job sees the same thing as anywhere else. It passes when the
# script exits 0, prints exactly one line on stdout, that line matches the extended regular
# expression REGEX in full (^...$ is implied), and the line is a well-formed shell command.

set -euo pipefail

(($# >= 3)) || { echo "usage: check_dry_run.sh REGEX [VAR=value...] -- SCRIPT [ARGS...]" >&2; exit 2; }
regex=$1
shift
settings=()
while (($#)) && [[ $1 != -- ]]; do
  [[ $1 == *=* ]] || { echo "check_dry_run: '$1' is not VAR=value" >&2; exit 2; }
  settings+=("$1")
  shift
done
(($# >= 2)) || { echo "check_dry_run: missing -- SCRIPT" >&2; exit 2; }
shift
script=$1
shift

unset_args=()
for v in $(compgen -e); do
  case $v in
    SLURM_* | SBATCH_* | SRUN_* | PBS_* | RANKPOOL_* | RP_NETNS_* | VARIANT | SVD_* | HOSTFILE | NP | MAP_BY | BIND_TO | \
      TCP_IF | MPIRUN | MPI_FLAGS | DRY_RUN) unset_args+=(-u "$v") ;;
  esac
done

out=$(mktemp)
err=$(mktemp)
trap 'rm -f -- "$out" "$err"' EXIT
rc=0
env "${unset_args[@]}" DRY_RUN=1 "${settings[@]}" bash "$script" "$@" >"$out" 2>"$err" || rc=$?

echo "command: ${settings[*]} DRY_RUN=1 bash $script $*"
echo "--- stderr"
cat "$err"
echo "--- stdout"
cat "$out"
echo "---"

((rc == 0)) || { echo "FAIL: exit status $rc"; exit 1; }
lines=$(wc -l <"$out")
((lines == 1)) || { echo "FAIL: $lines lines on stdout, expected the one launch command"; exit 1; }
line=$(<"$out")
if [[ ! $line =~ ^($regex)$ ]]; then
  echo "FAIL: the command does not match"
  echo "  expected (ERE): ^($regex)\$"
  exit 1
fi
bash -n -c "$line" 2>&1 || { echo "FAIL: the printed command is not valid shell"; exit 1; }
echo "PASS"
