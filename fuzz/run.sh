#!/usr/bin/env bash
# Builds the wire fuzzer if needed (clang++-14, libFuzzer, ASan + UBSan) and fuzzes for a while
# over the committed seed corpus. Used by the ctest fuzz.wire.short and by .ci/run.
#   fuzz/run.sh [--seconds N] [--build-dir DIR] [-- extra libFuzzer flags]
# Exit status: 0 clean, 77 skipped (no clang++-14 or no libFuzzer), 1 the fuzzer found a
# crash, leak, timeout or out-of-memory (the input is saved under DIR/artifacts/), 2 usage or
# build failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=60
build=$here/../build/fuzz
extra=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [--seconds N] [--build-dir DIR] [-- libFuzzer flags]" >&2; exit 2 ;;
  esac
done
cxx=${RANKPOOL_FUZZ_CXX:-clang++-14}

if ! command -v "$cxx" >/dev/null; then
  echo "fuzz: SKIP: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
# libFuzzer ships separately from the compiler (libclang-rt-14-dev): link a trivial target.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/p.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >"$probe/log" 2>&1; then
  echo "fuzz: SKIP: $cxx cannot link -fsanitize=fuzzer,address,undefined (libclang-rt-14-dev missing?):"
  cat "$probe/log"
  exit 77
fi

mkdir -p "$build"
build=$(cd "$build" && pwd)
# The asan test preset sets CXXFLAGS/LDFLAGS for the package tests' gcc builds; this build has
# its own flags and is shared by every main build.
unset CXXFLAGS LDFLAGS
# Main builds of one tree share this fuzz build; one configure/build at a time.
exec 9>"$build.lock"
flock 9
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 2; }
fi
cmake --build "$build" --target wire_fuzz -j "$(nproc)" || exit 2
flock -u 9

# New inputs go to a scratch corpus in the build dir; the committed seeds are only read.
mkdir -p "$build/corpus" "$build/artifacts"
set +e
# libFuzzer exits 77 on a crash by default, which ctest would count as a skip: remap.
"$build/wire_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
  -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
  "${extra[@]}" "$build/corpus" "$here/corpus/wire"
status=$?
set -e
if ((status != 0)); then
  echo "fuzz: FAILED (libFuzzer status $status); reproducers: $build/artifacts/" >&2
  exit 1
fi
echo "fuzz: clean after ${seconds}s"
