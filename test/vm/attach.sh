#!/usr/bin/env bash
# Attaches a volume that boot.sh created with --detached-volumes to the running guest, the way
# Hetzner attaches a Volume to a server that already exists: a SCSI disk with the same HC/Volume
# identity hot-plugged on the virtio-scsi controller (the guest sees scsi-0HC_Volume_<id> appear).
# usage: attach.sh --workdir DIR --volume ID
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${HERE}/lib.sh"

workdir="" vid=""
while (($#)); do
	case "$1" in
	--workdir) workdir="${2:?}"; shift ;;
	--volume) vid="${2:?}"; shift ;;
	*) die "usage: $(basename "$0") --workdir DIR --volume ID" ;;
	esac
	shift
done
[[ -n $workdir && $vid =~ ^[0-9]{1,12}$ ]] || die "usage: $(basename "$0") --workdir DIR --volume ID"
volume="$(realpath -m -- "$workdir")/volume-${vid}.raw"
[[ -f $volume ]] || die "no volume ${vid} in ${workdir} (boot.sh --detached-volumes creates it)"
qmp "${workdir}/qmp.sock" \
	"{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"raw\", \"node-name\": \"vol${vid}\", \"discard\": \"unmap\", \"cache\": {\"no-flush\": true}, \"file\": {\"driver\": \"file\", \"filename\": \"${volume}\"}}}" \
	"{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"scsi-hd\", \"id\": \"disk${vid}\", \"bus\": \"scsi0.0\", \"drive\": \"vol${vid}\", \"vendor\": \"HC\", \"product\": \"Volume\", \"serial\": \"${vid}\"}}"
log "volume ${vid} attached to the running guest"
