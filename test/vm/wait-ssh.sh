#!/usr/bin/env bash
# Waits until HOST:PORT answers with an SSH banner ("SSH-..."). Meant to run inside
# the harness namespace:  ip netns exec xvm test/vm/wait-ssh.sh 203.0.113.10 600
# Exit 0 when the banner is seen (prints the seconds waited), 1 on timeout.
set -euo pipefail

usage() {
	echo "usage: $(basename "$0") HOST [TIMEOUT_SECONDS=600] [PORT=22]" >&2
	exit 2
}
(($# >= 1 && $# <= 3)) || usage
host="$1"
timeout_s="${2:-600}"
port="${3:-22}"
[[ $timeout_s =~ ^[0-9]+$ ]] || { echo "error: TIMEOUT must be whole seconds (got '$timeout_s')" >&2; exit 2; }
[[ $port =~ ^[0-9]+$ ]] || { echo "error: PORT must be a number (got '$port')" >&2; exit 2; }
command -v timeout >/dev/null || { echo "error: coreutils 'timeout' missing" >&2; exit 2; }

start="$(date +%s.%N)"
deadline=$(($(date +%s) + timeout_s))
attempts=0
while :; do
	attempts=$((attempts + 1))
	# A fresh bash per try: /dev/tcp connect + read of the first line, bounded by timeout.
	# shellcheck disable=SC2016 # expanded by the inner shell
	banner="$(timeout 10 bash -c 'exec 3<>"/dev/tcp/$1/$2" && IFS= read -r -t 8 line <&3 && printf "%s" "$line"' _ "$host" "$port" 2>/dev/null || true)"
	if [[ $banner == SSH-* ]]; then
		waited="$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')"
		echo "ssh banner from ${host}:${port} after ${waited}s (${attempts} tries): ${banner%$'\r'}"
		exit 0
	fi
	if (($(date +%s) >= deadline)); then
		echo "error: no SSH banner from ${host}:${port} within ${timeout_s}s (${attempts} tries)" >&2
		exit 1
	fi
	sleep 2
done
