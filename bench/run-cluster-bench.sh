#!/usr/bin/env bash
# Builds podnet, podnet-cni, pod_tool and cluster_bench, then runs issue 5's benchmarks, each on its
# own `podnet up` cluster (state in /var/tmp/pn-cbench-*, a free 192.168.x.0/24 underlay), removed
# with `podnet down` at the end, on failure and on Ctrl-C. Needs root and iperf3 (install-deps.sh).
#
#   bench/run-cluster-bench.sh [--bench netprog,podstart,iperf,rss] [--changes 200] [--pods 100]
#                              [--services 10000] [--writers 8] [--iperf-seconds 5] [--iperf-reps 5]
#                              [--iperf-pin yes|no]   (iperf3 -A 0,1 in every case; see cluster_bench.cpp)
# Environment: BUILD_DIR (default build; needs the tests, for pod_tool), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "iperf3 missing: scripts/install-deps.sh" >&2; exit 1; }
build=${BUILD_DIR:-build}
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target cluster_bench podnet podnet-cni pod_tool >/dev/null
exec "$build/bench/cluster_bench" "$@"
