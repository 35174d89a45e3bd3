#!/usr/bin/env bash
# Plays the Hetzner network for one local VM, inside a network namespace.
#
#   net.sh up      create namespace, bridges, taps, NAT (idempotent)
#   net.sh down    remove all of it, including the nft table in the root namespace
#   net.sh status  show what exists
#
# Inside namespace $XIOPRO_VM_NETNS (default xvm):
#   br-pub   203.0.113.1/24 + 2001:db8:100::1/64  (public network; guest gateway; DNS on :53)
#   br-priv  $XIOPRO_VM_PRIVATE_GW (default 10.1.0.1/16)  (Hetzner private network)
#   tap-pub / tap-priv  guest NICs, enslaved to the bridges
#   uplink   198.18.0.2/30, veth to the root namespace (xvu-<netns>, 198.18.0.1/30)
# Guest traffic is masqueraded twice (namespace, then root namespace). The root
# namespace forwards only DNS to this machine's resolvers and HTTP(S) to the
# Debian mirrors from /etc/apt/sources.list*; everything else is dropped.
#
# Environment: XIOPRO_VM_NETNS, XIOPRO_VM_PRIVATE_GW, XIOPRO_VM_DNS (resolver
# override), XIOPRO_VM_ALLOW_HOSTS (extra host names the guest may reach on 80/443).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${HERE}/lib.sh"

NS="${XVM_NETNS}"
[[ $NS =~ ^[a-zA-Z0-9_]{1,10}$ ]] || die "XIOPRO_VM_NETNS must be 1-10 chars of [A-Za-z0-9_] (got '$NS')"
STATE="${XVM_STATE_DIR}/net-${NS}.env"
HOST_TABLE="xiopro_vm_${NS}"
NS_TABLE="xiopro_vm"

usage() {
	echo "usage: $(basename "$0") up|down|status" >&2
	exit 2
}

ip4_to_int() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo $(((a << 24) + (b << 16) + (c << 8) + d))
}
# in_cidr IP A.B.C.D/N
in_cidr() {
	local ip net len mask
	ip="$(ip4_to_int "$1")"
	net="$(ip4_to_int "${2%/*}")"
	len="${2#*/}"
	mask=$(((0xffffffff << (32 - len)) & 0xffffffff))
	(((ip & mask) == (net & mask)))
}

# Addresses (IPv4) of the Debian mirrors and extra allowed hosts, one per line.
allowed_ips() {
	local hosts=() h uri
	for s in "${XVM_SUITE}" "${XVM_SUITE}-security"; do
		uri="$(guest_mirror "$s" || true)"
		[[ -n $uri ]] || continue
		h="${uri#*://}"
		h="${h%%/*}"
		h="${h%%:*}"
		hosts+=("$h")
	done
	[[ -n ${XIOPRO_VM_MIRROR:-} ]] && { h="${XIOPRO_VM_MIRROR#*://}"; h="${h%%/*}"; hosts+=("${h%%:*}"); }
	read -r -a extra <<<"${XIOPRO_VM_ALLOW_HOSTS:-}"
	hosts+=("${extra[@]}")
	((${#hosts[@]})) || die "no Debian mirror found in /etc/apt/sources.list*; set XIOPRO_VM_MIRROR"
	for h in $(printf '%s\n' "${hosts[@]}" | sort -u); do
		if [[ $h =~ ^[0-9.]+$ ]]; then
			echo "$h"
		else
			getent ahostsv4 "$h" | awk '{print $1}' || log "warning: cannot resolve $h"
		fi
	done | sort -u
}

nft_set_elems() { # prints "a, b, c"
	paste -sd, - | sed 's/,/, /g'
}

is_up() {
	[[ -f $STATE ]] && netns_exists "$NS" && ip link show "${XVM_VETH_HOST}" >/dev/null 2>&1 &&
		ip -n "$NS" link show "${XVM_TAP_PUB}" >/dev/null 2>&1 && ip -n "$NS" link show "${XVM_TAP_PRIV}" >/dev/null 2>&1
}

apply_rules() {
	local resolvers mirrors resolver prev_fwd we_enabled
	mapfile -t resolvers < <(host_resolvers)
	((${#resolvers[@]})) || die "no IPv4 nameserver in /etc/resolv.conf; set XIOPRO_VM_DNS"
	resolver="${resolvers[0]}"
	[[ $resolver == 127.* ]] && die "this machine's resolver is ${resolver} (loopback), unreachable from a namespace; set XIOPRO_VM_DNS to a real resolver address"
	mapfile -t mirrors < <(allowed_ips)
	((${#mirrors[@]})) || die "could not resolve any Debian mirror address"
	# shellcheck disable=SC1090
	prev_fwd="$(. "$STATE" && echo "${PREV_IP_FORWARD}")"
	we_enabled=0
	[[ $prev_fwd == 0 ]] && we_enabled=1

	# Root namespace: forward only DNS + mirror HTTP(S) from the veth, masquerade it.
	nft list table ip "${HOST_TABLE}" >/dev/null 2>&1 && nft delete table ip "${HOST_TABLE}"
	{
		echo "table ip ${HOST_TABLE} {"
		echo "  set resolvers { type ipv4_addr; elements = { $(printf '%s\n' "${resolvers[@]}" | nft_set_elems) } }"
		echo "  set mirrors { type ipv4_addr; elements = { $(printf '%s\n' "${mirrors[@]}" | nft_set_elems) } }"
		echo "  chain forward {"
		echo "    type filter hook forward priority filter - 1; policy accept;"
		echo "    iifname \"${XVM_VETH_HOST}\" ip saddr ${XVM_UPLINK_NS} ip daddr @resolvers meta l4proto { tcp, udp } th dport 53 accept"
		echo "    iifname \"${XVM_VETH_HOST}\" ip saddr ${XVM_UPLINK_NS} ip daddr @mirrors tcp dport { 80, 443 } accept"
		echo "    iifname \"${XVM_VETH_HOST}\" counter drop"
		echo "    oifname \"${XVM_VETH_HOST}\" ct state established,related accept"
		echo "    oifname \"${XVM_VETH_HOST}\" counter drop"
		if ((we_enabled)); then
			# Other harness namespaces (run side by side) pass: their own tables decide for them.
			echo "    iifname != \"xvu-*\" oifname != \"xvu-*\" counter drop comment \"forwarding was off before net.sh up\""
		fi
		echo "  }"
		echo "  chain postrouting {"
		echo "    type nat hook postrouting priority srcnat; policy accept;"
		echo "    ip saddr ${XVM_UPLINK_NS} oifname != \"${XVM_VETH_HOST}\" masquerade"
		echo "  }"
		echo "}"
	} >"${XVM_STATE_DIR}/net-${NS}.host.nft"
	nft -f "${XVM_STATE_DIR}/net-${NS}.host.nft" || die "loading root-namespace nft rules failed (${XVM_STATE_DIR}/net-${NS}.host.nft)"
	sysctl -qw net.ipv4.ip_forward=1

	# Namespace: guest DNS to the gateway is sent on to this machine's resolver;
	# everything leaving through the uplink is masqueraded.
	local gw_priv="${XVM_PRIV_GW%/*}"
	ip netns exec "$NS" nft list table ip "${NS_TABLE}" >/dev/null 2>&1 && ip netns exec "$NS" nft delete table ip "${NS_TABLE}"
	ip netns exec "$NS" nft -f - <<EOF || die "loading namespace nft rules failed"
table ip ${NS_TABLE} {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr { ${XVM_PUB_GW4}, ${gw_priv} } meta l4proto { tcp, udp } th dport 53 dnat to ${resolver}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${XVM_VETH_NS}" masquerade
  }
}
EOF

	# Outside addresses that fall inside the guest's subnets (e.g. a mirror in
	# 203.0.113.0/24): host route via the uplink + proxy ARP so the guest still
	# reaches them through its gateway.
	local ip br cidr
	ip -n "$NS" route flush proto static 2>/dev/null || true
	for ip in "${mirrors[@]}" "${resolvers[@]}"; do
		for pair in "${XVM_BR_PUB}=${XVM_PUB_GW4}/${XVM_PUB_PREFIX4}" "${XVM_BR_PRIV}=${XVM_PRIV_GW}"; do
			br="${pair%%=*}"
			cidr="${pair#*=}"
			if in_cidr "$ip" "$cidr"; then
				log "note: ${ip} lies inside guest subnet ${cidr}; routing it via the uplink with proxy ARP on ${br}"
				ip -n "$NS" route replace "${ip}/32" via "${XVM_UPLINK_HOST}" dev "${XVM_VETH_NS}" proto static
				ip netns exec "$NS" sysctl -qw "net.ipv4.conf.${br}.proxy_arp=1"
			fi
		done
	done
	log "allowed from guest: DNS via ${XVM_PUB_GW4} -> ${resolver}; HTTP(S) to ${mirrors[*]}"
}

cmd_up() {
	need_root
	need_cmds ip nft sysctl getent
	[[ -c /dev/net/tun ]] || die "/dev/net/tun missing (modprobe tun)"
	mkdir -p "${XVM_STATE_DIR}"

	if is_up; then
		log "namespace ${NS} already up; refreshing rules"
		apply_rules
		return 0
	fi
	if netns_exists "$NS" || [[ -f $STATE ]] || ip link show "${XVM_VETH_HOST}" >/dev/null 2>&1; then
		log "namespace ${NS} is half set up; removing it first"
		cmd_down
		mkdir -p "${XVM_STATE_DIR}"
	fi

	local t
	t="$(now)"
	# Remember what we change in the root namespace, for down.
	echo "PREV_IP_FORWARD=$(sysctl -n net.ipv4.ip_forward)" >"${STATE}.tmp"

	ip netns add "$NS"
	ip -n "$NS" link set lo up
	ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.forwarding=1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.accept_dad=0

	ip link add "${XVM_VETH_HOST}" type veth peer name "${XVM_VETH_NS}" netns "$NS"
	ip addr add "${XVM_UPLINK_HOST}/${XVM_UPLINK_PREFIX}" dev "${XVM_VETH_HOST}"
	ip link set "${XVM_VETH_HOST}" up
	ip -n "$NS" addr add "${XVM_UPLINK_NS}/${XVM_UPLINK_PREFIX}" dev "${XVM_VETH_NS}"
	ip -n "$NS" link set "${XVM_VETH_NS}" up
	ip -n "$NS" route add default via "${XVM_UPLINK_HOST}" dev "${XVM_VETH_NS}"

	ip -n "$NS" link add "${XVM_BR_PUB}" type bridge stp_state 0 forward_delay 0
	ip -n "$NS" link add "${XVM_BR_PRIV}" type bridge stp_state 0 forward_delay 0
	ip -n "$NS" addr add "${XVM_PUB_GW4}/${XVM_PUB_PREFIX4}" dev "${XVM_BR_PUB}"
	ip -n "$NS" addr add "${XVM_PUB_GW6}/${XVM_PUB_PREFIX6}" dev "${XVM_BR_PUB}" nodad
	ip -n "$NS" addr add "${XVM_PRIV_GW}" dev "${XVM_BR_PRIV}"
	local tap br
	for pair in "${XVM_TAP_PUB}=${XVM_BR_PUB}" "${XVM_TAP_PRIV}=${XVM_BR_PRIV}"; do
		tap="${pair%%=*}"
		br="${pair#*=}"
		ip -n "$NS" tuntap add dev "$tap" mode tap
		ip -n "$NS" link set "$tap" master "$br"
		ip -n "$NS" link set "$tap" up
	done
	ip -n "$NS" link set "${XVM_BR_PUB}" up
	ip -n "$NS" link set "${XVM_BR_PRIV}" up

	mv "${STATE}.tmp" "${STATE}"
	apply_rules
	log "namespace ${NS} up in $(elapsed "$t")s (public ${XVM_PUB_GW4}/${XVM_PUB_PREFIX4}, ${XVM_PUB_GW6}/${XVM_PUB_PREFIX6}; private ${XVM_PRIV_GW})"
}

cmd_down() {
	need_root
	need_cmds ip nft sysctl
	local pids pid
	if netns_exists "$NS"; then
		pids="$(ip netns pids "$NS" || true)"
		if [[ -n $pids ]]; then
			log "processes still running in namespace ${NS}: $(echo "$pids" | tr '\n' ' ')- terminating them"
			for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
			for _ in $(seq 1 20); do
				pids="$(ip netns pids "$NS" || true)"
				[[ -z $pids ]] && break
				sleep 0.5
			done
			for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
		fi
		ip netns del "$NS"
	fi
	if ip link show "${XVM_VETH_HOST}" >/dev/null 2>&1; then
		ip link del "${XVM_VETH_HOST}"
	fi
	if nft list table ip "${HOST_TABLE}" >/dev/null 2>&1; then
		nft delete table ip "${HOST_TABLE}"
	fi
	local prev=""
	for f in "${STATE}" "${STATE}.tmp"; do
		if [[ -f $f ]]; then
			# shellcheck disable=SC1090
			prev="$(. "$f" && echo "${PREV_IP_FORWARD:-}")"
			break
		fi
	done
	rm -f "${STATE}" "${STATE}.tmp" "${XVM_STATE_DIR}/net-${NS}.host.nft"
	if [[ $prev == 0 ]]; then
		if compgen -G "${XVM_STATE_DIR}/net-*.env" >/dev/null; then
			log "another harness namespace is up; leaving net.ipv4.ip_forward on"
		else
			sysctl -qw net.ipv4.ip_forward=0
		fi
	fi
	log "namespace ${NS} down"
}

cmd_status() {
	if is_up; then echo "up: namespace ${NS}"; else echo "down (or partial): namespace ${NS}"; fi
	netns_exists "$NS" && ip -n "$NS" -br addr
	nft list table ip "${HOST_TABLE}" 2>/dev/null || true
	echo "net.ipv4.ip_forward=$(sysctl -n net.ipv4.ip_forward)"
}

(($# == 1)) || usage
case "$1" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
