#!/usr/bin/env bash
# The VM stand-in of `npm run bake` (ADR 0008): boots the stock image with the product's bake
# user-data (cloud-init/bake.ts, rendered by prepare.ts) and waits for the guest to power itself
# off, which it does only once every package is installed. Its disk then becomes the image a baked
# node boots, as a Hetzner snapshot does: cached under the stock image's key, the set's hash (the
# way `baked: true` finds the newest snapshot) and a hash of how it was baked. Prints timings and sizes, then the
# image directory on its last line. Needs the test network (net.sh up) for the mirror.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${HERE}/lib.sh"

usage() {
	cat >&2 <<EOF
usage: $(basename "$0") --stock DIR --user-data FILE --hash HEX --workdir DIR [--bound SECONDS=2400]
  --stock DIR      the stock image (image.sh)
  --user-data FILE the bake user-data of the set
  --hash HEX       the set's hash (label xiopro-bake)
  --workdir DIR    where the bake guest runs
  --bound S        give up when the guest has not powered off within S seconds
Environment: XIOPRO_VM_REBUILD=1 bakes again even when the cache has the set.
EOF
	exit 2
}

stock="" user_data="" hash="" workdir="" bound=2400
while (($#)); do
	case "$1" in
	--stock | --user-data | --hash | --workdir | --bound) (($# >= 2)) || usage ;;&
	--stock) stock=$2 ;;
	--user-data) user_data=$2 ;;
	--hash) hash=$2 ;;
	--workdir) workdir=$2 ;;
	--bound) bound=$2 ;;
	-h | --help) usage ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift 2
done
[[ -n $stock && -n $user_data && -n $workdir ]] || usage
[[ $hash =~ ^[0-9a-f]{16}$ ]] || die "--hash must be 16 hex digits (got '$hash')"
[[ $bound =~ ^[0-9]+$ ]] || die "--bound must be whole seconds"
[[ -s $stock/root.img && -s $stock/info ]] || die "no stock image in $stock"

# The cache key: the stock image, the set, and how it is baked (the user-data and this script), so
# a change to the bake itself bakes again although the set's hash stays.
how=$(cat "$user_data" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-8)
final="${XVM_CACHE}/baked/$(basename "$stock")-${hash}-${how}"
if [[ ${XIOPRO_VM_REBUILD:-0} != 1 && -s $final/root.img && -s $final/info ]]; then
	log "baked image of set ${hash} from the cache ($(grep -E '^baked_seconds=' "$final/info" | cut -d= -f2) s to bake, $(grep -E '^baked=' "$final/info" | cut -d= -f2))"
	echo "$final"
	exit 0
fi

t0=$(date +%s)
"${HERE}/boot.sh" --user-data "$user_data" --name xiopro-bake --workdir "$workdir" --image "$stock" >/dev/null
pid=$(cat "$workdir/qemu.pid")
# The guest powers off by itself; qemu then exits.
while kill -0 "$pid" 2>/dev/null; do
	if (($(date +%s) - t0 > bound)); then
		log "the bake guest did not power off within ${bound} s; its console:"
		tail -n 30 "$workdir/console.log" >&2 || true
		"${HERE}/stop.sh" --workdir "$workdir" --timeout 5 >/dev/null 2>&1 || true
		exit 1
	fi
	sleep 5
done
baked_s=$(($(date +%s) - t0))
# The power-off's condition is the proof that every package is installed; a guest that stopped
# for another reason (a kernel panic) did not reach the kernel's orderly power-off.
grep -q "reboot: Power down" "$workdir/console.log" ||
	{ log "the bake guest stopped without an orderly power-off (console below)"; tail -n 30 "$workdir/console.log" >&2; exit 1; }

tmp="${final}.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
# The disk as it was at power-off, as Hetzner snapshots it: flattened onto a raw file (sparse).
qemu-img convert -O raw "$workdir/root.qcow2" "$tmp/root.img"
cp "$stock/vmlinuz" "$stock/initrd.img" "$tmp/"
allocated_mb=$(($(du -B1 "$tmp/root.img" | cut -f1) / 1048576))
{
	cat "$stock/info"
	echo "baked=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "bake_hash=${hash}"
	echo "baked_seconds=${baked_s}"
	echo "allocated_mb=${allocated_mb}"
} >"$tmp/info"
"${HERE}/stop.sh" --workdir "$workdir" >/dev/null 2>&1 || true
rm -rf "$final"
mv "$tmp" "$final"
# One baked image in the cache (each holds a few GB): older sets no running guest uses go.
for old in "${XVM_CACHE}"/baked/*; do
	[[ -d $old && $old != "$final" ]] || continue
	grep -qsF -- "${old}/" /proc/[0-9]*/cmdline || rm -rf --one-file-system "$old"
done
log "baked set ${hash} in ${baked_s} s (bound ${bound} s): ${allocated_mb} MB allocated on the disk"
echo "$final"
