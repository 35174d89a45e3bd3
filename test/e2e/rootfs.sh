#!/usr/bin/env bash
# Builds (or finds in the cache) the container root filesystem for `npm run test:e2e`: the VM
# proof's cached Debian image (test/vm/image.sh, same key) copied into a directory, with the
# node's packages (XIOPRO_VM_EXTRA_PACKAGES) installed from the image's pre-downloaded .debs and
# their default services left disabled-by-policy until the container boots.
# Prints the directory on stdout (last line).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vm="$here/../vm"
# shellcheck source-path=SCRIPTDIR source=../vm/lib.sh
source "$vm/lib.sh"
need_root

# The container variant proves Debian 12 (ADR 0003); the VM proof boots Debian 13.
export XIOPRO_VM_SUITE=${XIOPRO_E2E_SUITE:-bookworm}
image=$("$vm/image.sh" | tail -n 1)
key=$(basename "$image")
dir="${XVM_CACHE}/e2e/${key}"
if [[ -f $dir/ready ]]; then
  log "cached container root ${dir}/rootfs"
  echo "$dir/rootfs"
  exit 0
fi

mkdir -p "${XVM_CACHE}/e2e" "${XVM_CACHE}/tmp"
exec 9>"${XVM_CACHE}/tmp/e2e-${key}.lock"
flock -w 1800 9 || die "timed out waiting for the e2e build lock"
if [[ -f $dir/ready ]]; then echo "$dir/rootfs"; exit 0; fi

log "building container root from image ${key}"
rm -rf "$dir"
mkdir -p "$dir/rootfs" "$dir/mnt"
mount -o loop,ro "$image/root.img" "$dir/mnt"
trap 'umount "$dir/mnt" 2>/dev/null || true; umount "$dir/rootfs/proc" 2>/dev/null || true' EXIT
cp -a "$dir/mnt/." "$dir/rootfs/"
umount "$dir/mnt"
rmdir "$dir/mnt"

r=$dir/rootfs
read -r -a pkgs <<<"${XIOPRO_VM_EXTRA_PACKAGES:-}"
if ((${#pkgs[@]})); then
  # No service starts inside the chroot; they start when the container boots.
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 0755 "$r/usr/sbin/policy-rc.d"
  mount -t proc proc "$r/proc"
  # The image keeps the .debs it pre-downloaded but no package lists: fetch the lists from the
  # same mirror the image came from (as the guest would), then install from the warm cache.
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  chroot "$r" apt-get -q update >&2
  chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends -o Dpkg::Options::=--force-confold install "${pkgs[@]}" >&2
  rm -rf "$r"/var/lib/apt/lists/*
  # shellcheck disable=SC2016 # dpkg-query format, not shell
  for p in "${pkgs[@]}"; do chroot "$r" dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || die "package $p is not installed in the container root"; done
  umount "$r/proc"
  rm -f "$r/usr/sbin/policy-rc.d"
fi
# A container has no block devices: nothing to mount at boot but what nspawn binds.
: >"$r/etc/fstab"
rm -f "$r/etc/machine-id" && : >"$r/etc/machine-id"
touch "$dir/ready"
log "container root ready: $r"
echo "$r"
