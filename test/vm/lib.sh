# shellcheck shell=bash
# shellcheck disable=SC2034 # constants are used by the scripts that source this file
# Shared helpers and defaults for the local VM harness (sourced, not run).
# Every value here can be overridden through the environment.

XVM_CACHE="${XIOPRO_VM_CACHE:-/var/cache/xiopro-vm}"
XVM_NETNS="${XIOPRO_VM_NETNS:-xvm}"
# The Debian release of the guest: test/vm/run.sh sets it from the stack's image (debian-13:
# trixie), test:e2e pins bookworm (Debian 12).
XVM_SUITE="${XIOPRO_VM_SUITE:-bookworm}"

# "Hetzner" public network inside the namespace (documentation ranges).
XVM_PUB_GW4="203.0.113.1"
XVM_PUB_PREFIX4="24"
XVM_PUB_GW6="2001:db8:100::1"
XVM_PUB_PREFIX6="64"
# Host side of the "private network" bridge (CIDR).
XVM_PRIV_GW="${XIOPRO_VM_PRIVATE_GW:-10.1.0.1/16}"
# /30 between the root namespace and the harness namespace (benchmark range).
XVM_UPLINK_HOST="${XIOPRO_VM_UPLINK_HOST:-198.18.0.1}"
XVM_UPLINK_NS="${XIOPRO_VM_UPLINK_NS:-198.18.0.2}"
XVM_UPLINK_PREFIX="30"

# Interface names (the bridges and taps live inside the namespace only).
# The root namespace's end of the uplink: one prefix for every harness namespace (net.sh's rules
# tell them from the host's own interfaces by it).
XVM_VETH_HOST="xvu-${XVM_NETNS}"
XVM_VETH_NS="uplink"
XVM_BR_PUB="br-pub"
XVM_BR_PRIV="br-priv"
XVM_TAP_PUB="tap-pub"
XVM_TAP_PRIV="tap-priv"

# Fixed UUID of the root filesystem in every base image (kernel cmdline uses it).
XVM_ROOT_UUID="5c1e0b7a-3d2f-4a8e-9b61-0d4c7e2f9a10"

XVM_STATE_DIR="/run/xiopro-vm"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
	[[ ${EUID} -eq 0 ]] || die "$(basename "$0") must run as root (network namespaces, debootstrap, tap devices)"
}

need_cmds() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	((${#missing[@]} == 0)) || die "missing commands: ${missing[*]} (apt-get install the package that provides them)"
}

# Seconds since the epoch with sub-second precision, for timings.
now() { date +%s.%N; }
# elapsed START -> "12.3"
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# qmp SOCKET JSON...: sends each command ({"execute": ..., "arguments": ...}) to a qemu monitor
# after the capabilities handshake; fails with qemu's message on the first error. Needs python3.
qmp() {
	local sock=$1
	shift
	[[ -S $sock ]] || return 1
	timeout 20 python3 - "$sock" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()  # greeting
for cmd in ['{"execute": "qmp_capabilities"}'] + sys.argv[2:]:
    f.write(cmd + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "error" in msg:
            sys.exit("qmp %s: %s" % (json.loads(cmd)["execute"], msg["error"].get("desc", msg["error"])))
        if "return" in msg:
            break
PY
}

# guest_mirror SUITE: the archive URI for the guest's SUITE (e.g. trixie, trixie-security). The
# archive this machine uses serves every release, so its URI for this machine's own release stands
# in when no apt source names the guest's.
guest_mirror() {
	local host_suite
	host_suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	apt_mirror_for_suite "$1" || apt_mirror_for_suite "${host_suite}${1#"${XVM_SUITE}"}"
}

netns_exists() { ip netns list | awk '{print $1}' | grep -qx -- "$1"; }

# Nameservers of this machine (IPv4 only), one per line.
host_resolvers() {
	if [[ -n ${XIOPRO_VM_DNS:-} ]]; then
		tr -s ' ,' '\n' <<<"${XIOPRO_VM_DNS}" | sed '/^$/d'
		return
	fi
	awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ { print $2 }' /etc/resolv.conf
}

# Prints "URI" of the first apt source on this machine whose suites contain $1.
# Reads both one-line (.list) and deb822 (.sources) files.
apt_mirror_for_suite() {
	local suite="$1" f
	local files=()
	[[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
	for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && files+=("$f")
	done
	((${#files[@]})) || return 1
	awk -v want="$suite" '
		function flush(   n, s, u, i) {
			if (!found && types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
				n = split(suites, s, /[ \t]+/)
				for (i = 1; i <= n; i++) if (s[i] == want) { split(uris, u, /[ \t]+/); print u[1]; found = 1 }
			}
			types = ""; uris = ""; suites = ""; enabled = ""
		}
		FNR == 1 { flush() }
		found { exit }
		FILENAME ~ /\.sources$/ {
			if ($0 ~ /^[ \t]*$/) { flush(); next }
			if ($0 ~ /^[ \t]*#/) next
			key = tolower($1); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types:") types = val
			else if (key == "uris:") uris = val
			else if (key == "suites:") suites = val
			else if (key == "enabled:") enabled = tolower(val)
			next
		}
		$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == want) { print $i; found = 1; exit }
		}
		END { flush(); if (!found) exit 1 }
	' "${files[@]}"
}

# deliver_credentials JSON LIST CREDDIR LOGDIR -- SSH...: runs every delivery of LIST (`deliveries`,
# `receiver.deliveries`) in JSON at once over SSH..., as Pulumi runs a node's independent credential
# commands, each value on its command's stdin from CREDDIR/<file>. Waits for all; prints the files
# that failed with the end of their output (LOGDIR/deliver-<file>.log) and returns 1 if any did.
deliver_credentials() {
	local json=$1 list=$2 creddir=$3 logdir=$4 file command undelivered=()
	shift 5
	local -A pids=()
	while IFS=$'\t' read -r file command; do
		"$@" "$command" <"$creddir/$file" >"$logdir/deliver-$file.log" 2>&1 &
		pids[$file]=$!
	done < <(node -e 'for (const d of process.argv[2].split(".").reduce((o, k) => o[k], require(process.argv[1]))) console.log(d.file + "\t" + d.command)' "$json" "$list")
	for file in "${!pids[@]}"; do
		wait "${pids[$file]}" || undelivered+=("$file")
	done
	for file in "${undelivered[@]}"; do
		echo "delivering $file failed:" >&2
		grep -v 'not located on encrypted media' "$logdir/deliver-$file.log" | tail -n 5 >&2
	done
	((${#undelivered[@]} == 0))
}
