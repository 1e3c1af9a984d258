#!/usr/bin/env bash
# rankpool's one entry point on a fresh Debian 12 machine:
#   scripts/rankpool.sh demo   install what is missing, build (Release), run svd_batch under mpirun
#   scripts/rankpool.sh test   install what is missing, build (-Werror), run the whole test suite
#   scripts/rankpool.sh setup  only install what is missing
#   scripts/rankpool.sh build PRESET   install what is missing, build that CMake preset
# Idempotent: a machine that has everything skips apt entirely.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build openmpi-bin libopenmpi-dev mpich libmpich-dev libboost-mpi-dev libboost-serialization-dev
          libeigen3-dev libssl-dev libcli11-dev libgtest-dev libhdf5-openmpi-dev pkg-config gdb python3 python3-numpy
          python3-mpi4py python3-matplotlib python3-h5py)

setup() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "rankpool: installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Open MPI refuses root and more ranks than cores unless told; the project's own commands allow both.
mpi_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_rmaps_base_oversubscribe=1
  # Containers often forbid the ptrace-based single-copy path of the shared-memory transport.
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
}

# The compiler asks glibc's malloc for transparent huge pages: where the kernel gives them on
# request only (madvise, as on the CI machine) a test file's 1.5 GB of compiler memory otherwise
# costs hundreds of thousands of page faults (mpi_executor_test.cpp alone: 51 s against 76 s,
# measured; whole -j2 builds gained less, within the noise of two runs).
build() {
  local preset=$1
  cmake --preset "$preset" >/dev/null
  GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1} cmake --build --preset "$preset" -j "$(nproc)"
}

cmd=${1:-demo}
case "$cmd" in
  setup) setup ;;
  build)
    (($# == 2)) || { echo "usage: $0 build PRESET" >&2; exit 2; }
    setup; build "$2"
    ;;
  demo)
    setup; mpi_env; build release
    ranks=${RANKPOOL_DEMO_RANKS:-8}
    mpirun --oversubscribe -n "$ranks" build/release/examples/svd_batch "${@:2}"
    ;;
  test)
    setup; mpi_env; build ci
    ctest --preset ci -j "$(nproc)" "${@:2}"
    ;;
  *) echo "usage: $0 {demo|test|setup|build PRESET} [args...]" >&2; exit 2 ;;
esac
