#!/usr/bin/env bash
# The Storage Box stand-in of the VM proof: a second host on the test network's public bridge that
# serves SFTP on port 23, key-only, with the sub-account chrooted, as Hetzner's Storage Box does.
# It runs Debian's own OpenSSH from the VM image's root filesystem (read-only, with a writable
# overlay on tmpfs), in its own mount and PID namespaces inside the test network namespace.
# Runs in the foreground until killed; sshd logs to stderr.
#
#   box.sh --image IMAGE_DIR --workdir DIR --address 203.0.113.23 --user u-box --home /xiopro --key KEY.pub
#
# The sub-account's home (the repository) is DIR/repo, bind-mounted into the chroot: what the run
# inspects afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

inside=0
image='' work='' address='' user='' home='' key=''
while (($#)); do
	case $1 in
	--inside) inside=1 ;;
	--image) image=$2 && shift ;;
	--workdir) work=$2 && shift ;;
	--address) address=$2 && shift ;;
	--user) user=$2 && shift ;;
	--home) home=$2 && shift ;;
	--key) key=$2 && shift ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done
[[ -n $image && -n $work && -n $address && -n $user && $home == /* && -s $key ]] || die "usage: box.sh --image DIR --workdir DIR --address IP --user NAME --home /PATH --key KEY.pub"

if ((!inside)); then
	need_root
	mkdir -p "$work"/{lower,rw,root,repo}
	ip netns exec "${XVM_NETNS}" ip addr replace "$address/${XVM_PUB_PREFIX4}" dev "${XVM_BR_PUB}"
	# Mounts and processes die with this script: its own mount and PID namespaces.
	exec ip netns exec "${XVM_NETNS}" unshare --mount --propagation private --pid --fork --kill-child \
		"$0" --inside --image "$image" --workdir "$work" --address "$address" --user "$user" --home "$home" --key "$key"
fi

root=$work/root
mount -o loop,ro,noload "$image/root.img" "$work/lower"
# The writable layer on tmpfs: overlayfs refuses an upper directory on overlayfs (test:fresh's root).
mount -t tmpfs -o mode=0755 tmpfs "$work/rw"
mkdir -p "$work/rw/upper" "$work/rw/work"
mount -t overlay overlay -o "lowerdir=$work/lower,upperdir=$work/rw/upper,workdir=$work/rw/work" "$root"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/sshd"

# The sub-account: no password ("*": sshd refuses a locked "!" account even for keys), no shell; its chroot is root-owned (sshd's rule), its home inside
# the chroot is its own.
chroot "$root" id -u "$user" >/dev/null 2>&1 || chroot "$root" useradd --system --password "*" --no-create-home --home-dir "$home" --shell /usr/sbin/nologin "$user"
mkdir -p "$root/srv/box$home" "$root/etc/ssh/box_authorized_keys"
chown root:root "$root/srv/box" && chmod 0755 "$root/srv/box"
# The repository itself is a directory of the run (WORKDIR/repo), so the run can inspect it.
mount --bind "$work/repo" "$root/srv/box$home"
chroot "$root" chown "$user:" "/srv/box$home"
install -m 0644 "$key" "$root/etc/ssh/box_authorized_keys/$user"
[[ -s $root/etc/ssh/box_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C storage-box-stand-in -f "$root/etc/ssh/box_host_ed25519_key"
cat >"$root/etc/ssh/box_sshd_config" <<EOF
Port 23
ListenAddress $address
HostKey /etc/ssh/box_host_ed25519_key
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
AuthorizedKeysFile /etc/ssh/box_authorized_keys/%u
AllowUsers $user
Subsystem sftp internal-sftp
Match User $user
	ChrootDirectory /srv/box
	ForceCommand internal-sftp
	AllowTcpForwarding no
	X11Forwarding no
	PermitTTY no
EOF
chroot "$root" /usr/sbin/sshd -t -f /etc/ssh/box_sshd_config
# shellcheck disable=SC2016 # a dpkg-query format, not shell
log "storage box stand-in: sftp://$user@$address:23$home (OpenSSH $(chroot "$root" dpkg-query -W -f='${Version}' openssh-server))"
exec chroot "$root" /usr/sbin/sshd -D -e -f /etc/ssh/box_sshd_config
