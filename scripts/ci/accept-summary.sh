#!/usr/bin/env bash
# Deploy job, after pulumi up: the acceptance checks of STACK, with their Markdown table appended
# to the job summary. The admin key comes from the stack's own encrypted config (decrypted with
# PULUMI_CONFIG_PASSPHRASE), so no further secret is needed. Exits with the checks' status.
# Usage: accept-summary.sh STACK
set -euo pipefail
(($# == 1)) || { echo "usage: $0 STACK" >&2; exit 2; }
stack=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
key=$work/admin-key
(umask 077 && pulumi config get adminSshPrivateKey --stack "$stack" >"$key")
set +e
(cd "$repo" && npm run --silent accept -- --stack "$stack" --ssh-key "$key" --markdown) >"$work/accept.md"
rc=$?
set -e
cat "$work/accept.md"
if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
  cat "$work/accept.md" >>"$GITHUB_STEP_SUMMARY"
  ((rc == 0)) || echo "**Acceptance of \`$stack\` failed (exit $rc).**" >>"$GITHUB_STEP_SUMMARY"
fi
exit "$rc"
