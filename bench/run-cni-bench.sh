#!/usr/bin/env bash
# Builds podnet-cni and cni_bench, then runs the benchmark: ADD/DEL wall time of podnet-cni next to
# the reference bridge + host-local plugins (/usr/lib/cni, Debian's containernetworking-plugins).
# Needs root: it works in network namespaces it creates (pn-bench-*) and removes them at the end.
#
#   bench/run-cni-bench.sh [--ops N] [--pods N] [--ref-dir DIR]
# Environment: BUILD_DIR (default build-bench; an existing build directory is reused as it is),
# BUILD_TYPE (for a new build directory; default: the project's), JOBS (default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DPODNET_BUILD_TESTS=OFF ${BUILD_TYPE:+-DCMAKE_BUILD_TYPE="$BUILD_TYPE"} >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}" --target podnet-cni cni_bench
exec "$build/bench/cni_bench" --plugin "$build/podnet-cni" "$@"
