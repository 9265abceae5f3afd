#!/usr/bin/env bash
# ArchitectureLayeringRefuses: scripts/check-layering.py fails on a forbidden include, a forbidden
# link, a grown debt counter, a forbidden pattern (a kind compare in the API server) and a second
# definition of a one-of-a-kind type (PatchType, the ApiClient interface), each injected into a copy
# of the tree.
set -euo pipefail
src=$1
tmp=$(mktemp -d /tmp/pn-layering-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
copy() {
  rm -rf "$tmp/t" && mkdir -p "$tmp/t" && cp -r "$src/src" "$src/docs" "$src/scripts" "$tmp/t/"
}
expect_fail() {
  local what=$1 pattern=$2
  if out=$(python3 "$tmp/t/scripts/check-layering.py" --root "$tmp/t" 2>&1); then
    echo "FAIL: $what was not refused" >&2
    exit 1
  fi
  grep -q -- "$pattern" <<<"$out" || { echo "FAIL: $what: unexpected output: $out" >&2; exit 1; }
  echo "ok: $what refused"
}
copy
python3 "$tmp/t/scripts/check-layering.py" --root "$tmp/t" >/dev/null
copy
echo '#include "agent/agent.h"' >>"$tmp/t/src/k8s/names.cpp"
expect_fail "k8s including agent" "forbidden edge k8s -> agent"
copy
sed -i 's/target_link_libraries(podnet_storage PUBLIC podnet_common/target_link_libraries(podnet_storage PUBLIC podnet_common podnet_apiserver/' \
  "$tmp/t/src/storage/CMakeLists.txt"
expect_fail "storage linking apiserver" "forbidden edge storage -> apiserver"
copy
printf '\nstruct X { enum class PatchType { kA }; };\n' >>"$tmp/t/src/client/informer.h"
expect_fail "a second PatchType" "forbidden 'patch-type-enums' at src/client/informer.h:"
copy
printf '\nnamespace podnet::dns { class Informer {}; }\n' >>"$tmp/t/src/dns/feed.h"
expect_fail "a second informer" "forbidden 'informer' at src/dns/feed.h:"
copy
printf '\nnamespace podnet::controllers { class ObjectCache {}; }\n' >>"$tmp/t/src/controllers/objects.h"
expect_fail "the controllers' own informer back" "forbidden 'second-client-or-informer' at src/controllers/objects.h:"
copy
printf '\nnamespace podnet::controllers { class ApiClient {}; }\n' >>"$tmp/t/src/controllers/objects.h"
expect_fail "a second client interface named ApiClient" "forbidden 'api-client-interface' at src/controllers/objects.h:"
copy
sed -i 's/^enum class PatchType /enum class PatchTypes /' "$tmp/t/src/k8s/api_client.h"
expect_fail "the one PatchType gone from its home" "'patch-type-enums': src/k8s/api_client.h must define it exactly once (found 0)"
copy
printf '#include <string>\nbool pn_probe(const std::string& kind) { return kind == "Pod"; }\n' >"$tmp/t/src/apiserver/pn_probe.cpp"
expect_fail "a kind compare in the API server" "forbidden 'apiserver-kind-compares' at src/apiserver/pn_probe.cpp:2"
copy
printf '#include <string>\nbool pn_probe(const std::string& kind) { return "Pod" != kind; }\n' >"$tmp/t/src/apiserver/pn_probe.cpp"
expect_fail "a reversed kind compare in the API server" "forbidden 'apiserver-kind-compares'"
