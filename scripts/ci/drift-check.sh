#!/usr/bin/env bash
# Drift job: pulumi preview --refresh --expect-no-changes for STACK. Records the exit code and the
# output in OUT_DIR/STACK.exit and OUT_DIR/STACK.txt for the report job, which tells drift
# (pulumi's "no changes were expected" message) from a failed check. Always exits 0.
# Usage: drift-check.sh STACK OUT_DIR
set -euo pipefail
(($# == 2)) || { echo "usage: $0 STACK OUT_DIR" >&2; exit 2; }
stack=$1 out=$2
mkdir -p "$out"
set +e
pulumi preview --stack "$stack" --refresh --expect-no-changes --diff --non-interactive --color never >"$out/$stack.txt" 2>&1
rc=$?
set -e
echo "$rc" >"$out/$stack.exit"
cat "$out/$stack.txt"
echo "drift-check: $stack exit $rc"
