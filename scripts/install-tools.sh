#!/usr/bin/env bash
# Installs the system tools the test suite drives for real (validators, PostgreSQL, pgBackRest,
# restic, qemu). Idempotent; Debian 12. Used by .ci/run and by a fresh developer machine.
set -euo pipefail

PACKAGES=(
  cloud-init            # cloud-init schema validation of rendered user-data
  systemd-container     # systemd-nspawn for the fast e2e variant
  caddy                 # caddy validate for the rendered Caddyfile
  shellcheck yamllint   # scripts and YAML
  prometheus prometheus-alertmanager  # promtool, amtool
  prometheus-blackbox-exporter prometheus-postgres-exporter  # config check; WAL-archive queries against a real cluster
  postgresql-15 postgresql-contrib pgbackrest restic age  # real recovery tests and benchmarks
  qemu-system-x86 qemu-utils debootstrap e2fsprogs cloud-image-utils  # the VM boot proof
  iproute2 nftables nmap openssh-client jq git
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-tools: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The distro starts these services on install; tests start their own instances.
for unit in postgresql prometheus prometheus-alertmanager caddy prometheus-node-exporter prometheus-blackbox-exporter prometheus-postgres-exporter; do
  systemctl disable --now "$unit" >/dev/null 2>&1 || true
done
echo "install-tools: done"
