#!/usr/bin/env bash
# ArchitectureProbe: building podnet_layering_probe must fail, and fail because the higher module's
# header is out of reach (not for any other reason, such as a missing k8s header).
set -u
cmake=$1 build=$2
out=$("$cmake" --build "$build" --target podnet_layering_probe 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
  echo "FAIL: the probe compiled: a k8s-only target can include apiserver/ headers" >&2
  exit 1
fi
if grep -q 'apiserver/registry/resources.h: No such file' <<<"$out" && ! grep -q 'k8s/names.h: No such file' <<<"$out"; then
  echo "ok: apiserver/registry/resources.h is out of reach of a target linking only podnet_k8s"
  exit 0
fi
echo "FAIL: the probe failed for another reason:" >&2
echo "$out" >&2
exit 1
