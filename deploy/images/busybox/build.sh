#!/bin/sh
# Build the busybox:local workload image offline, in seconds.
# Needs Debian's busybox-static (apt-get install -y busybox-static) and a running engine.
# Usage: deploy/images/busybox/build.sh [TAG]   (default busybox:local)
set -eu
tag="${1:-busybox:local}"
here="$(cd "$(dirname "$0")" && pwd)"
bb="${BUSYBOX:-/bin/busybox}"
if ! "$bb" true 2>/dev/null; then
    echo "build.sh: $bb does not run; install busybox-static" >&2
    exit 1
fi
case "$(ldd "$bb" 2>&1 || true)" in
    *"not a dynamic executable"*|*"statically linked"*) ;;
    *) echo "build.sh: $bb is not statically linked; install busybox-static" >&2; exit 1 ;;
esac
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$here/index.html" "$ctx/"
cp "$bb" "$ctx/busybox"
# the classic builder needs no buildx plugin and no network for FROM scratch
if ! out="$(DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" 2>&1)"; then
    echo "$out" >&2
    exit 1
fi
echo "$tag"
