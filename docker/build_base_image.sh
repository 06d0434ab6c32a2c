#!/usr/bin/env bash
# Build a Debian bookworm image with python3 + venv from Debian's archive, for
# machines that cannot pull python:3.11-slim-bookworm from a registry.
# Usage: docker/build_base_image.sh [IMAGE]   (FORCE=1 rebuilds an existing image)
set -euo pipefail

image="${1:-mfrec-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages="python3,python3-venv,ca-certificates"

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image exists (FORCE=1 to rebuild)"
    exit 0
fi

rootfs="$(mktemp -d /var/tmp/mfrec-rootfs.XXXXXX)"
cleanup() {
    umount "$rootfs/proc" 2>/dev/null || true
    rm -rf "$rootfs"
}
trap cleanup EXIT

debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror"

cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
# Point-release packages from debootstrap, then the updates and security fixes since.
mount -t proc proc "$rootfs/proc"
chroot "$rootfs" apt-get update -q
DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get upgrade -y -q
chroot "$rootfs" apt-get clean
umount "$rootfs/proc"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/var/log/*.log "$rootfs"/tmp/*

tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$image"
docker image ls "$image"
