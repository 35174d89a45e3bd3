#!/usr/bin/env bash
# npm run test:e2e — the fast variant of the VM proof: the same rendered user-data of tst Node A,
# the same credential and operations-bundle deliveries and the same acceptance run, but in a
# systemd-nspawn container instead of a qemu guest, with the packages already installed.
#
# What it cannot prove (the acceptance checks listed in CONTAINER_LIMITS are reported, not
# counted): kernel settings (sysctl is the host's), kernel modules, block devices (the volumes
# are bind mounts, not /dev/disk/by-id/scsi-0HC_Volume_*), time synchronisation (timesyncd does
# not run in containers), package installation order (the early files cannot precede packages
# that are already installed), and reboot. `npm run test:vm` proves those.
#
# --receiver: the stack also has Node C with a synchronous WAL receiver (xiopro-infra:wal-receiver); it
# boots as a second container on the same private network, and Node A's acceptance then requires
# the receiver streaming in sync.
#
# The iteration loop: --keep leaves the containers running after the run (passed or not);
# `--again` then repeats only the acceptance round against them (seconds, not a boot), and
# `--down` stops them. XIOPRO_E2E_KEEP=1 keeps the container and its files after a failure.
set -euo pipefail

usage() { echo "usage: npm run test:e2e [-- [--receiver] [--keep] | --again | --down]" >&2; exit 2; }
receiver=0 keep=0 mode=run
for arg in "$@"; do
  case $arg in
    --receiver) receiver=1 ;;
    --keep) keep=1 ;;
    --again) mode=again ;;
    --down) mode=down ;;
    *) usage ;;
  esac
done
[[ $mode == run ]] || ((receiver == 0 && keep == 0)) || usage

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
vm="$repo/test/vm"
# A namespace and uplink of its own, not the VM proof's: npm test runs the two side by side.
export XIOPRO_VM_NETNS=${XIOPRO_E2E_NETNS:-xe2enet} XIOPRO_VM_UPLINK_HOST=198.18.0.5 XIOPRO_VM_UPLINK_NS=198.18.0.6
# shellcheck source-path=SCRIPTDIR source=../vm/lib.sh
source "$vm/lib.sh"
tsx="$repo/node_modules/.bin/tsx"
ns=${XVM_NETNS}
# An address in the private network that belongs to no node (the planned ones are .10 upwards).
STRAY_IP=10.1.1.250
cns=xe2e
rns=xe2ec
machine=xiopro-e2e
# What --keep leaves for --again and --down: the work directory and the container processes.
state_file=/run/xiopro-e2e/state
t0=$(date +%s)
if [[ $mode == run ]]; then
  [[ ! -f $state_file ]] || { echo "containers kept by an earlier run are still up: npm run test:e2e -- --down first" >&2; exit 2; }
  work=$(mktemp -d /tmp/xiopro-e2e.XXXXXX)
else
  [[ -f $state_file ]] || { echo "no kept containers (run npm run test:e2e -- --keep first)" >&2; exit 2; }
  # shellcheck source=/dev/null
  source "$state_file"
fi
export XIOPRO_E2E_RECEIVER=$receiver
say() { printf '[test:e2e %4ss] %s\n' "$(($(date +%s) - t0))" "$*"; }

# Acceptance checks a container cannot pass, with the reason; everything else must pass.
declare -A CONTAINER_LIMITS=(
  ["time synchronized"]="systemd-timesyncd does not run in containers (ConditionVirtualization=!container)"
  ["volume /var/lib/postgresql mounted from volume"]="bind mount, no block device"
  ["volume /srv/agentd mounted from volume"]="bind mount, no block device"
)
limit_for() {
  local name=$1 k
  for k in "${!CONTAINER_LIMITS[@]}"; do [[ $name == "$k"* ]] && { printf '%s' "${CONTAINER_LIMITS[$k]}"; return 0; }; done
  return 1
}

need_root
need_cmds systemd-nspawn ip ssh ssh-keygen node

# Each container in a cgroup of its own: this machine's PID 1 is not systemd, so nspawn
# (--keep-unit) puts the container under the caller's cgroup, and two containers started from one
# shell would share it and see each other's services (Node A's PostgreSQL unit then waited forever).
CGROUP_ROOTS=(/sys/fs/cgroup/systemd /sys/fs/cgroup/unified)
in_own_cgroup() {
  local name=$1 d
  shift
  for d in "${CGROUP_ROOTS[@]}"; do [[ ! -d $d ]] || mkdir -p "$d/$name"; done
  # shellcheck disable=SC2016 # expanded by the inner shell
  XIOPRO_CGROUPS="${CGROUP_ROOTS[*]/%//$name}" exec sh -c 'for g in $XIOPRO_CGROUPS; do [ ! -d "$g" ] || echo $$ >"$g/cgroup.procs"; done; exec "$@"' sh "$@"
}
# Whatever a container left behind (nspawn killed hard leaves its processes running), then the cgroups.
drop_cgroups() {
  local d pid
  for d in "${CGROUP_ROOTS[@]}"; do
    [[ -d $d ]] || continue
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < <(find "$d/$machine" "$d/$machine-c" -name cgroup.procs -exec cat {} + 2>/dev/null)
  done
  sleep 1
  for d in "${CGROUP_ROOTS[@]}"; do
    [[ -d $d ]] || continue
    find "$d/$machine" "$d/$machine-c" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}
keep_containers() {
  mkdir -p "$(dirname "$state_file")"
  printf 'work=%q\nnspawn_pid=%q\nreceiver_pid=%q\nreceiver=%q\n' "$work" "${nspawn_pid:-}" "${receiver_pid:-}" "$receiver" >"$state_file"
  say "kept: container $machine$( ((receiver)) && echo " and $machine-c") and $work; npm run test:e2e -- --again repeats the acceptance round, -- --down stops them"
}
cleanup() {
  local rc=$?
  if ((keep)) || { ((rc != 0)) && [[ ${XIOPRO_E2E_KEEP:-0} == 1 ]]; }; then
    keep_containers
    exit "$rc"
  fi
  local pid
  for pid in ${nspawn_pid:-} ${receiver_pid:-}; do
    kill "$pid" 2>/dev/null || true # nspawn halts the container's systemd on SIGTERM
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  done
  drop_cgroups
  umount -l "$work/merged" 2>/dev/null || true
  umount -l "$work/c-merged" 2>/dev/null || true
  umount -l "$work/layers" 2>/dev/null || true
  ip netns del "$cns" 2>/dev/null || true
  ip netns del "$rns" 2>/dev/null || true
  ip -n "$ns" link del e2ec-pub 2>/dev/null || true
  ip -n "$ns" link del e2ec-priv 2>/dev/null || true
  ip -n "$ns" link del e2e-pub 2>/dev/null || true
  ip -n "$ns" link del e2e-priv 2>/dev/null || true
  "$vm/net.sh" down >/dev/null 2>&1 || true
  rm -rf "$work" "$state_file"
  exit "$rc"
}

ssh_opts=(-i "$work/id" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5)
ssh_base=(ip netns exec "$ns" ssh "${ssh_opts[@]}" ops@203.0.113.10)
ssh_c=(ip netns exec "$ns" ssh "${ssh_opts[@]}" ops@203.0.113.11)
# check NAME OK DETAIL: one row of the e2e table (OK is 1 for a pass), counted in the calling round's
# passed/failed (bash scoping: acceptance_round's locals).
check() {
  if [[ $2 == 1 ]]; then
    printf '  %-60s %s\n' "$1" "PASS${3:+ ($3)}"
    passed=$((passed + 1))
  else
    printf '  %-60s FAIL  %s\n' "$1" "$3"
    failed=$((failed + 1))
  fi
}
# The site behind the load balancer on Node C (--receiver): its upstream answers with the forwarding
# headers it got; a request from the balancer's private address reaches it with the client address
# the balancer reported, and Node C's public address answers neither 80 nor 443.
balanced_site_round() {
  local host port lb_ip c_ip got p
  host=$(node -p 'require(process.argv[1]).receiver.balancedSite.hostname' "$work/deliveries.json")
  port=$(node -p 'require(process.argv[1]).receiver.balancedSite.upstreamPort' "$work/deliveries.json")
  lb_ip=$(node -p 'require(process.argv[1]).receiver.balancedSite.balancerIp' "$work/deliveries.json")
  c_ip=$(node -p 'require(process.argv[1]).receiver.privateIp' "$work/deliveries.json")
  # The owner deploys a custom service; here a transient unit echoing the headers (no % or $: systemd
  # would expand them in the command line).
  local upstream='import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = " ".join(k + "=" + str(self.headers.get(k)) for k in ["X-Forwarded-For", "X-Forwarded-Proto", "Host"]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
http.server.HTTPServer(("127.0.0.1", PORT), H).serve_forever()'
  "${ssh_c[@]}" "systemctl is-active --quiet xiopro-e2e-shop || sudo systemd-run --quiet --unit=xiopro-e2e-shop -p DynamicUser=yes python3 -c \"\$(echo $(base64 -w0 <<<"${upstream/PORT/$port}") | base64 -d)\"" </dev/null
  for _ in $(seq 1 20); do "${ssh_c[@]}" "curl -fsS -o /dev/null http://127.0.0.1:$port/" </dev/null 2>/dev/null && break; sleep 0.5; done
  got=$(ip netns exec "$ns" curl -sS --max-time 10 --interface "$lb_ip" -H "Host: $host" -H "X-Forwarded-For: 198.51.100.7" \
    -H "X-Forwarded-Proto: https" "http://$c_ip/" 2>&1 || true)
  # Caddy passes on what the balancer reported and appends the balancer's own address.
  check "tst-node-c: $host from the balancer's $lb_ip" \
    "$([[ $got == "X-Forwarded-For=198.51.100.7, $lb_ip X-Forwarded-Proto=https Host=$host" ]] && echo 1)" "${got//$'\n'/ }"
  local open
  for p in 80 443; do
    open=$(ip netns exec "$ns" timeout 5 bash -c "exec 3<>/dev/tcp/203.0.113.11/$p" 2>/dev/null && echo 1 || true)
    check "tst-node-c: public $p closed (the balancer serves the site)" "$([[ -z $open ]] && echo 1)" \
      "${open:+203.0.113.11:$p accepted a connection}"
  done
}

# Health-gated releases on Node A (agentd-release, docs/releases.md): a release that passes its gate
# stays; one whose web tier never answers 200 and one whose workers do not stay up are rolled back
# to it by the tool itself, each leaving its record and metrics. Node A runs the good one afterwards.
release_round() {
  local id good bad rc rec t_start
  id=$(date +%s)
  good=good-$id
  release_record() { "${ssh_base[@]}" "sudo cat /var/lib/xiopro/state/agentd-release.json" </dev/null; }
  t_start=$(date +%s)
  set +e
  "${ssh_base[@]}" "sudo agentd-release deploy /usr/local/lib/xiopro/bootstrap-release $good" </dev/null
  rc=$?
  set -e
  rec=$(release_record)
  check "release $good passes its gate and stays" \
    "$( ((rc == 0)) && [[ $(jq -r '.result + " " + .current' <<<"$rec") == "deployed $good" ]] && echo 1)" \
    "exit $rc, $(jq -c '{result, current, gateSeconds}' <<<"$rec"), $(($(date +%s) - t_start)) s"
  # bad-web: agentd-web answers 503 on its health path; bad-worker: every worker exits at start.
  local kind edit
  for kind in web worker; do
    bad=bad-$kind-$id
    case $kind in
      web) edit='s|ok = self.path == "/healthz"|ok = False|' ;;
      worker) edit='s|time.sleep(60)|sys.exit(3)|' ;;
    esac
    "${ssh_base[@]}" "rm -rf /tmp/$bad && cp -a /usr/local/lib/xiopro/bootstrap-release /tmp/$bad && sed -i '$edit' /tmp/$bad/bin/agentd && ! cmp -s /usr/local/lib/xiopro/bootstrap-release/bin/agentd /tmp/$bad/bin/agentd" </dev/null
    t_start=$(date +%s)
    set +e
    "${ssh_base[@]}" "sudo agentd-release deploy /tmp/$bad $bad" </dev/null
    rc=$?
    set -e
    rec=$(release_record)
    check "release $bad fails its gate and is rolled back to $good" \
      "$( ((rc == 1)) && [[ $(jq -r '[.result, .release, .current] | join(" ")' <<<"$rec") == "rolled-back $bad $good" ]] && echo 1)" \
      "exit $rc, $(jq -c '{result, current, gateSeconds, rollbackSeconds, reason: .reason[0:160]}' <<<"$rec"), $(($(date +%s) - t_start)) s"
  done
  local health metrics rollbacks
  health=$("${ssh_base[@]}" "curl -s -o /dev/null -w '%{http_code}' \$(. /etc/xiopro/agentd-release.env && echo \$AGENTD_HEALTH_URL)" </dev/null || true)
  metrics=$("${ssh_base[@]}" "cat /var/lib/xiopro/metrics/xiopro_agentd_release.prom" </dev/null | grep -v '^#' | paste -sd' ' || true)
  rollbacks=$(sed -n 's/.*xiopro_agentd_release_rollbacks_total \([0-9]*\).*/\1/p' <<<"$metrics")
  # The last deploy failed its gate (0) and the history holds at least this round's two rollbacks.
  check "after the rollbacks $good serves, monitoring sees them" \
    "$([[ $health == 200 && $metrics == *"xiopro_agentd_release_last_success 0"* && ${rollbacks:-0} -ge 2 ]] && echo 1)" \
    "health $health; $metrics"
}

# No lockout (xiopro-guard, docs/runbooks/firewall-rollback.md): Node A gets an in-place change whose
# firewall no longer admits SSH, pushed with the command Pulumi runs. The confirmation over a new
# connection cannot get through, and the node must put its configuration back within the bound.
guard_round() {
  local bound apply confirm bad t0 rc waited=0 st
  bound=$(node -p 'require(process.argv[1]).confirmSeconds' "$work/deliveries.json")
  apply=$(node -p 'require(process.argv[1]).applyConfig' "$work/deliveries.json")
  confirm=$(node -p 'require(process.argv[1]).confirmConfig' "$work/deliveries.json")
  # The node's own rendered firewall without its SSH rule, as the only file of the change.
  bad=$(mktemp -d)
  mkdir -p "$bad/etc"
  sed '/tcp dport 22 accept/d' "$work/plan/tst-node-a/files/etc/nftables.conf" >"$bad/etc/nftables.conf"
  if grep -q 'dport 22' "$bad/etc/nftables.conf"; then check "a change that cuts SSH is reverted" 0 "could not remove the SSH rule"; return; fi
  t0=$(date +%s)
  set +e
  tar -czf - -C "$bad" etc | base64 -w0 | "${ssh_base[@]}" "$apply" >"$work/guard-apply.log" 2>&1
  rc=$?
  set -e
  rm -rf "$bad"
  check "the change is applied (the running session survives it)" "$( ((rc == 0)) && echo 1)" \
    "exit $rc in $(($(date +%s) - t0)) s: $(grep -o 'change .* armed.*' "$work/guard-apply.log" | head -n 1)"
  set +e
  timeout 30 "${ssh_base[@]}" "$confirm" </dev/null >/dev/null 2>&1
  rc=$?
  set -e
  check "its confirmation over a new connection does not get through" "$( ((rc != 0)) && echo 1)" "exit $rc"
  # Back within the bound (the timer's accuracy is 1 s; a revert takes seconds).
  until "${ssh_base[@]}" true </dev/null 2>/dev/null; do
    waited=$(($(date +%s) - t0))
    ((waited < bound + 60)) || break
    sleep 2
  done
  waited=$(($(date +%s) - t0))
  # The revert re-runs bootstrap after the firewall and sshd: acceptance follows once it has ended.
  for _ in $(seq 1 150); do
    "${ssh_base[@]}" "systemctl is-active --quiet xiopro-guard-revert.service" </dev/null 2>/dev/null || break
    sleep 2
  done
  st=$("${ssh_base[@]}" "sudo jq -c '{id, state, adminPathRestoredSeconds}' /var/lib/xiopro/state/guard.json" </dev/null 2>&1 || true)
  check "the node reverts by itself within the bound ($bound s) and admits SSH again" \
    "$( ((waited <= bound + 15)) && [[ $st == *'"state":"reverted"'* ]] && echo 1)" "SSH back ${waited} s after the push; $st"
  set +e
  rc=0
  "${ssh_base[@]}" "$confirm" </dev/null >"$work/guard-confirm.log" 2>&1 || rc=$?
  set -e
  check "a late confirmation fails, naming the revert" "$( ((rc != 0)) && grep -q 'was reverted' "$work/guard-confirm.log" && echo 1)" \
    "exit $rc: $(tail -n 1 "$work/guard-confirm.log")"
  # What every other push is: a change that keeps the admin path, confirmed, and nothing left armed.
  bad=$(mktemp -d)
  mkdir -p "$bad/etc"
  cp "$work/plan/tst-node-a/files/etc/nftables.conf" "$bad/etc/nftables.conf"
  t0=$(date +%s)
  set +e
  tar -czf - -C "$bad" etc | base64 -w0 | "${ssh_base[@]}" "$apply" >"$work/guard-apply.log" 2>&1 &&
    "${ssh_base[@]}" "$confirm" </dev/null >"$work/guard-confirm.log" 2>&1
  rc=$?
  set -e
  rm -rf "$bad"
  st=$("${ssh_base[@]}" "sudo jq -c '{state, confirmedAfterSeconds}' /var/lib/xiopro/state/guard.json; systemctl is-active xiopro-guard-revert.timer" </dev/null 2>&1 | paste -sd' ' || true)
  check "a change that keeps the admin path is confirmed and stays" \
    "$( ((rc == 0)) && [[ $st == *'"state":"confirmed"'*inactive ]] && echo 1)" "exit $rc in $(($(date +%s) - t0)) s: $st"
}

# The acceptance round against the running container(s), with the container's limits applied.
acceptance_round() {
  local passed=0 failed=0 limited=0 result name detail why received
  say "health-gated releases (agentd-release) on tst-node-a"
  release_round
  say "no lockout: an in-place change that cuts SSH (xiopro-guard) on tst-node-a"
  guard_round
  say "acceptance (no --reboot)"
  set +e
  ip netns exec "$ns" "$tsx" "$repo/scripts/accept/cli.ts" --stack-file "$work/Pulumi.vm.yaml" --outputs "$work/plan/outputs.json" \
    --target 203.0.113.10 --ssh-key "$work/id" --public-addr 203.0.113.10 --public-addr6 2001:db8:100::10 --scan-from 203.0.113.50 \
    --secrets-file "$work/secrets.json" --history "$work/acceptance-history.jsonl" --json >"$work/acceptance.json"
  set -e
  while IFS=$'\t' read -r result name detail; do
    if [[ $result == fail ]] && why=$(limit_for "$name"); then
      printf '  %-60s %s\n' "$name" "not provable in a container: $why"
      limited=$((limited + 1))
    elif [[ $result == fail ]]; then
      printf '  %-60s FAIL  %s\n' "$name" "$detail"
      failed=$((failed + 1))
    else
      printf '  %-60s %s\n' "$name" "${result^^}"
      [[ $result == pass ]] && passed=$((passed + 1))
    fi
  done < <(node -e 'for (const r of require(process.argv[1]).results) console.log([r.result, r.name, r.detail.replace(/\s+/g, " ")].join("\t"))' "$work/acceptance.json")
  say "acceptance timings: $("$tsx" -e 'console.log(require(process.argv[1]).timingsLine(require(process.argv[2]).timings, " s"))' "$repo/scripts/accept/report.ts" "$work/acceptance.json")"
  # shellcheck disable=SC2016 # JavaScript template literals, not shell
  say "slowest acceptance checks: $(node -e 'const r = require(process.argv[1]).results; console.log(r.sort((a, b) => b.seconds - a.seconds).slice(0, 4).map((x) => `${x.name} ${x.seconds.toFixed(1)} s`).join("; "))' "$work/acceptance.json")"
  if ((receiver)); then
    # The receiver's side, as its node sees it: the unit and the files it wrote.
    received=$("${ssh_c[@]}" "sudo find $(node -p 'require(process.argv[1]).receiver.walDir' "$work/deliveries.json") -maxdepth 1 -type f | wc -l")
    if [[ $("${ssh_c[@]}" systemctl is-active xiopro-walreceiver.service) == active && $received -gt 0 ]]; then
      check "tst-node-c: xiopro-walreceiver active, WAL received" 1 "$received files"
    else
      check "tst-node-c: xiopro-walreceiver active, WAL received" 0 \
        "$("${ssh_c[@]}" journalctl -u xiopro-walreceiver -n 5 --no-pager -o cat | tr '\n' ' ')"
    fi
  fi
  if ((receiver)); then
    # Node C's agent worker reaches Node A's database as its role, with the credential delivered to Node C
    # and the address from its rendered agentd.env: firewall, pg_hba and delivery end to end.
    local who
    # shellcheck disable=SC2016 # expanded on the node
    who=$("${ssh_c[@]}" 'sudo systemd-run --quiet --wait --pipe --collect -p EnvironmentFile=/etc/xiopro/agentd.env -p LoadCredentialEncrypted=pw:/etc/credstore.encrypted/pg-role-worker sh -c '"'"'PGPASSWORD=$(cat "$CREDENTIALS_DIRECTORY/pw") psql -h "$DATABASE_HOST" -U xiopro_worker -d "$DATABASE_NAME" -tAc "SELECT current_user || chr(32) || host(inet_client_addr())"'"'" </dev/null 2>&1 || true)
    check "tst-node-c: agent worker logs in to Node A's database" \
      "$([[ $who == "xiopro_worker $(node -p 'require(process.argv[1]).receiver.privateIp' "$work/deliveries.json")" ]] && echo 1)" \
      "${who//$'\n'/ }"
  fi
  if ((receiver)); then
    balanced_site_round
  fi
  # The private network from inside it (npm run accept:private): an address of no node reaches no port of
  # Node A; with --receiver, Node C's own namespace reaches exactly what Node A admits it (PostgreSQL, as
  # the replication role only), Node A's reaches exactly Node C's exporters (scraped by monitoring), and
  # the balancer's address exactly Node C's HTTP port.
  local probes=("$ns nodeA $STRAY_IP")
  if ((receiver)); then
    local a_ip c_ip lb_ip
    a_ip=$(node -p 'require(process.argv[1]).privateIp' "$work/deliveries.json")
    c_ip=$(node -p 'require(process.argv[1]).receiver.privateIp' "$work/deliveries.json")
    lb_ip=$(node -p 'require(process.argv[1]).receiver.balancedSite.balancerIp' "$work/deliveries.json")
    probes+=("$rns nodeA $c_ip" "$cns nodeC $a_ip" "$ns nodeC $lb_ip" "$ns nodeC $STRAY_IP")
  fi
  local probe pns pnode pfrom
  for probe in "${probes[@]}"; do
    read -r pns pnode pfrom <<<"$probe"
    say "private network: $pnode's private address from $pfrom"
    set +e
    ip netns exec "$pns" "$tsx" "$repo/scripts/accept/private-cli.ts" --stack-file "$work/Pulumi.vm.yaml" --node "$pnode" --from "$pfrom" --json >"$work/private.json"
    set -e
    while IFS=$'\t' read -r result name detail; do
      printf '  %-60s %s\n' "$name" "${result^^}  $detail"
      if [[ $result == pass ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done < <(node -e 'for (const r of require(process.argv[1]).results) console.log([r.result, r.name, r.detail.replace(/\s+/g, " ")].join("\t"))' "$work/private.json" 2>/dev/null || printf 'fail\taccept:private from %s\tno result (see above)\n' "$pfrom")
  done
  say "e2e: ${passed} passed, ${failed} failed, ${limited} not provable in a container (npm run test:vm proves them)"
  ((failed == 0 && passed > 0))
}

case $mode in
  down)
    trap cleanup EXIT
    say "stopping the kept containers"
    exit 0
    ;;
  again)
    kill -0 "$nspawn_pid" 2>/dev/null || { echo "the kept container is gone; npm run test:e2e -- --down, then run again" >&2; exit 1; }
    acceptance_round
    exit
    ;;
esac
trap cleanup EXIT
drop_cgroups # an earlier run's leftovers would share the addresses

say "prepare: the VM proof's stack config, secrets and user-data"
ssh-keygen -q -t ed25519 -N '' -C xiopro-e2e -f "$work/id"
XIOPRO_NODE_IMAGE=debian-12 "$tsx" "$vm/prepare.ts" "$work" "$work/id.pub" >/dev/null
"$tsx" "$repo/scripts/plan/cli.ts" --stack-file "$work/Pulumi.vm.yaml" --out "$work/plan" >/dev/null
user_data=$work/plan/tst-node-a.user-data.yaml
private_ip=$(node -p 'require(process.argv[1]).privateIp' "$work/deliveries.json")
packages=$(node -e 'const y=require(process.argv[1]); console.log(y.parse(require("fs").readFileSync(process.argv[2],"utf8")).packages.join(" "))' "$repo/node_modules/yaml" "$user_data")
receiver_ip=$(node -p 'require(process.argv[1]).receiver?.privateIp ?? ""' "$work/deliveries.json")

say "root filesystem with the node's packages installed (cached)"
rootfs=$(XIOPRO_VM_EXTRA_PACKAGES="$packages" "$here/rootfs.sh" | tail -n 1)

say "network: the VM proof's namespace, the container at 203.0.113.10 and $private_ip"
"$vm/net.sh" down >/dev/null 2>&1 || true
"$vm/net.sh" up >/dev/null
ip netns exec "$ns" ip addr add 203.0.113.50/24 dev br-pub
ip netns exec "$ns" ip addr add "$STRAY_IP/16" dev br-priv
# With --receiver the stack has a load balancer in front of Node C: its private address is the test
# host's too, and requests from it stand in for the balancer's (HTTP with X-Forwarded-For).
balancer_ip=$(node -p 'require(process.argv[1]).receiver?.balancedSite.balancerIp ?? ""' "$work/deliveries.json")
[[ -z $balancer_ip ]] || ip netns exec "$ns" ip addr add "$balancer_ip/16" dev br-priv
# container_net NETNS LINK_PREFIX PUBLIC_IPV4 PRIVATE_IPV4: a container namespace with a public NIC
# (eth0, NAT to the mirror through 203.0.113.1) and a private one (eth1), like a Hetzner node.
container_net() {
  local cn=$1 link=$2
  ip netns add "$cn"
  ip -n "$ns" link add "$link-pub" type veth peer name eth0 netns "$cn"
  ip -n "$ns" link add "$link-priv" type veth peer name eth1 netns "$cn"
  ip -n "$ns" link set "$link-pub" master br-pub up
  ip -n "$ns" link set "$link-priv" master br-priv up
  ip -n "$cn" link set lo up
  ip -n "$cn" addr add "$3/24" dev eth0
  ip -n "$cn" addr add "$4/16" dev eth1
  ip -n "$cn" link set eth0 up
  ip -n "$cn" link set eth1 up
  ip -n "$cn" route add default via 203.0.113.1
}
container_net "$cns" e2e 203.0.113.10 "$private_ip"
ip -n "$cns" addr add 2001:db8:100::10/64 dev eth0 nodad

if ((receiver)); then
  say "network: Node C (WAL receiver) at 203.0.113.11 and $receiver_ip"
  container_net "$rns" e2ec 203.0.113.11 "$receiver_ip"
fi

say "overlay and NoCloud seed"
# The containers' writable layers on a tmpfs of their own: overlayfs refuses an upper directory on
# another overlay, which is what /tmp is inside npm run test:fresh's container.
mkdir -p "$work/layers" "$work/merged" "$work/vol-pgdata" "$work/vol-artifacts"
mount -t tmpfs -o size=4g,mode=0755 xiopro-e2e-layers "$work/layers"
mkdir -p "$work/layers/upper" "$work/layers/ovl-work"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/layers/upper,workdir=$work/layers/ovl-work" "$work/merged"
seed=$work/merged/var/lib/cloud/seed/nocloud
mkdir -p "$seed"
cp "$user_data" "$seed/user-data"
printf 'instance-id: e2e-%s\nlocal-hostname: tst-node-a\n' "$t0" >"$seed/meta-data"
# The namespace already carries the addresses; cloud-init must not configure networking.
printf 'network: {config: disabled}\ndatasource_list: [ NoCloud, None ]\n' >"$work/merged/etc/cloud/cloud.cfg.d/99-e2e.cfg"

if ((receiver)); then
  mkdir -p "$work/layers/c-upper" "$work/layers/c-ovl-work" "$work/c-merged"
  mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/layers/c-upper,workdir=$work/layers/c-ovl-work" "$work/c-merged"
  mkdir -p "$work/c-merged/var/lib/cloud/seed/nocloud"
  cp "$work/plan/tst-node-c.user-data.yaml" "$work/c-merged/var/lib/cloud/seed/nocloud/user-data"
  printf 'instance-id: e2e-c-%s\nlocal-hostname: tst-node-c\n' "$t0" >"$work/c-merged/var/lib/cloud/seed/nocloud/meta-data"
  printf 'network: {config: disabled}\ndatasource_list: [ NoCloud, None ]\n' >"$work/c-merged/etc/cloud/cloud.cfg.d/99-e2e.cfg"
fi

say "boot the container$( ((receiver)) && echo "s (Node A and Node C)")"
ip netns exec "$cns" true
# --keep-unit --register=no: this machine's PID 1 is not systemd (no system bus, no machined).
in_own_cgroup "$machine" systemd-nspawn --quiet --boot --keep-unit --register=no --machine="$machine" --directory="$work/merged" \
  --network-namespace-path="/run/netns/$cns" --capability=CAP_NET_ADMIN,CAP_SYS_TIME \
  --bind="$work/vol-pgdata:/var/lib/postgresql" --bind="$work/vol-artifacts:/srv/agentd" \
  --console=read-only >"$work/console.log" 2>&1 &
nspawn_pid=$!
if ((receiver)); then
  in_own_cgroup "$machine-c" systemd-nspawn --quiet --boot --keep-unit --register=no --machine="$machine-c" --directory="$work/c-merged" \
    --network-namespace-path="/run/netns/$rns" --capability=CAP_NET_ADMIN --console=read-only >"$work/c-console.log" 2>&1 &
  receiver_pid=$!
fi
# wait_boot NAME PID CONSOLE SSH...: until cloud-init's boot-finished exists (5 min at most).
wait_boot() {
  local name=$1 pid=$2 console=$3
  shift 3
  for _ in $(seq 1 300); do
    "$@" test -e /var/lib/cloud/instance/boot-finished 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { say "$name: the container exited"; tail -n 40 "$console"; return 1; }
    sleep 1
  done
  "$@" test -e /var/lib/cloud/instance/boot-finished || { say "$name: cloud-init did not finish in 5 min"; tail -n 40 "$console"; return 1; }
  local status
  status=$("$@" cloud-init status --long 2>&1 || true)
  say "$name: cloud-init finished: $(head -n 1 <<<"$status")"
  # A failed first boot makes every later check noise: show why, from the node's own logs, and stop.
  if [[ $(head -n 1 <<<"$status") != "status: done" ]]; then
    printf '%s\n' "$status"
    "$@" sudo tail -n 40 /var/log/cloud-init-output.log || true
    "$@" sudo systemctl --failed --no-pager || true
    # shellcheck disable=SC2016 # expanded on the node
    "$@" 'for u in $(systemctl --failed --plain --no-legend | cut -d" " -f1); do sudo journalctl -b --no-pager -n 20 -u "$u"; done' || true
    "$@" 'sudo tail -n 20 /var/log/postgresql/*.log' || true
    return 1
  fi
}
wait_boot tst-node-a "$nspawn_pid" "$work/console.log" "${ssh_base[@]}"
((receiver == 0)) || wait_boot tst-node-c "$receiver_pid" "$work/c-console.log" "${ssh_c[@]}"

say "deliveries: credentials, operations bundle, first backup (the remote commands Pulumi runs)"
# Each node's credentials all at once, as Pulumi runs them.
deliver_credentials "$work/deliveries.json" deliveries "$work/credentials" "$work" -- "${ssh_base[@]}" || { say "delivering to tst-node-a failed"; exit 1; }
if ((receiver)); then
  # The receiver's password before anything on Node A writes: its commits wait for the receiver.
  mkdir -p "$work/c-deliveries"
  deliver_credentials "$work/deliveries.json" receiver.deliveries "$work/credentials" "$work/c-deliveries" -- "${ssh_c[@]}" || { say "delivering to tst-node-c failed"; exit 1; }
  for _ in $(seq 1 60); do "${ssh_c[@]}" systemctl is-active --quiet xiopro-walreceiver.service && break; sleep 1; done
  say "tst-node-c: xiopro-walreceiver $("${ssh_c[@]}" systemctl show -p ActiveState,SubState --value xiopro-walreceiver.service | paste -sd/)"
fi
"${ssh_base[@]}" "$(node -p 'require(process.argv[1]).ops' "$work/deliveries.json")" <"$work/ops.b64" >/dev/null
"${ssh_base[@]}" "$(node -p 'require(process.argv[1]).firstBackup' "$work/deliveries.json")" </dev/null >/dev/null

acceptance_round
