#!/usr/bin/env bash
# Shared helpers for the xiopro node scripts. Sourced, never executed.
# shellcheck shell=bash

# The node's paths and names (XIOPRO_LIB, XIOPRO_STATE_DIR, XIOPRO_DATABASE, ...), rendered from
# infra/catalog/layout.ts: no script restates them. Tests point XIOPRO_LAYOUT at their own copy.
# shellcheck source=/dev/null
. "${XIOPRO_LAYOUT:-/etc/xiopro/layout.env}"

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# write_atomic PATH: stdin into PATH (0644) by rename: a reader (node-exporter, acceptance) never sees
# half a file.
write_atomic() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX") || return 1
  { cat >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$1"; } || { rm -f "$tmp"; return 1; }
}

# The SetCredential= fallback value of a credential that was not delivered (infra/config/secrets.ts).
XIOPRO_UNDELIVERED=xiopro-credential-not-delivered

# credential NAME: prints the path of a delivered systemd credential, or fails with a clear message.
credential() {
  local name=$1 dir=${CREDENTIALS_DIRECTORY:-}
  if [[ -z $dir || ! -s $dir/$name || $(<"$dir/$name") == "$XIOPRO_UNDELIVERED" ]]; then
    die "credential '$name' is not delivered: run 'pulumi up' (docs/secrets.md), then restart this unit"
  fi
  printf '%s/%s' "$dir" "$name"
}


# The PostgreSQL major version installed from the distro (never hard-coded).
# refuse_other_major ROOT VERSION: fails when ROOT (the database volume) holds a cluster of another
# PostgreSQL major version and none of VERSION: a new image (for example Debian 12 → 13) must not
# start an empty cluster beside the real data.
refuse_other_major() {
  local root=$1 ver=$2 f v
  [[ -f $root/$ver/main/PG_VERSION ]] && return 0
  for f in "$root"/*/main/PG_VERSION; do
    [[ -f $f ]] || continue
    v=$(<"$f")
    [[ $v == "$ver" ]] || die "the database volume holds a PostgreSQL $v cluster (${f%/PG_VERSION}), but this node runs PostgreSQL $ver: upgrade it with pg_upgrade or restore it from the backup (docs/UPGRADE-0.2.md); refusing to start an empty cluster beside it"
  done
}

pg_major() {
  local v
  v=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -n | tail -n 1)
  [[ -n $v ]] || die "no PostgreSQL server under /usr/lib/postgresql"
  printf '%s' "$v"
}
