#!/usr/bin/env bash
# npm run test:e2e — the fast variant of the VM proof: the same rendered user-data of tst Node A,
# the same credential and operations-bundle deliveries and the same acceptance run, but in a
# systemd-nspawn container instead of a qemu guest, with the packages already installed.
#
# What it cannot prove (the acceptance checks listed in CONTAINER_LIMITS are reported, not
# counted): kernel settings (sysctl is the host's), kernel modules, block devices (the volumes
# are bind mounts, not /dev/disk/by-id/scsi-0HC_Volume_*), time synchronisation (timesyncd does
# not run in containers), package installation order (the early files cannot precede packages
# that are already installed), and reboot. `npm run test:vm` proves those.
#
# Environment: XIOPRO_E2E_KEEP=1 keeps the container and its files after a failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
vm="$repo/test/vm"
# shellcheck source-path=SCRIPTDIR source=../vm/lib.sh
source "$vm/lib.sh"
tsx="$repo/node_modules/.bin/tsx"
ns=${XVM_NETNS}
cns=xe2e
machine=xiopro-e2e
work=$(mktemp -d /tmp/xiopro-e2e.XXXXXX)
t0=$(date +%s)
say() { printf '[test:e2e %4ss] %s\n' "$(($(date +%s) - t0))" "$*"; }

# Acceptance checks a container cannot pass, with the reason; everything else must pass.
declare -A CONTAINER_LIMITS=(
  ["time synchronized"]="systemd-timesyncd does not run in containers (ConditionVirtualization=!container)"
  ["volume /var/lib/postgresql mounted from volume"]="bind mount, no block device"
  ["volume /srv/agentd mounted from volume"]="bind mount, no block device"
)
limit_for() {
  local name=$1 k
  for k in "${!CONTAINER_LIMITS[@]}"; do [[ $name == "$k"* ]] && { printf '%s' "${CONTAINER_LIMITS[$k]}"; return 0; }; done
  return 1
}

need_root
need_cmds systemd-nspawn ip ssh ssh-keygen node
cleanup() {
  local rc=$?
  if ((rc != 0)) && [[ ${XIOPRO_E2E_KEEP:-0} == 1 ]]; then
    say "XIOPRO_E2E_KEEP=1: container $machine and $work kept"
    exit "$rc"
  fi
  if [[ -n ${nspawn_pid:-} ]]; then
    kill "$nspawn_pid" 2>/dev/null || true # nspawn halts the container's systemd on SIGTERM
    for _ in $(seq 1 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$nspawn_pid" 2>/dev/null || true
  fi
  umount -l "$work/merged" 2>/dev/null || true
  ip netns del "$cns" 2>/dev/null || true
  ip -n "$ns" link del e2e-pub 2>/dev/null || true
  ip -n "$ns" link del e2e-priv 2>/dev/null || true
  "$vm/net.sh" down >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

say "prepare: the VM proof's stack config, secrets and user-data"
ssh-keygen -q -t ed25519 -N '' -C xiopro-e2e -f "$work/id"
"$tsx" "$vm/prepare.ts" "$work" "$work/id.pub" >/dev/null
"$tsx" "$repo/scripts/plan/cli.ts" --stack-file "$work/Pulumi.vm.yaml" --out "$work/plan" >/dev/null
user_data=$work/plan/tst-node-a.user-data.yaml
private_ip=$(node -p 'require(process.argv[1]).privateIp' "$work/deliveries.json")
packages=$(node -e 'const y=require(process.argv[1]); console.log(y.parse(require("fs").readFileSync(process.argv[2],"utf8")).packages.join(" "))' "$repo/node_modules/yaml" "$user_data")

say "root filesystem with the node's packages installed (cached)"
rootfs=$(XIOPRO_VM_EXTRA_PACKAGES="$packages" "$here/rootfs.sh" | tail -n 1)

say "network: the VM proof's namespace, the container at 203.0.113.10 and $private_ip"
"$vm/net.sh" down >/dev/null 2>&1 || true
"$vm/net.sh" up >/dev/null
ip netns exec "$ns" ip addr add 203.0.113.50/24 dev br-pub
ip netns add "$cns"
ip -n "$ns" link add e2e-pub type veth peer name eth0 netns "$cns"
ip -n "$ns" link add e2e-priv type veth peer name eth1 netns "$cns"
ip -n "$ns" link set e2e-pub master br-pub up
ip -n "$ns" link set e2e-priv master br-priv up
ip -n "$cns" link set lo up
ip -n "$cns" addr add 203.0.113.10/24 dev eth0
ip -n "$cns" addr add 2001:db8:100::10/64 dev eth0 nodad
ip -n "$cns" addr add "$private_ip/16" dev eth1
ip -n "$cns" link set eth0 up
ip -n "$cns" link set eth1 up
ip -n "$cns" route add default via 203.0.113.1

say "overlay and NoCloud seed"
mkdir -p "$work/upper" "$work/ovl-work" "$work/merged" "$work/vol-pgdata" "$work/vol-artifacts"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/ovl-work" "$work/merged"
seed=$work/merged/var/lib/cloud/seed/nocloud
mkdir -p "$seed"
cp "$user_data" "$seed/user-data"
printf 'instance-id: e2e-%s\nlocal-hostname: tst-node-a\n' "$t0" >"$seed/meta-data"
# The namespace already carries the addresses; cloud-init must not configure networking.
printf 'network: {config: disabled}\ndatasource_list: [ NoCloud, None ]\n' >"$work/merged/etc/cloud/cloud.cfg.d/99-e2e.cfg"

say "boot the container"
ip netns exec "$cns" true
# --keep-unit --register=no: this machine's PID 1 is not systemd (no system bus, no machined).
systemd-nspawn --quiet --boot --keep-unit --register=no --machine="$machine" --directory="$work/merged" \
  --network-namespace-path="/run/netns/$cns" --capability=CAP_NET_ADMIN,CAP_SYS_TIME \
  --bind="$work/vol-pgdata:/var/lib/postgresql" --bind="$work/vol-artifacts:/srv/agentd" \
  --console=read-only >"$work/console.log" 2>&1 &
nspawn_pid=$!
ssh_base=(ip netns exec "$ns" ssh -i "$work/id" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 ops@203.0.113.10)
for _ in $(seq 1 300); do
  "${ssh_base[@]}" test -e /var/lib/cloud/instance/boot-finished 2>/dev/null && break
  kill -0 "$nspawn_pid" 2>/dev/null || { say "the container exited"; tail -n 40 "$work/console.log"; exit 1; }
  sleep 1
done
"${ssh_base[@]}" test -e /var/lib/cloud/instance/boot-finished || { say "cloud-init did not finish in 5 min"; tail -n 40 "$work/console.log"; exit 1; }
say "cloud-init finished: $("${ssh_base[@]}" cloud-init status --long | head -n 1)"

say "deliveries: credentials, operations bundle, first backup (the remote commands Pulumi runs)"
while IFS=$'\t' read -r file command; do
  "${ssh_base[@]}" "$command" <"$work/credentials/$file" >/dev/null || { say "delivering $file failed"; exit 1; }
done < <(node -e 'for (const d of require(process.argv[1]).deliveries) console.log(d.file + "\t" + d.command)' "$work/deliveries.json")
"${ssh_base[@]}" "$(node -p 'require(process.argv[1]).ops' "$work/deliveries.json")" <"$work/ops.b64" >/dev/null
"${ssh_base[@]}" "$(node -p 'require(process.argv[1]).firstBackup' "$work/deliveries.json")" </dev/null >/dev/null

say "acceptance (no --reboot)"
set +e
ip netns exec "$ns" "$tsx" "$repo/scripts/accept/cli.ts" --stack-file "$work/Pulumi.vm.yaml" --outputs "$work/plan/outputs.json" \
  --target 203.0.113.10 --ssh-key "$work/id" --public-addr 203.0.113.10 --public-addr6 2001:db8:100::10 --scan-from 203.0.113.50 \
  --secrets-file "$work/secrets.json" --json >"$work/acceptance.json"
set -e
passed=0 failed=0 limited=0
while IFS=$'\t' read -r result name detail; do
  if [[ $result == fail ]] && why=$(limit_for "$name"); then
    printf '  %-60s %s\n' "$name" "not provable in a container: $why"
    limited=$((limited + 1))
  elif [[ $result == fail ]]; then
    printf '  %-60s FAIL  %s\n' "$name" "$detail"
    failed=$((failed + 1))
  else
    printf '  %-60s %s\n' "$name" "${result^^}"
    [[ $result == pass ]] && passed=$((passed + 1))
  fi
done < <(node -e 'for (const r of require(process.argv[1]).results) console.log([r.result, r.name, r.detail.replace(/\s+/g, " ")].join("\t"))' "$work/acceptance.json")
say "e2e: ${passed} passed, ${failed} failed, ${limited} not provable in a container (npm run test:vm proves them)"
((failed == 0 && passed > 0))
