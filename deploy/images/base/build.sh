#!/bin/sh
# Build a Python base image offline-from-Docker: debootstrap a minimal Debian bookworm with
# python3 + python3-venv on the host (which can reach a Debian mirror) and `docker import` it.
# Nothing inside Docker touches the network. Takes ~40-60 s; skipped when TAG already exists
# (pass --force to rebuild).
# Needs: debootstrap (apt-get install -y debootstrap), root, a running engine.
# Usage: deploy/images/base/build.sh [--force] [TAG]   (default haplane-base:bookworm)
# Env:   MIRROR (default http://deb.debian.org/debian), SUITE (default bookworm)
set -eu
force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
tag="${1:-haplane-base:bookworm}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
suite="${SUITE:-bookworm}"
if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "build.sh: debootstrap missing (apt-get install -y debootstrap)" >&2; exit 1; }
root="$(mktemp -d /tmp/haplane-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# smaller image: no apt lists, docs or caches
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    -c 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "$tag"
