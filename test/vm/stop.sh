#!/usr/bin/env bash
# Stops the VM started by boot.sh in --workdir DIR: ACPI power-off via QMP, then
# SIGTERM, then SIGKILL. Removes the overlay, seed and runtime files; keeps the
# console logs and the volume (pass --purge to delete the volume too).
# Idempotent: a workdir without a running VM is just cleaned.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${HERE}/lib.sh"

usage() {
	echo "usage: $(basename "$0") --workdir DIR [--timeout SECONDS=120] [--purge]" >&2
	exit 2
}

workdir="" timeout_s=120 purge=0
while (($#)); do
	case "$1" in
	--workdir) (($# >= 2)) || usage; workdir="$2"; shift 2 ;;
	--timeout) (($# >= 2)) || usage; timeout_s="$2"; shift 2 ;;
	--purge) purge=1; shift ;;
	-h | --help) usage ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
done
[[ -n $workdir ]] || usage
[[ $timeout_s =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds"
[[ -d $workdir ]] || { log "no workdir ${workdir}; nothing to stop"; exit 0; }
workdir="$(realpath -m -- "$workdir")"
pidfile="${workdir}/qemu.pid"
qmp="${workdir}/qmp.sock"

qemu_alive() {
	local cmd
	[[ -n $1 && -r /proc/$1/cmdline ]] || return 1
	cmd="$(tr '\0' ' ' <"/proc/$1/cmdline")"
	[[ $cmd == *qemu-system* && $cmd == *"${workdir}/"* ]]
}


wait_gone() { # pid seconds
	local end=$(($(date +%s) + $2))
	while qemu_alive "$1"; do
		(($(date +%s) < end)) || return 1
		sleep 1
	done
}

pid="$(cat "$pidfile" 2>/dev/null || true)"
if qemu_alive "$pid"; then
	t="$(now)"
	if qmp "$qmp" '{"execute": "system_powerdown"}'; then
		log "ACPI power-off sent to pid ${pid}; waiting up to ${timeout_s}s"
		if wait_gone "$pid" "$timeout_s"; then
			log "guest powered off in $(elapsed "$t")s"
		fi
	else
		log "QMP not reachable; skipping graceful power-off"
	fi
	if qemu_alive "$pid"; then
		log "still running; SIGTERM ${pid}"
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || { log "SIGKILL ${pid}"; kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 10 || die "pid ${pid} does not die"; }
	fi
else
	[[ -n $pid ]] && log "pid ${pid} from ${pidfile} is not running"
fi

rm -f "$pidfile" "$qmp" "${workdir}/root.qcow2" "${workdir}/seed.iso" "${workdir}/started_at"
rm -rf "${workdir}/seed"
if ((purge)); then
	rm -f "${workdir}"/volume-*.raw "${workdir}"/volume-*.raw.tmp
	log "volumes removed"
fi
log "stopped; kept logs in ${workdir}"
