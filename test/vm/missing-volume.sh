#!/usr/bin/env bash
# The VM proof's first boot lacks one volume, and the runbook's fix follows on the same node
# (docs/runbooks/volume-not-attached.md). run.sh attaches every other volume as first boot asks for
# it; this one never comes. xiopro-volumes must give up within the volume's attach bound with one
# line naming the volume id and mount point, cloud-init must end in error, and acceptance must fail
# naming the volume. Then the fix: the volume attached (QMP, as `pulumi up` creating the missing
# attachment), bootstrap run again over the admin path, which must succeed. Prints PASS/FAIL lines
# that run.sh counts; exits 1 when the node could not be fixed (the rest of the proof needs it).
#
#   missing-volume.sh --work WORK --volume ID --mount MOUNT_POINT --bound SECONDS -- ACCEPT_ARGS...
# ACCEPT_ARGS: the arguments of run.sh's acceptance run (without --reboot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

work='' vid='' mp='' bound=''
while (($#)); do
	case $1 in
	--work) work=$2 && shift ;;
	--volume) vid=$2 && shift ;;
	--mount) mp=$2 && shift ;;
	--bound) bound=$2 && shift ;;
	--) shift && break ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done
[[ -d $work && $vid =~ ^[0-9]+$ && $mp == /* && $bound =~ ^[0-9]+$ && $# -gt 0 ]] || die "usage: missing-volume.sh --work WORK --volume ID --mount MOUNT_POINT --bound SECONDS -- ACCEPT_ARGS..."
started=$(date +%s)
say() { printf '[missing-volume %4ss] %s\n' "$(($(date +%s) - started))" "$*"; }
ssh_base=(ip netns exec "${XVM_NETNS}" ssh -i "$work/id" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 ops@203.0.113.10)
result() { # result PASS|FAIL TEXT
	printf '%s %s\n' "$1" "$2"
}

waiting_at=''
for _ in $(seq 1 360); do
	if [[ -z $waiting_at ]] && "${ssh_base[@]}" "grep -q 'waiting for volume $vid ' /var/log/cloud-init-output.log" 2>/dev/null; then
		waiting_at=$(date +%s)
		say "first boot waits for volume $vid (bound $bound s); it will not come"
	fi
	"${ssh_base[@]}" test -e /var/lib/cloud/instance/boot-finished 2>/dev/null && break
	sleep 5
done
finished_at=$(date +%s)
"${ssh_base[@]}" test -e /var/lib/cloud/instance/boot-finished || { result FAIL "first boot without volume $vid did not finish within 30 min"; exit 1; }
say "first boot ended: $("${ssh_base[@]}" cloud-init status | head -n 1)"
if [[ -z $waiting_at ]]; then
	result FAIL "first boot without volume $vid never said it waits for it"
else
	gave_up=$((finished_at - waiting_at))
	lines=$("${ssh_base[@]}" "grep -F 'volume $vid for $mp was not attached within $bound s' /var/log/cloud-init-output.log" || true)
	status=$("${ssh_base[@]}" "cloud-init status" 2>/dev/null | head -n 1 || true)
	if [[ $(grep -c . <<<"$lines") == 1 && $status == *error* && $gave_up -le $((bound + 120)) ]]; then
		result PASS "a volume that never arrives: first boot gave up after ${gave_up} s (bound ${bound} s) with one line: ${lines#*: }; cloud-init ${status#status: }"
	else
		result FAIL "a volume that never arrives: ${gave_up} s from waiting to boot-finished (bound ${bound} s), cloud-init '${status}', failure lines: '${lines}'"
	fi
fi

say "acceptance must fail, naming the volume"
set +e
ip netns exec "${XVM_NETNS}" "$repo/node_modules/.bin/tsx" "$repo/scripts/accept/cli.ts" "$@" >"$work/acceptance-missing-volume.txt" 2>&1
rc=$?
set -e
named=$(grep -F "volume $mp mounted from volume $vid" "$work/acceptance-missing-volume.txt" || true)
if ((rc == 1)) && [[ $named == *FAIL* ]]; then
	result PASS "acceptance without volume $vid exits 1 and reports: $(tr -s ' ' <<<"$named")"
else
	result FAIL "acceptance without volume $vid exited $rc; its line for the volume: '${named}' ($work/acceptance-missing-volume.txt)"
fi

say "the runbook's fix: attach volume $vid, run bootstrap again"
"$here/attach.sh" --workdir "$work/vm" --volume "$vid" >/dev/null
for _ in $(seq 1 60); do
	"${ssh_base[@]}" "test -e /dev/disk/by-id/scsi-0HC_Volume_$vid" && break
	sleep 2
done
fix_t0=$(date +%s)
set +e
"${ssh_base[@]}" "sudo /usr/local/lib/xiopro/bootstrap" </dev/null >"$work/bootstrap-again.txt" 2>&1
rc=$?
set -e
mounted=$("${ssh_base[@]}" "findmnt -n -o SOURCE --target $mp" || true)
if ((rc == 0)) && [[ $mounted == /dev/* ]]; then
	result PASS "after volume $vid arrived, bootstrap ran again in $(($(date +%s) - fix_t0)) s: $(tail -n 1 "$work/bootstrap-again.txt" | cut -c1-120); $mp mounted from $mounted"
else
	result FAIL "bootstrap again after volume $vid arrived exited $rc, $mp source '${mounted}'; its last lines:"
	tail -n 20 "$work/bootstrap-again.txt"
	exit 1
fi
