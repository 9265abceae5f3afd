#!/usr/bin/env bash
# podnet's DNS server vs unbound vs dnsmasq on the same 10,000 cluster names, as
# /work/shared/facts/dns-anchors.md: one namespace made here, server on CPU 1, dnsperf on CPU 0,
# 100,000 random queries, `dnsperf -l SECONDS -c 4 -Q 500000`; RUNS interleaved rounds; prints each
# run and the median / p95 QPS per server. Needs root, dnsperf, unbound, dnsmasq.
# Each run also reports the server's CPU time over the run (utime + stime from /proc/PID/stat) and
# so its queries per CPU-second ("capacity of one core"): when the server's core is not saturated,
# dnsperf on the other core is the limit and the QPS figure understates the server.
#   bench/run-dns-bench.sh [BUILD_DIR]   RUNS=5 SECONDS=15 SERVICES=10000
set -euo pipefail
build=${1:-build}
runs=${RUNS:-5}
secs=${SECONDS_PER_RUN:-15}
n=${SERVICES:-10000}
for t in dnsperf unbound dnsmasq taskset; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done
[ -x "$build/bench/dns_bench" ] || { echo "build $build/bench/dns_bench first (ninja -C $build dns_bench)" >&2; exit 2; }
ns=pn-dnsbench-$$
dir=$(mktemp -d /var/tmp/pn-dnsbench-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

# The same records for every server.
{
  echo 'server:'
  echo '  interface: 127.0.0.1'; echo '  port: 5301'; echo '  do-daemonize: no'; echo '  username: ""'
  echo '  chroot: ""'; echo "  directory: \"$dir\""; echo '  pidfile: ""'; echo '  use-syslog: no'
  echo '  num-threads: 1'; echo '  do-ip6: no'; echo '  access-control: 127.0.0.0/8 allow'
  echo '  module-config: "iterator"'; echo '  local-zone: "cluster.local." static'
  for ((i = 0; i < n; i++)); do
    echo "  local-data: \"s$i.default.svc.cluster.local. 5 IN A 10.96.$(((i + 10) / 256)).$(((i + 10) % 256))\""
  done
  echo 'remote-control:'; echo '  control-enable: no'
} >"$dir/unbound.conf"
for ((i = 0; i < n; i++)); do
  echo "10.96.$(((i + 10) / 256)).$(((i + 10) % 256)) s$i.default.svc.cluster.local"
done >"$dir/hosts"
python3 - "$n" >"$dir/queries" <<'PY'
import random, sys
n = int(sys.argv[1]); r = random.Random(1)
for _ in range(100000): print(f"s{r.randrange(n)}.default.svc.cluster.local A")
PY

# Not through in_ns: $! must be the server itself (ip netns exec and taskset exec it), not a subshell.
start() {
  case $1 in
    podnet) ip netns exec "$ns" taskset -c 1 "$build/bench/dns_bench" 5300 "$n" 2>"$dir/podnet.log" & pid=$!; port=5300 ;;
    unbound) ip netns exec "$ns" taskset -c 1 unbound -d -c "$dir/unbound.conf" 2>"$dir/unbound.log" & pid=$!; port=5301 ;;
    dnsmasq) ip netns exec "$ns" taskset -c 1 dnsmasq -k --no-resolv --no-hosts --addn-hosts="$dir/hosts" --cache-size=10000 \
               --listen-address=127.0.0.1 --bind-interfaces --port=5302 --user=root --pid-file= \
               2>"$dir/dnsmasq.log" & pid=$!; port=5302 ;;
  esac
  for _ in $(seq 100); do
    in_ns dig @127.0.0.1 -p $port +time=1 +tries=1 +short s1.default.svc.cluster.local 2>/dev/null | grep -q 10.96 && return
    sleep 0.1
  done
  echo "$1 did not start" >&2; cat "$dir/$1.log" >&2; exit 1
}
stop() {
  if ! kill "$pid" 2>/dev/null; then
    echo "$1 exited during the run:" >&2; cat "$dir/$1.log" >&2; exit 1
  fi
  wait "$pid" 2>/dev/null || true
  pid=
}

# utime + stime of a process in clock ticks (/proc/PID/stat fields 14 and 15; the name may hold spaces).
ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A results capacity
for ((r = 1; r <= runs; r++)); do
  for s in podnet unbound dnsmasq; do
    start $s
    t0=$(ticks "$pid")
    out=$(in_ns taskset -c 0 dnsperf -s 127.0.0.1 -p $port -d "$dir/queries" -l "$secs" -c 4 -Q 500000 2>&1)
    t1=$(ticks "$pid")
    stop $s
    qps=$(awk '/Queries per second/{print $4}' <<<"$out")
    lost=$(awk '/Queries lost/{print $3}' <<<"$out")
    lat=$(awk '/Average Latency/{print $4}' <<<"$out")
    done_q=$(awk '/Queries completed/{print $3}' <<<"$out")
    cpu=$(python3 -c "print(f'{($t1 - $t0) / $hz:.2f}')")
    cap=$(python3 -c "print(f'{$done_q / max(($t1 - $t0) / $hz, 0.01):.0f}')")
    echo "run $r $s: $qps QPS, avg latency ${lat}s, lost $lost, server CPU ${cpu}s of ${secs}s, $cap queries per server CPU-second"
    results[$s]+="$qps "
    capacity[$s]+="$cap "
  done
done
[ -f "$dir/podnet.log" ] && grep "store RSS" "$dir/podnet.log" || true
for s in podnet unbound dnsmasq; do
  python3 - $s "${results[$s]}" "${capacity[$s]}" <<'PY'
import statistics, sys
name = sys.argv[1]
v = sorted(float(x) for x in sys.argv[2].split())
c = sorted(float(x) for x in sys.argv[3].split())
p95 = v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
print(f"{name}: median {statistics.median(v):,.0f} QPS, p95 {p95:,.0f} (range {v[0]:,.0f}-{v[-1]:,.0f}), runs {len(v)};"
      f" queries per server CPU-second median {statistics.median(c):,.0f} (range {c[0]:,.0f}-{c[-1]:,.0f})")
PY
done
