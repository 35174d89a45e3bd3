#!/usr/bin/env bash
# Drill workflow: the fresh-VM restore drill of STACK, with its exit code, JSON report and log left
# in DIR for `cli.ts drill-report`. The admin key comes from the stack's own encrypted config, as in
# accept-summary.sh. Always exits 0: the report step decides (and fails the job).
# Usage: drill-run.sh STACK DIR
set -euo pipefail
(($# == 2)) || { echo "usage: $0 STACK DIR" >&2; exit 2; }
stack=$1
out=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
key=$work/admin-key
(umask 077 && pulumi config get adminSshPrivateKey --stack "$stack" >"$key")
set +e
(cd "$repo" && npm run --silent drill -- --stack "$stack" --fresh-vm --ssh-key "$key" --json) >"$out/drill.json" 2> >(tee "$out/drill.log" >&2)
echo $? >"$out/drill.exit"
exit 0
