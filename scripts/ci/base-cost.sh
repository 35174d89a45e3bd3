#!/usr/bin/env bash
# Preview job: the cost document of STACK on the base commit, computed by the base's own code
# (offline plan) in a temporary git worktree. Writes exactly one of
#   OUT_DIR/base.json     the base's cost document
#   OUT_DIR/base.new      the stack does not exist on the base (everything is an addition)
#   OUT_DIR/base.missing  why no base could be computed (shown in the comment)
# and exits 0 in all three cases: a missing base must not hide the head's preview.
# Usage: base-cost.sh BASE_REF STACK OUT_DIR
set -euo pipefail
(($# == 3)) || { echo "usage: $0 BASE_REF STACK OUT_DIR" >&2; exit 2; }
base_ref=$1 stack=$2 out=$3
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
rm -f "$out/base.json" "$out/base.new" "$out/base.missing"

if ! git -C "$repo" rev-parse --verify --quiet "$base_ref^{commit}" >/dev/null; then
  echo "the base commit $base_ref is not in this clone (fetch-depth too small?)" >"$out/base.missing"
  exit 0
fi
wt=$(mktemp -d)
rmdir "$wt"
cleanup() { git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"; }
trap cleanup EXIT
git -C "$repo" worktree add --detach --quiet "$wt" "$base_ref"

if [[ ! -f $wt/Pulumi.$stack.yaml ]]; then
  echo "stack $stack does not exist on $base_ref" >"$out/base.new"
  exit 0
fi
if ! grep -q '"cost":' "$wt/package.json"; then
  echo "the base commit has no npm run cost yet" >"$out/base.missing"
  exit 0
fi
# Same lock file: the dependencies are identical, reuse them instead of a second npm ci.
if git -C "$repo" diff --quiet "$base_ref" HEAD -- package-lock.json; then
  [[ -e $wt/node_modules ]] || ln -s "$repo/node_modules" "$wt/node_modules"
else
  (cd "$wt" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
if (cd "$wt" && npm run --silent cost -- --stack "$stack" --source plan --json) >"$out/base.json" 2>"$out/base.err"; then
  echo "base-cost: $stack priced on $base_ref"
else
  { echo "npm run cost failed on the base commit:"; cat "$out/base.err"; } >"$out/base.missing"
  rm -f "$out/base.json"
  cat "$out/base.missing" >&2
fi
rm -f "$out/base.err"
