#!/usr/bin/env bash
# The install step of `npm test`: every Debian package the suite and the product's scripts need,
# from the one table scripts/tools.tsv. Idempotent. As root it installs what is missing and says
# what; otherwise it stops at once with the command to run. It also downloads and unpacks the
# distro packages whose files the validators read (kind `unit`), into a cache outside the repo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
table=$here/tools.tsv
cache=${XIOPRO_DISTRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xiopro-infra/distro}

mapfile -t installs < <(awk -F'\t' '!/^#/ && $1 == "command" && $3 != "-" && $3 !~ /^npm:/ { print $3 }' "$table" | LC_ALL=C sort -u)
mapfile -t unpacks < <(awk -F'\t' '!/^#/ && $1 == "unit" && $3 != "-" { print $3 }' "$table" | LC_ALL=C sort -u)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
candidate() { apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'; }

missing=()
for p in "${installs[@]}"; do installed "$p" || missing+=("$p"); done
updated=0
if ((${#missing[@]} == 0)); then
  echo "install-tools: all ${#installs[@]} packages present"
elif ((EUID != 0)); then
  echo "install-tools: missing Debian packages ${missing[*]}; run: sudo bash scripts/install-tools.sh" >&2
  exit 1
else
  echo "install-tools: installing ${#missing[@]} of ${#installs[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  updated=1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The distro starts some of these services on install; tests start their own instances.
  for unit in postgresql prometheus prometheus-alertmanager caddy prometheus-node-exporter prometheus-blackbox-exporter prometheus-postgres-exporter; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
  echo "install-tools: installed"
fi

# Distro files the validators read come from the package itself, never from this host.
mkdir -p "$cache"
for p in "${unpacks[@]}"; do
  version=$(candidate "$p")
  if [[ -z $version || $version == "(none)" ]] && ((EUID == 0 && !updated)); then
    apt-get update -qq
    updated=1
    version=$(candidate "$p")
  fi
  [[ -n $version && $version != "(none)" ]] || { echo "install-tools: no Debian package $p in the apt lists; run: sudo apt-get update" >&2; exit 1; }
  [[ -f $cache/$p/.version && $(cat "$cache/$p/.version") == "$version" ]] && continue
  tmp=$(mktemp -d "$cache/.download.XXXXXX")
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$p=$version" >/dev/null)
  rm -rf "${cache:?}/$p"
  dpkg-deb -x "$tmp"/*.deb "$tmp/root"
  echo "$version" >"$tmp/root/.version"
  mv "$tmp/root" "$cache/$p"
  rm -rf "$tmp"
  echo "install-tools: unpacked $p $version into $cache/$p"
done
