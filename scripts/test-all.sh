#!/usr/bin/env bash
# `npm test`: installs the Debian packages it drives (scripts/install-tools.sh: as root, or it stops
# with the command to run), then typecheck, lint, the vitest suite (unit, mock, real validators,
# real services) and the VM boot proof. Prints one closing line "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
echo "== tools"; bash scripts/install-tools.sh
# Every tool is installed now: a real-service test that finds one missing fails instead of skipping.
export XIOPRO_REQUIRE_TOOLS=1
if [[ ${CI:-} == true && ${XIOPRO_SKIP_VM:-0} == 1 ]]; then
  echo "XIOPRO_SKIP_VM=1 is for a local loop only; CI runs the VM boot proof" >&2
  exit 1
fi

report=$(mktemp)
trap 'rm -f "$report"' EXIT

# The VM image build (debootstrap, ~4 min on a fresh machine) overlaps the other tests.
image_pid=""
if [[ ${XIOPRO_SKIP_VM:-0} != 1 ]]; then
  bash test/vm/run.sh --image-only >/tmp/xiopro-test-vm-image.log 2>&1 &
  image_pid=$!
fi

echo "== typecheck"; npx tsc --noEmit -p tsconfig.json
echo "== lint"; npx eslint .
echo "== format"; npx prettier --check "**/*.{ts,mjs}"
echo "== vitest"
set +e
npx vitest run --reporter=default --reporter=json --outputFile="$report"
vitest_rc=$?
set -e
passed=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.numPassedTests)' "$report")
failed=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.numFailedTests + (r.numTotalTests===0?1:0))' "$report")
skipped=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.numPendingTests + r.numTodoTests)' "$report")
if ((vitest_rc != 0 && failed == 0)); then failed=1; fi

# The two-node proof (~2 min, containers): Node A and a WAL receiver on Node C boot from their rendered
# user-data on one private network; the private network is scanned from each node and from an address of
# no node (test/e2e/run.sh). Checks a container cannot prove are listed there and proven by the VM below.
if [[ ${XIOPRO_SKIP_VM:-0} == 1 ]]; then
  echo "== e2e: skipped (XIOPRO_SKIP_VM=1)"
  skipped=$((skipped + 1))
else
  echo "== e2e (two nodes)"
  set +e
  bash test/e2e/run.sh --receiver 2>&1 | tee /tmp/xiopro-test-e2e.log
  e2e_rc=${PIPESTATUS[0]}
  set -e
  e2e_line=$(grep -oE 'e2e: [0-9]+ passed, [0-9]+ failed' /tmp/xiopro-test-e2e.log | tail -n 1 || true)
  e2e_passed=$(sed -E 's/^e2e: ([0-9]+) passed.*/\1/' <<<"${e2e_line:-e2e: 0 passed, 1 failed}")
  e2e_failed=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"${e2e_line:-e2e: 0 passed, 1 failed}")
  if ((e2e_rc != 0 && e2e_failed == 0)); then e2e_failed=1; fi
  passed=$((passed + e2e_passed))
  failed=$((failed + e2e_failed))
fi

# The boot proof: a real VM from the rendered user-data (root, qemu, ~10 min). XIOPRO_SKIP_VM=1
# skips it for a quick local loop only; CI never sets it.
if [[ ${XIOPRO_SKIP_VM:-0} == 1 ]]; then
  echo "== vm: skipped (XIOPRO_SKIP_VM=1)"
  skipped=$((skipped + 1))
else
  echo "== vm"
  # A failed prefetch is not hidden: run.sh builds the image again and fails with its error.
  if [[ -n $image_pid ]] && ! wait "$image_pid"; then echo "vm image prefetch failed (log below); run.sh retries the build"; tail -n 20 /tmp/xiopro-test-vm-image.log; fi
  set +e
  bash test/vm/run.sh 2>&1 | tee /tmp/xiopro-test-vm.log
  vm_rc=${PIPESTATUS[0]}
  set -e
  vm_line=$(grep -E '^vm: [0-9]+ passed, [0-9]+ failed$' /tmp/xiopro-test-vm.log | tail -n 1 || true)
  vm_passed=$(sed -E 's/^vm: ([0-9]+) passed.*/\1/' <<<"${vm_line:-vm: 0 passed, 1 failed}")
  vm_failed=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"${vm_line:-vm: 0 passed, 1 failed}")
  if ((vm_rc != 0 && vm_failed == 0)); then vm_failed=1; fi
  passed=$((passed + vm_passed))
  failed=$((failed + vm_failed))
fi

echo "npm test took $(($(date +%s) - started)) s"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $(( failed > 0 ? 1 : 0 ))
