#!/usr/bin/env bash
# Boots one Debian 12 guest that looks like a Hetzner Cloud node, from a cloud-init
# user-data file, inside the namespace made by net.sh. Returns once qemu runs.
#
# The user-data is used verbatim. Hetzner's metadata service is stood in for by a
# NoCloud seed (meta-data, network-config v2); a Hetzner Volume by a virtio-scsi
# disk with vendor HC / product Volume / serial <id>, so the guest sees
# /dev/disk/by-id/scsi-0HC_Volume_<id>.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${HERE}/lib.sh"

usage() {
	cat >&2 <<EOF
usage: $(basename "$0") --user-data FILE [options]
  --user-data FILE       cloud-init user-data, used verbatim (required)
  --name NAME            hostname / instance name (default: xvm-node)
  --workdir DIR          overlay, seed, console log, pid file (default: /tmp/xiopro-vm/NAME)
  --public-ip IP         eth0 IPv4, /24, gateway ${XVM_PUB_GW4} (default: 203.0.113.10)
  --public-ip6 IP        eth0 IPv6, /64, gateway ${XVM_PUB_GW6} (default: 2001:db8:100::10)
  --private-ip IP        private network IPv4 (static); omitted = private NIC left unconfigured
  --private-prefix N     private network prefix length (default: 16)
  --private-ifname NAME  name of the private NIC in the guest (default: eth1)
  --volume-id N          attach a Hetzner-like volume with this id (ext4, reused if it exists)
  --volume-size-gb N     size of the --volume-id volume (default: 2)
  --volume ID[:SIZE_GB]  attach a volume; repeatable (size default: 2)
  --detached-volumes     create the volumes but power on without them, as a Hetzner server whose
                         volumes are attached after it exists; attach.sh hot-plugs each one later
  --disk-size-gb N       root disk size; cloud-init grows the fs to it (default: 20)
  --memory-mb N          guest memory (default: 2048)
  --image DIR            base image dir (default: run image.sh, cached)
  --instance-id ID       NoCloud instance-id (default: iid-NAME-<time>)
Environment: XIOPRO_VM_NETNS (namespace, default xvm), XIOPRO_VM_CACHE, XIOPRO_VM_EXTRA_PACKAGES.
EOF
	exit 2
}

user_data="" name="xvm-node" workdir="" public_ip="203.0.113.10" public_ip6="2001:db8:100::10"
private_ip="" private_prefix="16" private_ifname="eth1" volume_id="" volume_size_gb="2"
volume_specs=()
disk_size_gb="20" memory_mb="2048" image_dir="" instance_id="" detached=0

while (($#)); do
	opt="$1"
	case "$opt" in
	-h | --help) usage ;;
	--detached-volumes)
		detached=1
		shift
		continue
		;;
	--user-data | --name | --workdir | --public-ip | --public-ip6 | --private-ip | --private-prefix | \
		--private-ifname | --volume-id | --volume-size-gb | --volume | --disk-size-gb | --memory-mb | --image | --instance-id)
		(($# >= 2)) || die "$opt needs a value"
		val="$2"
		shift 2
		;;
	*) die "unknown argument: $opt (try --help)" ;;
	esac
	case "$opt" in
	--user-data) user_data="$val" ;;
	--name) name="$val" ;;
	--workdir) workdir="$val" ;;
	--public-ip) public_ip="$val" ;;
	--public-ip6) public_ip6="$val" ;;
	--private-ip) private_ip="$val" ;;
	--private-prefix) private_prefix="$val" ;;
	--private-ifname) private_ifname="$val" ;;
	--volume-id) volume_id="$val" ;;
	--volume-size-gb) volume_size_gb="$val" ;;
	--volume) volume_specs+=("$val") ;;
	--disk-size-gb) disk_size_gb="$val" ;;
	--memory-mb) memory_mb="$val" ;;
	--image) image_dir="$val" ;;
	--instance-id) instance_id="$val" ;;
	esac
done

[[ -n $user_data ]] || die "--user-data FILE is required (try --help)"
[[ -f $user_data && -r $user_data ]] || die "user-data file not readable: $user_data"
[[ $name =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "--name must be a valid hostname label (got '$name')"
ipv4_re='^([0-9]{1,3}\.){3}[0-9]{1,3}$'
[[ $public_ip =~ $ipv4_re ]] || die "--public-ip is not an IPv4 address: $public_ip"
[[ ${public_ip%.*} == "${XVM_PUB_GW4%.*}" ]] || die "--public-ip must be in ${XVM_PUB_GW4%.*}.0/24 (the network net.sh plays)"
[[ $public_ip6 == *:* ]] || die "--public-ip6 is not an IPv6 address: $public_ip6"
[[ -z $private_ip || $private_ip =~ $ipv4_re ]] || die "--private-ip is not an IPv4 address: $private_ip"
check_int() { # option value min max
	[[ $2 =~ ^[0-9]+$ ]] || die "$1 must be a number (got '$2')"
	if (($2 < $3 || $2 > $4)); then die "$1 must be within $3..$4 (got $2)"; fi
}
check_int --private-prefix "$private_prefix" 8 32
[[ $private_ifname =~ ^[a-z][a-z0-9]{1,14}$ && $private_ifname != eth0 ]] || die "--private-ifname invalid: $private_ifname"
check_int --volume-size-gb "$volume_size_gb" 1 10240
[[ -n $volume_id ]] && volume_specs=("${volume_id}:${volume_size_gb}" "${volume_specs[@]}")
volume_ids=() volume_sizes=()
for spec in "${volume_specs[@]}"; do
	vid="${spec%%:*}"
	vsize="${spec#*:}"
	[[ $spec == *:* ]] || vsize=2
	[[ $vid =~ ^[0-9]{1,12}$ ]] || die "volume id must be a number, Hetzner volume ids are numeric (got '$spec')"
	check_int "--volume ${spec}" "$vsize" 1 10240
	[[ " ${volume_ids[*]} " != *" ${vid} "* ]] || die "volume id ${vid} given twice"
	volume_ids+=("$vid")
	volume_sizes+=("$vsize")
done
check_int --disk-size-gb "$disk_size_gb" 4 2048
check_int --memory-mb "$memory_mb" 512 16384

need_root
need_cmds ip qemu-system-x86_64 qemu-img cloud-localds mkfs.ext4 truncate md5sum
netns_exists "${XVM_NETNS}" || die "network namespace '${XVM_NETNS}' does not exist: run '${HERE}/net.sh up' first"
for tap in "${XVM_TAP_PUB}" "${XVM_TAP_PRIV}"; do
	ip -n "${XVM_NETNS}" link show "$tap" >/dev/null 2>&1 || die "tap ${tap} missing in namespace ${XVM_NETNS}: run '${HERE}/net.sh up'"
done

workdir="$(realpath -m -- "${workdir:-/tmp/xiopro-vm/${name}}")"
pidfile="${workdir}/qemu.pid"
qmp="${workdir}/qmp.sock"
console="${workdir}/console.log"
overlay="${workdir}/root.qcow2"
seed="${workdir}/seed.iso"
((${#qmp} < 100)) || die "workdir path too long for a unix socket: $workdir"

qemu_alive() { # pid workdir
	local cmd
	[[ -n $1 && -r /proc/$1/cmdline ]] || return 1
	cmd="$(tr '\0' ' ' <"/proc/$1/cmdline")"
	[[ $cmd == *qemu-system* && $cmd == *"${2}/"* ]]
}

if [[ -s $pidfile ]]; then
	pid="$(cat "$pidfile")"
	if qemu_alive "$pid" "$workdir"; then
		log "VM already running in ${workdir} (pid ${pid}); nothing to do"
		echo "pid=${pid}"
		echo "workdir=${workdir}"
		echo "console=${console}"
		exit 0
	fi
	log "stale pid file ${pidfile}; starting fresh"
	rm -f "$pidfile"
fi
# One VM at a time per namespace: the taps are shared.
for p in $(ip netns pids "${XVM_NETNS}" 2>/dev/null || true); do
	if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q qemu-system; then
		die "another VM (pid $p) is running in namespace ${XVM_NETNS}; stop it first (stop.sh --workdir ...)"
	fi
done

mkdir -p "$workdir"
t0="$(now)"
if [[ -z $image_dir ]]; then
	image_dir="$("${HERE}/image.sh" | tail -n 1)" || die "image.sh failed"
fi
for f in root.img vmlinuz initrd.img; do
	[[ -s ${image_dir}/$f ]] || die "base image incomplete: ${image_dir}/$f missing (run image.sh)"
done

# --- disks --------------------------------------------------------------------
rm -f "$overlay" "$seed" "$qmp"
qemu-img create -q -f qcow2 -F raw -b "${image_dir}/root.img" "$overlay" "${disk_size_gb}G" ||
	die "qemu-img create overlay failed"

volume_args=()
volumes=()
if ((${#volume_ids[@]})); then
	volume_args+=(-device "virtio-scsi-pci,id=scsi0")
fi
for i in "${!volume_ids[@]}"; do
	vid="${volume_ids[$i]}"
	vsize="${volume_sizes[$i]}"
	volume="${workdir}/volume-${vid}.raw"
	if [[ -f $volume ]]; then
		log "reusing volume ${volume} (not reformatted)"
	else
		# Hetzner 'format: ext4' = ext4 on the whole device, no partition table.
		truncate -s "${vsize}G" "${volume}.tmp"
		mkfs.ext4 -q -F "${volume}.tmp" || die "mkfs.ext4 on volume ${vid} failed"
		mv "${volume}.tmp" "$volume"
		log "created ${vsize} GiB ext4 volume ${volume}"
	fi
	volumes+=("$volume")
	((detached)) && continue
	volume_args+=(
		-drive "file=${volume},if=none,id=vol${i},format=raw,cache=unsafe,discard=unmap"
		-device "scsi-hd,bus=scsi0.0,drive=vol${i},vendor=HC,product=Volume,serial=${vid}"
	)
done

# --- NoCloud seed: the stand-in for Hetzner's metadata service -----------------
mac_for() { # prefix -> stable MAC from the instance name (Hetzner uses 96:00:.. public, 86:00:.. private)
	local h
	h="$(printf '%s' "$name" | md5sum | cut -c1-6)"
	printf '%s:%s:%s:%s\n' "$1" "${h:0:2}" "${h:2:2}" "${h:4:2}"
}
mac_pub="$(mac_for 96:00:00)"
mac_priv="$(mac_for 86:00:00)"
instance_id="${instance_id:-iid-${name}-$(date +%Y%m%d%H%M%S)}"

seed_dir="${workdir}/seed"
rm -rf "$seed_dir"
mkdir -p "$seed_dir"
cp "$user_data" "${seed_dir}/user-data"
cat >"${seed_dir}/meta-data" <<EOF
instance-id: ${instance_id}
local-hostname: ${name}
EOF
# No 'nameservers:' here: cloud-init 22.4's ENI renderer turns v2 per-interface
# nameservers into a bogus "dns {...}" line; the image has a static resolv.conf
# pointing at the gateway (as Hetzner images point at Hetzner's resolvers).
# cloud-init 22.4 (Debian 12) does not understand v2 default routes; later releases deprecate
# gateway4/gateway6 in their favour (25.1 takes them as 0.0.0.0/0 and ::/0, not "default").
if grep -qx 'suite=bookworm' "${image_dir}/info"; then
	gateways="    gateway4: ${XVM_PUB_GW4}
    gateway6: ${XVM_PUB_GW6}"
else
	gateways="    routes:
      - to: 0.0.0.0/0
        via: ${XVM_PUB_GW4}
      - to: \"::/0\"
        via: ${XVM_PUB_GW6}"
fi
{
	cat <<EOF
version: 2
ethernets:
  eth0:
    match:
      macaddress: "${mac_pub}"
    set-name: eth0
    addresses:
      - ${public_ip}/${XVM_PUB_PREFIX4}
      - ${public_ip6}/${XVM_PUB_PREFIX6}
${gateways}
  ${private_ifname}:
    match:
      macaddress: "${mac_priv}"
    set-name: ${private_ifname}
EOF
	if [[ -n $private_ip ]]; then
		echo "    addresses:"
		echo "      - ${private_ip}/${private_prefix}"
	fi
} >"${seed_dir}/network-config"
cloud-localds -N "${seed_dir}/network-config" "$seed" "${seed_dir}/user-data" "${seed_dir}/meta-data" ||
	die "cloud-localds failed"

# --- qemu -----------------------------------------------------------------------
[[ -f $console ]] && mv -f "$console" "${console%.log}.prev.log"
cmdline="root=UUID=${XVM_ROOT_UUID} rw console=ttyS0,115200n8 net.ifnames=0 biosdevname=0"
# Single-threaded TCG: with thread=multi a Debian 13 guest (kernel 6.12) died at boot with
# "Oops: int3" in kernel code it had just patched at run time (a stale translation on the other
# vCPU, 2026-11-30). One host thread runs both vCPUs: slower, but the guest's own code patching
# is then safe.
# The disks ignore the guest's flushes (cache=unsafe): dpkg and PostgreSQL flush often, the host
# survives every guest reboot, and the proof never pulls the host's power.
qemu_args=(
	-name "${name},process=xvm-${name}"
	-machine q35 -accel "tcg,thread=single" -cpu max -smp 2 -m "${memory_mb}"
	-nodefaults -display none -vga none
	-kernel "${image_dir}/vmlinuz" -initrd "${image_dir}/initrd.img" -append "$cmdline"
	-drive "file=${overlay},if=none,id=root,format=qcow2,cache=unsafe,discard=unmap"
	-device "virtio-blk-pci,drive=root"
	-drive "file=${seed},if=none,id=seed,format=raw,readonly=on"
	-device "virtio-blk-pci,drive=seed"
	"${volume_args[@]}"
	-netdev "tap,id=pub,ifname=${XVM_TAP_PUB},script=no,downscript=no"
	-device "virtio-net-pci,netdev=pub,mac=${mac_pub}"
	-netdev "tap,id=priv,ifname=${XVM_TAP_PRIV},script=no,downscript=no"
	-device "virtio-net-pci,netdev=priv,mac=${mac_priv}"
	-device virtio-rng-pci
	-chardev "file,id=ser0,path=${console}"
	-serial chardev:ser0
	-qmp "unix:${qmp},server=on,wait=off"
	-pidfile "$pidfile"
	-daemonize
)
printf '%q ' ip netns exec "${XVM_NETNS}" qemu-system-x86_64 "${qemu_args[@]}" >"${workdir}/qemu.cmd"
echo >>"${workdir}/qemu.cmd"
if ! ip netns exec "${XVM_NETNS}" qemu-system-x86_64 "${qemu_args[@]}" 2>"${workdir}/qemu.log"; then
	cat "${workdir}/qemu.log" >&2
	die "qemu failed to start (command in ${workdir}/qemu.cmd)"
fi
for _ in $(seq 1 50); do
	[[ -s $pidfile ]] && break
	sleep 0.1
done
pid="$(cat "$pidfile" 2>/dev/null || true)"
qemu_alive "$pid" "$workdir" || die "qemu exited right after start; see ${workdir}/qemu.log and ${console}"
date +%s.%N >"${workdir}/started_at"

log "VM ${name} started in $(elapsed "$t0")s"
echo "pid=${pid}"
echo "workdir=${workdir}"
echo "console=${console}"
echo "overlay=${overlay}"
echo "seed=${seed}"
for i in "${!volume_ids[@]}"; do
	echo "volume=${volumes[$i]} (guest: /dev/disk/by-id/scsi-0HC_Volume_${volume_ids[$i]})"
done
echo "public=${public_ip} ${public_ip6}${private_ip:+ private=${private_ip}/${private_prefix}}"
echo "wait: ip netns exec ${XVM_NETNS} ${HERE}/wait-ssh.sh ${public_ip} 600"
