#!/usr/bin/env bash
# Preview job, last step: this stack's part of the PR comment, from what the earlier steps left
# in OUT_DIR and the Pulumi action's output and outcome (env PREVIEW_OUTPUT, PREVIEW_OUTCOME).
# Writes OUT_DIR/section-STACK.md.
# Usage: preview-section.sh STACK OUT_DIR
set -euo pipefail
(($# == 2)) || { echo "usage: $0 STACK OUT_DIR" >&2; exit 2; }
stack=$1 out=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
printf '%s\n' "${PREVIEW_OUTPUT:-}" >"$out/preview.txt"
printf '%s\n' "${PREVIEW_OUTCOME:-}" >"$out/preview.outcome"
"$repo/node_modules/.bin/tsx" "$repo/scripts/ci/cli.ts" preview-section --stack "$stack" --dir "$out" ${RUN_URL:+--run-url "$RUN_URL"} >"$out/section-$stack.md"
echo "preview-section: wrote $out/section-$stack.md ($(wc -c <"$out/section-$stack.md") bytes)"
