#!/usr/bin/env bash
# Builds (or finds in the cache) a Debian 12 base image for the VM harness:
#   <cache>/images/<key>/root.img   ext4 filesystem image (whole disk, no partition table)
#   <cache>/images/<key>/vmlinuz    kernel for qemu -kernel
#   <cache>/images/<key>/initrd.img initrd for qemu -initrd
#   <cache>/images/<key>/info       what went into it
# Prints the image directory on stdout (last line); all logging goes to stderr.
#
# Environment:
#   XIOPRO_VM_CACHE            cache dir (default /var/cache/xiopro-vm), keep it outside the repo
#   XIOPRO_VM_EXTRA_PACKAGES   space separated packages pre-installed like a provider snapshot
#   XIOPRO_VM_MIRROR           Debian mirror (default: the one in this machine's apt sources)
#   XIOPRO_VM_SECURITY_MIRROR  Debian security mirror (default: idem)
#   XIOPRO_VM_REBUILD=1        ignore an existing cached image with the same key
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${HERE}/lib.sh"

usage() {
	cat >&2 <<EOF
usage: $(basename "$0") [--print-key] [--prune]
Builds or reuses the cached Debian ${XVM_SUITE} base image and prints its directory.
  --print-key  only print the cache key of the image the environment asks for
  --prune      afterwards delete other cached images no running qemu uses
EOF
	exit 2
}

print_key_only=0 prune=0
while (($#)); do
	case "$1" in
	--print-key) print_key_only=1 ;;
	--prune) prune=1 ;;
	-h | --help) usage ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done

# What a provider's stock image has (Debian 13 no longer puts e2fsprogs in minbase; cloud-init's
# resizefs needs it).
BASE_PACKAGES=(systemd-sysv udev dbus linux-image-amd64 initramfs-tools cloud-init
	openssh-server sudo ifupdown isc-dhcp-client iproute2 ca-certificates netbase
	locales python3-cffi-backend e2fsprogs)
read -r -a EXTRA_PACKAGES <<<"${XIOPRO_VM_EXTRA_PACKAGES:-}"
if ((${#EXTRA_PACKAGES[@]})); then
	mapfile -t EXTRA_PACKAGES < <(printf '%s\n' "${EXTRA_PACKAGES[@]}" | LC_ALL=C sort -u)
fi
for p in "${EXTRA_PACKAGES[@]}"; do
	[[ $p =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || die "invalid package name in XIOPRO_VM_EXTRA_PACKAGES: '$p'"
done

MIRROR="${XIOPRO_VM_MIRROR:-$(guest_mirror "${XVM_SUITE}" || true)}"
SECURITY_MIRROR="${XIOPRO_VM_SECURITY_MIRROR:-$(guest_mirror "${XVM_SUITE}-security" || true)}"
[[ -n $MIRROR ]] || die "no apt source for '${XVM_SUITE}' in /etc/apt/sources.list*; set XIOPRO_VM_MIRROR"
[[ -n $SECURITY_MIRROR ]] || SECURITY_MIRROR=""

# The cache key covers everything that changes the image.
KEY="$(
	{
		cat "${BASH_SOURCE[0]}"
		printf 'suite=%s\nmirror=%s\nsecurity=%s\n' "${XVM_SUITE}" "${MIRROR}" "${SECURITY_MIRROR}"
		printf 'resolver=%s\nroot_uuid=%s\n' "${XVM_PUB_GW4}" "${XVM_ROOT_UUID}"
		printf 'base=%s\n' "${BASE_PACKAGES[*]}"
		printf 'extra=%s\n' "${EXTRA_PACKAGES[*]:-}"
	} | sha256sum | cut -c1-16
)"
if ((print_key_only)); then
	echo "${KEY}"
	exit 0
fi

IMAGES="${XVM_CACHE}/images"
FINAL="${IMAGES}/${KEY}"

prune_others() {
	((prune)) || return 0
	local d
	for d in "${IMAGES}"/*; do
		[[ -d $d && $d != "${FINAL}" ]] || continue
		if grep -qsF -- "${d}/" /proc/[0-9]*/cmdline; then
			log "keeping ${d}: a running process uses it"
			continue
		fi
		log "pruning ${d}"
		rm -rf --one-file-system "$d"
	done
	# Lock files of keys that have no image (and no build running).
	local lock
	for lock in "${XVM_CACHE}"/tmp/*.lock; do
		[[ -f $lock && $lock != "${XVM_CACHE}/tmp/${KEY}.lock" && ! -d ${IMAGES}/$(basename "$lock" .lock) ]] || continue
		flock -n "$lock" rm -f "$lock" || true
	done
}

image_complete() {
	[[ -s $1/root.img && -s $1/vmlinuz && -s $1/initrd.img && -s $1/info ]]
}

if [[ ${XIOPRO_VM_REBUILD:-0} != 1 ]] && image_complete "${FINAL}"; then
	log "cached image ${KEY} (extra packages: ${EXTRA_PACKAGES[*]:-none})"
	prune_others
	echo "${FINAL}"
	exit 0
fi

need_root
need_cmds debootstrap mkfs.ext4 unshare chroot flock sha256sum mount

case "${XVM_CACHE}" in
"$(cd "${HERE}/../.." && pwd)"/*) die "XIOPRO_VM_CACHE must be outside the repository (got ${XVM_CACHE})" ;;
esac

mkdir -p "${IMAGES}" "${XVM_CACHE}/tmp" "${XVM_CACHE}/debs/debootstrap" "${XVM_CACHE}/debs/apt/partial"

# One build per key at a time; a second caller waits and then finds the image.
exec 9>"${XVM_CACHE}/tmp/${KEY}.lock"
if ! flock -n 9; then
	log "another build of ${KEY} is running; waiting for it (up to 60 min)"
	flock -w 3600 9 || die "timed out waiting for the build lock ${XVM_CACHE}/tmp/${KEY}.lock"
fi
if [[ ${XIOPRO_VM_REBUILD:-0} != 1 ]] && image_complete "${FINAL}"; then
	log "cached image ${KEY} (built by a concurrent run)"
	echo "${FINAL}"
	exit 0
fi

# Leftovers of an interrupted build of the same key (we hold the lock).
for stale in "${XVM_CACHE}/tmp/${KEY}".build.*; do
	[[ -d $stale ]] || continue
	log "removing stale build dir ${stale}"
	rm -rf --one-file-system "${stale}"
done

WORK="$(mktemp -d "${XVM_CACHE}/tmp/${KEY}.build.XXXXXX")"
cleanup() {
	local rc=$?
	if [[ -n ${WORK:-} && -d ${WORK} ]]; then
		rm -rf --one-file-system "${WORK}"
	fi
	((rc == 0)) || log "image build failed (exit ${rc}); nothing was left under ${IMAGES}"
}
trap cleanup EXIT

ROOTFS="${WORK}/rootfs"
OUT="${WORK}/out"
mkdir -p "${ROOTFS}" "${OUT}"

T_TOTAL="$(now)"
log "building image ${KEY}: debian ${XVM_SUITE} from ${MIRROR}"
log "extra packages: ${EXTRA_PACKAGES[*]:-none}"

# --- 1. debootstrap (own mount namespace: its /proc,/sys mounts die with it) ---
T="$(now)"
include="$(
	IFS=,
	echo "${BASE_PACKAGES[*]}"
)"
if ! unshare --mount --propagation private \
	debootstrap --variant=minbase --include="${include}" \
	--cache-dir="${XVM_CACHE}/debs/debootstrap" \
	"${XVM_SUITE}" "${ROOTFS}" "${MIRROR}" >"${WORK}/debootstrap.log" 2>&1; then
	tail -n 30 "${WORK}/debootstrap.log" >&2
	[[ -f ${ROOTFS}/debootstrap/debootstrap.log ]] && tail -n 30 "${ROOTFS}/debootstrap/debootstrap.log" >&2
	die "debootstrap failed (log above)"
fi
log "debootstrap done in $(elapsed "$T")s"

# --- 2. configure inside the chroot --------------------------------------------
T="$(now)"
{
	echo "Types: deb"
	echo "URIs: ${MIRROR}"
	echo "Suites: ${XVM_SUITE} ${XVM_SUITE}-updates"
	echo "Components: main"
	echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
	if [[ -n ${SECURITY_MIRROR} ]]; then
		echo
		echo "Types: deb"
		echo "URIs: ${SECURITY_MIRROR}"
		echo "Suites: ${XVM_SUITE}-security"
		echo "Components: main"
		echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
	fi
} >"${ROOTFS}/etc/apt/sources.list.d/debian.sources"
rm -f "${ROOTFS}/etc/apt/sources.list"

# No service may start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' >"${ROOTFS}/usr/sbin/policy-rc.d"
chmod 0755 "${ROOTFS}/usr/sbin/policy-rc.d"
rm -f "${ROOTFS}/etc/resolv.conf"
cp -L /etc/resolv.conf "${ROOTFS}/etc/resolv.conf"

extra="${EXTRA_PACKAGES[*]:-}"
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --mount --propagation private env ROOTFS="${ROOTFS}" APTCACHE="${XVM_CACHE}/debs/apt" EXTRA="${extra}" bash -euo pipefail -c '
	mount -t proc proc "$ROOTFS/proc"
	mount -t sysfs sysfs "$ROOTFS/sys"
	mount --bind /dev "$ROOTFS/dev"
	mount -t devpts devpts "$ROOTFS/dev/pts" -o newinstance,ptmxmode=0666 || true
	mount --bind "$APTCACHE" "$ROOTFS/var/cache/apt/archives"
	export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 LANG=C.UTF-8
	apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o APT::Keep-Downloaded-Packages=true)
	chroot "$ROOTFS" apt-get -q update
	chroot "$ROOTFS" apt-get "${apt_opts[@]}" dist-upgrade
	if [[ -n $EXTRA ]]; then
		# Download only, like a warm package cache: the guest installs them at first boot from its
		# own user-data (real postinst order, config files already in place, data on the volume).
		mkdir -p "$ROOTFS/var/cache/xiopro-predownload/partial"
		# shellcheck disable=SC2086
		chroot "$ROOTFS" apt-get "${apt_opts[@]}" --no-install-recommends --download-only \
			-o Dir::Cache::archives=/var/cache/xiopro-predownload/ install $EXTRA
	fi
	sed -i "s/^# *\(en_US.UTF-8 UTF-8\)/\1/" "$ROOTFS/etc/locale.gen"
	chroot "$ROOTFS" locale-gen
	chroot "$ROOTFS" update-locale LANG=en_US.UTF-8
	# dpkg status must be clean: cloud-init unconfigured = broken guest.
	if chroot "$ROOTFS" dpkg --audit | grep -q .; then
		chroot "$ROOTFS" dpkg --audit >&2
		echo "dpkg --audit reports unconfigured packages" >&2
		exit 1
	fi
' >"${WORK}/configure.log" 2>&1 || {
	tail -n 40 "${WORK}/configure.log" >&2
	die "configuring the rootfs failed (log above)"
}
log "packages configured in $(elapsed "$T")s"
# The pre-downloaded .debs become the guest's package cache.
if compgen -G "${ROOTFS}/var/cache/xiopro-predownload/*.deb" >/dev/null; then
	mv "${ROOTFS}"/var/cache/xiopro-predownload/*.deb "${ROOTFS}/var/cache/apt/archives/"
fi
rm -rf "${ROOTFS}/var/cache/xiopro-predownload"

# --- 3. make it look like a fresh cloud image ----------------------------------
cat >"${ROOTFS}/etc/cloud/cloud.cfg.d/90_dpkg.cfg" <<'EOF'
# xiopro VM harness: the NoCloud seed stands in for Hetzner's metadata service.
datasource_list: [ NoCloud, None ]
EOF
# Hetzner's images let cloud-init write /etc/hosts (127.0.1.1 <hostname>).
cat >"${ROOTFS}/etc/cloud/cloud.cfg.d/91_xiopro_vm.cfg" <<'EOF'
manage_etc_hosts: true
EOF
if [[ ! -f ${ROOTFS}/etc/network/interfaces ]] || ! grep -q '^source /etc/network/interfaces.d/' "${ROOTFS}/etc/network/interfaces"; then
	cat >"${ROOTFS}/etc/network/interfaces" <<'EOF'
# interfaces(5); cloud-init writes /etc/network/interfaces.d/50-cloud-init
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
EOF
fi
mkdir -p "${ROOTFS}/etc/network/interfaces.d"
# Stands in for Hetzner's resolvers: the harness namespace answers DNS on its gateway.
rm -f "${ROOTFS}/etc/resolv.conf"
printf 'nameserver %s\n' "${XVM_PUB_GW4}" >"${ROOTFS}/etc/resolv.conf"
echo localhost >"${ROOTFS}/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' >"${ROOTFS}/etc/hosts"
: >"${ROOTFS}/etc/fstab"
: >"${ROOTFS}/etc/machine-id"
rm -f "${ROOTFS}/var/lib/dbus/machine-id" "${ROOTFS}"/etc/ssh/ssh_host_*
rm -f "${ROOTFS}/usr/sbin/policy-rc.d"
rm -rf "${ROOTFS}"/var/lib/apt/lists/* "${ROOTFS}"/var/lib/cloud/* "${ROOTFS}"/tmp/* "${ROOTFS}"/var/tmp/*
find "${ROOTFS}/var/log" -type f -delete
rm -rf "${ROOTFS}/debootstrap"

kernel="$(find "${ROOTFS}/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)"
[[ -n $kernel ]] || die "no kernel found in ${ROOTFS}/boot"
kver="${kernel##*/vmlinuz-}"
[[ -s ${ROOTFS}/boot/initrd.img-${kver} ]] || die "no initrd for kernel ${kver}"
cp "${kernel}" "${OUT}/vmlinuz"
cp "${ROOTFS}/boot/initrd.img-${kver}" "${OUT}/initrd.img"

# --- 4. ext4 image straight from the directory (no loop mount) -----------------
T="$(now)"
used_mb="$(du -sxm "${ROOTFS}" | awk '{print $1}')"
# Room for first-boot installs; cloud-init's resizefs grows it to the disk size anyway.
size_mb=$(((used_mb * 5 / 4 + 1024 + 255) / 256 * 256))
truncate -s "${size_mb}M" "${OUT}/root.img"
mkfs.ext4 -q -F -L xvm-root -U "${XVM_ROOT_UUID}" -d "${ROOTFS}" "${OUT}/root.img" ||
	die "mkfs.ext4 -d failed"
log "ext4 image (${used_mb} MiB used, ${size_mb} MiB fs) in $(elapsed "$T")s"

{
	echo "key=${KEY}"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "suite=${XVM_SUITE}"
	echo "mirror=${MIRROR}"
	echo "security_mirror=${SECURITY_MIRROR}"
	echo "kernel=${kver}"
	echo "root_uuid=${XVM_ROOT_UUID}"
	echo "base_packages=${BASE_PACKAGES[*]}"
	echo "extra_packages=${EXTRA_PACKAGES[*]:-}"
	echo "fs_size_mb=${size_mb}"
} >"${OUT}/info"
sync -f "${OUT}/root.img"

# --- 5. publish atomically -----------------------------------------------------
if [[ -e ${FINAL} ]]; then
	rm -rf --one-file-system "${FINAL}.old"
	mv "${FINAL}" "${FINAL}.old"
fi
mv "${OUT}" "${FINAL}"
rm -rf --one-file-system "${FINAL}.old"
log "image ${KEY} ready in $(elapsed "${T_TOTAL}")s total: ${FINAL}"
prune_others
echo "${FINAL}"
