#!/usr/bin/env bash
# `npm test`: typecheck, lint, the vitest suite (unit, mock, real validators, real services),
# then the VM boot proof. Prints one closing line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

report=$(mktemp)
trap 'rm -f "$report"' EXIT

echo "== typecheck"; npx tsc --noEmit -p tsconfig.json
echo "== lint"; npx eslint .
echo "== vitest"
set +e
npx vitest run --reporter=default --reporter=json --outputFile="$report"
vitest_rc=$?
set -e
passed=$(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests)' "$report")
failed=$(node -e 'const r=require(process.argv[1]);console.log(r.numFailedTests + (r.numTotalTests===0?1:0))' "$report")
if ((vitest_rc != 0 && failed == 0)); then failed=1; fi

echo "${passed} passed, ${failed} failed"
exit $(( failed > 0 ? 1 : 0 ))
