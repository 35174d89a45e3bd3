#!/usr/bin/env bash
# npm run test:fresh — `.ci/run` on a fresh clone of HEAD inside a clean container: a Debian 12
# root filesystem with only the base system (debootstrap --variant=minbase, cached outside the
# repo) plus this machine's Node.js and npm, bind-mounted read-only. Each run starts from an
# overlay over that cache, so nothing a previous run or this machine installed is visible.
# The container shares this machine's network (Debian's archive, the npm registry) and devices
# (/dev/net/tun for the VM proof's taps); it has its own mount and PID namespaces, so every
# process it starts dies with it. Prints the suite's closing line last.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../test/vm/lib.sh
. "$repo/test/vm/lib.sh"

usage() {
  cat <<USAGE
usage: npm run test:fresh [-- --keep] [-- --rootfs-only]
  --keep         keep the container's work directory (its upper layer and logs) afterwards
  --rootfs-only  build (or find) the cached base root filesystem and stop
Environment: XIOPRO_FRESH_CACHE (default /var/cache/xiopro-fresh) holds the base root filesystem
and the downloaded .deb files (downloads only: every package is installed afresh in each run).
USAGE
}
keep=0 rootfs_only=0
while (($#)); do
  case $1 in
    --keep) keep=1 ;;
    --rootfs-only) rootfs_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
need_root
# This machine needs only debootstrap and git; everything else is installed inside the container.
if ! command -v debootstrap >/dev/null || ! command -v git >/dev/null; then
  echo "test:fresh: installing debootstrap and git on this machine"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap git >/dev/null
fi
need_cmds debootstrap git unshare chroot mount node

started=$(date +%s)
say() { printf '[test:fresh %5ss] %s\n' "$(($(date +%s) - started))" "$*"; }
cache=${XIOPRO_FRESH_CACHE:-/var/cache/xiopro-fresh}
suite=bookworm
mirror=$(apt_mirror_for_suite "$suite") || die "no apt source for $suite in /etc/apt/sources.list*"
base=$cache/rootfs-$suite-minbase
mkdir -p "$cache/apt-archives/partial"

if [[ ! -f $base/.complete ]]; then
  say "base root filesystem: debootstrap --variant=minbase $suite from $mirror (once; cached in $base)"
  rm -rf "$base.tmp"
  debootstrap --variant=minbase "$suite" "$base.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log"; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  # The same apt sources as this machine (suites, security, updates): configuration, not software.
  rm -f "$base.tmp/etc/apt/sources.list"
  cp -a /etc/apt/sources.list /etc/apt/sources.list.d "$base.tmp/etc/apt/" 2>/dev/null || true
  rm -rf "$base.tmp/var/cache/apt/archives"/*.deb "$base.tmp/var/lib/apt/lists"/*_Packages
  touch "$base.tmp/.complete"
  rm -rf "$base"
  mv "$base.tmp" "$base"
fi
say "base root filesystem $base ($(du -sh "$base" | cut -f1), $(chroot "$base" dpkg-query -W | wc -l) packages)"
((rootfs_only)) && exit 0

commit=$(git -C "$repo" rev-parse HEAD)
[[ -z $(git -C "$repo" status --porcelain) ]] || say "note: uncommitted changes are not tested; this tests HEAD $commit"
work=$(mktemp -d /var/tmp/xiopro-fresh.XXXXXX)
root=$work/root
mkdir -p "$work/upper" "$work/ovl" "$root"
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$?
  umount "$root" 2>/dev/null || true
  if ((keep)); then say "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT

say "fresh clone of HEAD $commit"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/ovl" "$root"
mkdir -p "$root/work"
git clone -q "$repo" "$root/work/xiopro-infra"
git -C "$root/work/xiopro-infra" checkout -q "$commit"
# CI runs with a read-only copy of shared/ beside the clone.
if [[ -d $repo/../shared ]]; then cp -a "$repo/../shared" "$root/work/shared" && chmod -R a-w "$root/work/shared"; fi
# This machine's network and trust configuration (resolver, apt acquisition settings, the CA
# bundle and npm's settings), as any new machine of this kind has it: configuration, not software.
cp /etc/resolv.conf "$root/etc/resolv.conf"
for f in /etc/apt/apt.conf.d/*; do grep -q 'Acquire::' "$f" && cp "$f" "$root/etc/apt/apt.conf.d/"; done
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
for f in /etc/npmrc /usr/etc/npmrc /root/.npmrc; do [[ -f $f ]] && mkdir -p "$root$(dirname "$f")" && cp -a "$f" "$root$f"; done
# No init system runs in the container: services must not start on install (install-tools stops
# them with systemctl on a real machine).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
node_root=$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)
npm_dir=$node_root/lib/node_modules/npm
[[ -d $npm_dir ]] || die "npm not found beside node ($npm_dir)"
umount "$root"

say "run .ci/run in the container (Node.js $(node --version) and npm $(npm --version) read-only from this machine)"
set +e
# shellcheck disable=SC2016 # expanded by the inner bash, inside the namespace
unshare --mount --pid --fork --kill-child --propagation private env ROOT="$root" WORK="$work" BASE="$base" CACHE="$cache" NODE="$(command -v node)" NPM_DIR="$npm_dir" NODE_EXTRA_CA_CERTS="${NODE_EXTRA_CA_CERTS:-}" bash -euo pipefail -c '
  mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT"
  mount -t proc proc "$ROOT/proc"
  mount --rbind /sys "$ROOT/sys"
  mount --rbind /dev "$ROOT/dev"
  mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
  mount --bind "$CACHE/apt-archives" "$ROOT/var/cache/apt/archives"
  touch "$ROOT/usr/bin/node"
  mount --bind -o ro "$NODE" "$ROOT/usr/bin/node"
  mkdir -p "$ROOT/usr/lib/node_modules/npm"
  mount --bind -o ro "$NPM_DIR" "$ROOT/usr/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/bin/npx"
  # The root of the mount namespace, not a chroot: the kernel refuses user namespaces to a chrooted
  # process and to everything it starts, so PrivateUsers= units in the e2e containers would fail.
  mkdir -p "$ROOT/.oldroot"
  cd "$ROOT"
  pivot_root . .oldroot
  umount -l /.oldroot
  exec /usr/bin/env -i HOME=/root USER=root LANG=C.UTF-8 TERM=dumb CI=true ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS} \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /work/xiopro-infra && bash .ci/run"
' 2>&1 | tee "$work/ci.log"
rc=${PIPESTATUS[0]}
set -e
closing=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/ci.log" | tail -n 1 || true)
say "done: exit $rc in $(($(date +%s) - started)) s for HEAD $commit (log: $work/ci.log$( ((keep)) || echo ', removed'))"
echo "${closing:-0 passed, 1 failed}"
exit "$rc"
