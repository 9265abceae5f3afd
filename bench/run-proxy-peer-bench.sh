#!/usr/bin/env bash
# Builds and runs proxy_peer_bench (root): podnet's proxy vs kube-proxy's iptables and nftables rule
# shapes, load time and connect latency, side by side. Extra arguments go to the benchmark, e.g.
#   bench/run-proxy-peer-bench.sh --sizes 10,1000,10000,100000 --timeout-s 600
# (proxy_peer_bench --help lists them). Everything happens in namespaces named pn-pb-<pid>-* and in
# /var/tmp/pn-pb-<pid>, which the benchmark removes itself at the end, on failure and on
# Ctrl-C/SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
build=${BUILD_DIR:-build}
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target proxy_peer_bench >/dev/null
exec "$build/bench/proxy_peer_bench" "$@"
