#!/usr/bin/env bash
# The ACME CA of the VM proof: Pebble (Let's Encrypt's test server, Debian package `pebble`) on the
# test network's gateway, with its own DNS (pebble-challtestsrv) answering every name with the
# guest's address, so Pebble validates the guest's challenges over the test network as Let's
# Encrypt would over the internet. Pebble's directory speaks HTTPS with a certificate from a test
# CA made here: that CA is what the stack's ingress.acmeCaRoot carries.
#
#   acme.sh --certs-only --workdir DIR    make DIR/directory-ca.pem (+ Pebble's listener cert) and stop
#   acme.sh --workdir DIR --answer IPv4   run DNS + Pebble in the foreground until killed
#
# Directory: https://203.0.113.1:14000/dir; management (issuing root: /roots/0): https://127.0.0.1:15000
# inside the test network namespace.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

certs_only=0 inside=0 work='' answer=''
while (($#)); do
	case $1 in
	--certs-only) certs_only=1 ;;
	--inside) inside=1 ;;
	--workdir) work=$2 && shift ;;
	--answer) answer=$2 && shift ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done
[[ -n $work ]] || die "usage: acme.sh [--certs-only] --workdir DIR [--answer IPv4]"

if ((certs_only)); then
	mkdir -p "$work"
	cd "$work"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 -keyout directory-ca.key -out directory-ca.pem \
		-subj "/CN=xiopro VM proof ACME directory CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pebble.key -out pebble.csr -subj "/CN=pebble" 2>/dev/null
	printf 'subjectAltName=IP:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' "${XVM_PUB_GW4}" >pebble.ext
	openssl x509 -req -in pebble.csr -CA directory-ca.pem -CAkey directory-ca.key -CAcreateserial -days 3 -extfile pebble.ext -out pebble.pem 2>/dev/null
	cat >pebble.json <<JSON
{ "pebble": { "listenAddress": "${XVM_PUB_GW4}:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$work/pebble.pem", "privateKey": "$work/pebble.key",
  "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false } }
JSON
	exit 0
fi

[[ $answer =~ ^[0-9.]+$ ]] || die "--answer needs the guest's IPv4 address"
if ((!inside)); then
	need_root
	[[ -s $work/pebble.json ]] || die "run acme.sh --certs-only --workdir $work first"
	# Both servers die with this script: its own PID namespace.
	exec ip netns exec "${XVM_NETNS}" unshare --pid --fork --kill-child "$0" --inside --workdir "$work" --answer "$answer"
fi
pebble-challtestsrv -defaultIPv4 "$answer" -defaultIPv6 "" -dns01 127.0.0.1:8053 -http01 "" -https01 "" -tlsalpn01 "" -management 127.0.0.1:8055 &
# No random waits and no deliberately rejected nonces: the proof is about the protocol, not retries.
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 exec pebble -config "$work/pebble.json" -dnsserver 127.0.0.1:8053
