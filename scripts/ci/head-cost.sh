#!/usr/bin/env bash
# Preview job, first step: the cost document of this PR's STACK from the offline plan, which also
# validates the stack config. Writes OUT_DIR/head.json, or OUT_DIR/validation.txt with the
# validation report when the config is invalid. Prints valid=true|false to $GITHUB_OUTPUT and
# exits 0 either way (a later step fails the job after the report is posted); any other failure
# of the cost tool fails here.
# Usage: head-cost.sh STACK OUT_DIR [STACK_FILE]
set -euo pipefail
(($# >= 2)) || { echo "usage: $0 STACK OUT_DIR [STACK_FILE]" >&2; exit 2; }
stack=$1 out=$2 file=${3:-}
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
rm -f "$out/head.json" "$out/validation.txt"

args=(--stack "$stack")
[[ -n $file ]] && args=(--stack-file "$file")
set +e
"$repo/node_modules/.bin/tsx" "$repo/scripts/cost/cli.ts" "${args[@]}" --source plan --json >"$out/head.json" 2>"$out/head.err"
rc=$?
set -e

case $rc in
  0) valid=true ;;
  1)
    # Exit 1 is the validation report (or an unreadable input), written for people: post it as is.
    valid=false
    mv "$out/head.err" "$out/validation.txt"
    rm -f "$out/head.json"
    cat "$out/validation.txt" >&2
    ;;
  *)
    cat "$out/head.err" >&2
    echo "head-cost: npm run cost failed with exit $rc" >&2
    exit "$rc"
    ;;
esac
rm -f "$out/head.err"
echo "valid=$valid" >>"${GITHUB_OUTPUT:-/dev/null}"
echo "head-cost: $stack valid=$valid"
