#!/usr/bin/env bash
# Installs every Debian package podnet needs to build, test and run (Debian 12).
# Usage: scripts/install-deps.sh [--runtime-tests]
#   --runtime-tests  also installs what only the tests use: podman, containerd and runc for the
#                    real-runtime tests, protoc (decodes the OpenAPI v2 protobuf independently) and
#                    Debian's python3-kubernetes client (the Python client tests), afl++ (fuzz/run.sh),
#                    unbound, dnsmasq and dnsperf (DNS forwarding tests and bench/run-dns-bench.sh).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

build_pkgs=(
  build-essential g++ cmake ninja-build pkg-config clang-format clang lld libbpf-dev
  libnl-3-dev libnl-route-3-dev libnl-nf-3-dev libnftables-dev libnftnl-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libssl-dev zlib1g-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libknot-dev libgraphviz-dev
)
run_pkgs=(iproute2 nftables iptables procps iputils-ping socat iperf3 busybox-static containernetworking-plugins
  dnsutils util-linux curl)
runtime_pkgs=(podman containerd runc)
# unbound (upstream of the DNS forwarding tests; also its peer in bench/run-dns-bench.sh with
# dnsmasq-base and dnsperf). ipset: kube-router's rule shape in bench/policy_bench.
test_pkgs=(protobuf-compiler python3-kubernetes afl++ unbound dnsmasq-base dnsperf ipset)

pkgs=("${build_pkgs[@]}" "${run_pkgs[@]}")
if [ "${1:-}" = "--runtime-tests" ]; then pkgs+=("${runtime_pkgs[@]}" "${test_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
