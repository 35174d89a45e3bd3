// Test-only stand-ins for the operator machine's tools: fake `pulumi`, `ssh` and `npm` executables in
// a shim directory put first on PATH (bash builtins only, so PATH can hold nothing else), fake
// `pgbackrest` and `restic` in a directory of their own (a test adds it to PATH), and a local HTTP
// server for the Hetzner and Tailscale APIs. Every invocation and request is logged in order.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { run, type RunResult } from "./run.js";
import { ROOT } from "./helpers.js";

const SHIMS: Record<string, string> = {
  pulumi: `#!/bin/bash
printf '%s pulumi %s\\n' "$EPOCHREALTIME" "$*" >>"$SHIM_LOG"
case "$1 $2" in
  "config --show-secrets") printf '%s\\n' "$(<"$FAKE_DIR/pulumi-config.json")" ;;
  "stack output") [[ -f $FAKE_DIR/pulumi-outputs.json ]] && printf '%s\\n' "$(<"$FAKE_DIR/pulumi-outputs.json")" || echo '{}' ;;
  "stack init")
    # pulumi stack init NAME --copy-config-from SRC writes Pulumi.NAME.yaml (secrets re-encrypted).
    [[ -f Pulumi.$3.yaml ]] && { echo "error: stack '$3' already exists" >&2; exit 255; }
    [[ $4 == --copy-config-from ]] && printf '%s\n' "$(<"Pulumi.$5.yaml")" >"Pulumi.$3.yaml" ;;
  "stack rm") rm -f "Pulumi.$4.yaml" ;;
  "stack export") [[ -f $FAKE_DIR/pulumi-state.json ]] || { echo "error: no stack named '$4' found" >&2; exit 255; }
    printf '%s\n' "$(<"$FAKE_DIR/pulumi-state.json")" ;;
  "stack import") printf '%s\n' "$(<"$6")" >"$FAKE_DIR/pulumi-state.json" ;;
  "stack select") ;;
  "config set") read -r _ || true ;;
  preview*)
    # pulumi preview --save-plan FILE --json: the plan file and the JSON the test wrote.
    for ((i = 1; i <= $#; i++)); do [[ \${!i} == --save-plan ]] && { j=$((i + 1)); printf '%s\\n' "$(<"$FAKE_DIR/pulumi-plan.json")" >"\${!j}"; }; done
    printf '%s\\n' "$(<"$FAKE_DIR/pulumi-preview.json")"; exit "\${FAKE_PREVIEW_EXIT:-0}" ;;
  up*) : >"$FAKE_DIR/up-done"; echo "Updating ($*)"; echo "Resources: 23 created"; [[ -z \${FAKE_UP_STDERR:-} ]] || echo "$FAKE_UP_STDERR" >&2; exit "\${FAKE_UP_EXIT:-0}" ;;
  destroy*) echo "Destroying ($*)"; echo "Resources: 23 deleted"; [[ \${FAKE_DESTROY_EXIT:-0} == 0 ]] || echo "error: deleting server: conflict" >&2; exit "\${FAKE_DESTROY_EXIT:-0}" ;;
  *) echo "fake pulumi: unexpected $*" >&2; exit 64 ;;
esac
`,
  ssh: `#!/bin/bash
cmd=\${!#}
host=\${@: -2:1}
printf '%s ssh %s %s\\n' "$EPOCHREALTIME" "$host" "$cmd" >>"$SHIM_LOG"
# FAKE_SSH_DOWN_HOST: a node that is gone until \`pulumi up\` (re)creates it.
[[ $host != *"\${FAKE_SSH_DOWN_HOST:-no-such-host}" || -e $FAKE_DIR/up-done ]] || { echo "ssh: connect to host $host port 22: No route to host" >&2; exit 255; }
case $cmd in
  *"systemctl stop xiopro-walreceiver.service"*)
    # A WAL receiver's copy (base64 tar.gz).
    printf '%s' "\${FAKE_RECEIVED_WAL:-H4sIAAAAAAAAA+3BAQ0AAADCoPdPbQ43oAAAAAAAAAAAAIA3A5reHScAKAAA}" ;;
  *restore-result.json*)
    printf '{"target": "latest", "backupSet": "20261122-013000F", "result": "%s"}\\n' "$([[ \${FAKE_RESTORE_EXIT:-0} == 0 ]] && echo pass || echo fail)" ;;
  *restore-drill-result.json*)
    printf '{"drillDate": "2026-11-22T23:00:00Z", "backupId": "20261122-013000F", "result": "%s"}\\n' "$([[ \${FAKE_DRILL_EXIT:-0} == 0 ]] && echo pass || echo fail)" ;;
  *"systemctl start xiopro-pgbackrest@full.service"*)
    [[ \${FAKE_BACKUP_EXIT:-0} == 0 ]] || { echo "Job for xiopro-pgbackrest@full.service failed" >&2; exit 1; }
    printf '{"job": "pgbackrest-full", "finished": 1800000000, "durationSeconds": 42, "result": "success"}\\n' ;;
  *xiopro-restore-drill*)
    [[ \${FAKE_DRILL_EXIT:-0} == 0 ]] || echo "Job for xiopro-restore-drill.service failed" >&2
    exit "\${FAKE_DRILL_EXIT:-0}" ;;
  *xiopro-restore*)
    printf 'rows public.orders                                5200\\nstep repository      0.210 s\\nstep restore         1.500 s\\nstep start           2.250 s\\nrestore pass: backup set 20261122-013000F, target latest, 4.100 s\\n'
    [[ \${FAKE_RESTORE_EXIT:-0} == 0 ]] || echo "ERROR: restore failed: the pgBackRest repository is not usable" >&2
    exit "\${FAKE_RESTORE_EXIT:-0}" ;;
  *"base64 -d | tar -xzf - -C /var/lib/xiopro/received-wal"*)
    # The WAL receiver's copy arriving on the rebuilt node: kept for the test to compare.
    IFS= read -r -d '' data || true
    printf '%s' "$data" >"$FAKE_DIR/uploaded-wal" ;;
esac
exit 0
`,
  npm: `#!/bin/bash
printf '%s npm %s\\n' "$EPOCHREALTIME" "$*" >>"$SHIM_LOG"
echo "acceptance: 61 checks, all required passed"
exit "\${FAKE_ACCEPT_EXIT:-0}"
`,
};

/**
 * The rebuild preflight's reads, answered per repository from files the test writes (Fakes.backup).
 * pgbackrest asks, like the real one, for the cipher pass and S3 keys of every repository its config
 * names, from the environment; both log their arguments without paths or secrets.
 */
const BACKUP_SHIMS: Record<string, string> = {
  pgbackrest: `#!/bin/bash
[[ $1 == version ]] && { echo "pgBackRest 2.45"; exit 0; }
repo=1 conf=/dev/null logged=()
for a in "$@"; do
  case $a in
    --repo=*) repo=\${a#--repo=} ;;
    --config=*) conf=\${a#--config=} ;;
  esac
  case $a in --config=* | --config-include-path=* | --lock-path=* | --log-level-*) ;; *) logged+=("$a") ;; esac
done
printf '%s pgbackrest %s\\n' "$EPOCHREALTIME" "\${logged[*]}" >>"$SHIM_LOG"
while IFS= read -r line; do
  [[ $line =~ ^repo([0-9]+)-type=(.*)$ ]] || continue
  n=\${BASH_REMATCH[1]}
  need=(PGBACKREST_REPO\${n}_CIPHER_PASS)
  [[ \${BASH_REMATCH[2]} != s3 ]] || need+=(PGBACKREST_REPO\${n}_S3_KEY PGBACKREST_REPO\${n}_S3_KEY_SECRET)
  for v in "\${need[@]}"; do
    [[ -n \${!v:-} ]] || { o=\${v#PGBACKREST_}; o=\${o,,}; echo "ERROR: [037]: info command requires option: \${o//_/-}" >&2; exit 37; }
  done
done <"$conf"
answer=$FAKE_DIR/pgbackrest-repo$repo
[[ -f $answer.json ]] && { printf '%s\\n' "$(<"$answer.json")"; exit 0; }
[[ -f $answer.err ]] && { printf '%s\\n' "$(<"$answer.err")" >&2; exit 1; }
echo "ERROR: [103]: fake pgbackrest has no answer for repository $repo" >&2
exit 103
`,
  restic: `#!/bin/bash
[[ $1 == version ]] && { echo "restic 0.16.4 compiled with go1.22.2 on linux/amd64"; exit 0; }
args=() tag=
while (($# > 0)); do
  case $1 in
    -o) shift 2 ;;
    --tag) tag=\${2%%,*}; args+=("$1" "$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
printf '%s restic %s @%s\\n' "$EPOCHREALTIME" "\${args[*]}" "$RESTIC_REPOSITORY" >>"$SHIM_LOG"
[[ -n \${RESTIC_PASSWORD:-} ]] || { echo "Fatal: Please specify repository password" >&2; exit 1; }
[[ $RESTIC_REPOSITORY != s3:* || -n \${AWS_ACCESS_KEY_ID:-} ]] || { echo "Fatal: unable to open config file: Stat: Access Denied." >&2; exit 1; }
answer=$FAKE_DIR/restic-\${RESTIC_REPOSITORY//[^A-Za-z0-9]/_}
[[ -f $answer.err ]] && { printf '%s\\n' "$(<"$answer.err")" >&2; exit 1; }
[[ -f $answer-$tag.json ]] && { printf '%s\\n' "$(<"$answer-$tag.json")"; exit 0; }
echo "[]"
`,
};

export interface Fakes {
  dir: string;
  /** PATH with the shims first; `extra` directories after (real tools a test wants). */
  path(extra?: string[]): string;
  /** Shim invocations and API requests, in order, without the timestamps. */
  log(): string[];
  /** Fake pgbackrest and restic: on PATH with `f.path([f.backup.bin])`. */
  backup: {
    bin: string;
    /** What `pgbackrest --repo=N info --output=json` prints, or the ERROR line it fails with. */
    pgbackrest(repo: number, answer: unknown[] | string): void;
    /** restic's snapshots of the repository at `url` by tag (files, pulumi-state), or the Fatal line it fails with. */
    restic(url: string, answer: Record<string, unknown[]> | string): void;
  };
  http: {
    url: string;
    requests: string[];
    servers: { name: string; status: string }[];
    /** GET /v1/server_types, in the API's shape (default: test/fixtures/hetzner-server-types.json). */
    serverTypes: unknown[];
    devices: { id: string; name: string; hostname: string; created?: string; lastSeen?: string }[];
    /** GET /v1/images?type=snapshot&label_selector=k=v: the snapshots, filtered by that one label. */
    snapshots: { id: number; created: string; status: string; labels: Record<string, string> }[];
  };
  close(): Promise<void>;
}

export async function makeFakes(): Promise<Fakes> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-fakes-"));
  fs.mkdirSync(path.join(dir, "bin"));
  for (const [name, text] of Object.entries(SHIMS))
    fs.writeFileSync(path.join(dir, "bin", name), text, { mode: 0o755 });
  fs.mkdirSync(path.join(dir, "backup-bin"));
  for (const [name, text] of Object.entries(BACKUP_SHIMS))
    fs.writeFileSync(path.join(dir, "backup-bin", name), text, { mode: 0o755 });
  /** Writes a fake's answers (file name → text), replacing every earlier one of the same prefix. */
  const answer = (prefix: string, files: Record<string, string>) => {
    for (const f of fs.readdirSync(dir))
      if (f.startsWith(`${prefix}.`) || f.startsWith(`${prefix}-`)) fs.rmSync(path.join(dir, f));
    for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, `${prefix}${file}`), text);
  };
  const backup: Fakes["backup"] = {
    bin: path.join(dir, "backup-bin"),
    pgbackrest: (repo, a) =>
      answer(`pgbackrest-repo${repo}`, typeof a === "string" ? { ".err": a } : { ".json": JSON.stringify(a) }),
    restic: (url, a) =>
      answer(
        `restic-${url.replace(/[^A-Za-z0-9]/g, "_")}`,
        typeof a === "string"
          ? { ".err": a }
          : Object.fromEntries(Object.entries(a).map(([tag, snaps]) => [`-${tag}.json`, JSON.stringify(snaps)])),
      ),
  };
  fs.writeFileSync(path.join(dir, "pulumi-config.json"), "{}");
  // The stack's state as `pulumi stack export` prints it: updated two hours ago.
  fs.writeFileSync(
    path.join(dir, "pulumi-state.json"),
    JSON.stringify({
      version: 3,
      deployment: {
        manifest: { time: new Date(Date.now() - 7200_000).toISOString() },
        resources: Array.from({ length: 23 }, (_, i) => ({ urn: `urn:pulumi:prd::xiopro-infra::r${i}` })),
      },
    }),
  );
  const logFile = path.join(dir, "shim.log");
  fs.writeFileSync(logFile, "");
  const serverTypes = (
    JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/hetzner-server-types.json"), "utf8")) as {
      server_types: unknown[];
    }
  ).server_types;
  const state: Fakes["http"] = { url: "", requests: [], servers: [], serverTypes, devices: [], snapshots: [] };
  const stamp = () => ((performance.timeOrigin + performance.now()) / 1000).toFixed(6);
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? "";
    fs.appendFileSync(
      logFile,
      `${stamp()} http ${req.method} ${req.url} ${auth.startsWith("Bearer ") ? "bearer" : "no-auth"}\n`,
    );
    state.requests.push(`${req.method} ${req.url}`);
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (!auth.startsWith("Bearer ")) return json(401, { error: "unauthorized" });
    const u = new URL(req.url!, "http://x");
    if (req.method === "GET" && u.pathname === "/v1/servers")
      return json(200, { servers: state.servers.filter((s) => s.name === u.searchParams.get("name")) });
    if (req.method === "GET" && u.pathname === "/v1/images") {
      const [k, v] = (u.searchParams.get("label_selector") ?? "").split("=");
      return json(200, {
        images: state.snapshots.filter((i) => i.labels[k!] === v),
        meta: { pagination: { next_page: null } },
      });
    }
    if (req.method === "GET" && u.pathname === "/v1/server_types")
      return json(200, { server_types: state.serverTypes, meta: { pagination: { page: 1, next_page: null } } });
    if (req.method === "GET" && /^\/api\/v2\/tailnet\/[^/]+\/devices$/.test(u.pathname))
      return json(200, { devices: state.devices });
    const del = /^\/api\/v2\/device\/([^/]+)$/.exec(u.pathname);
    if (req.method === "DELETE" && del) {
      state.devices = state.devices.filter((d) => d.id !== del[1]);
      return json(200, {});
    }
    return json(404, { error: `no fake for ${req.method} ${u.pathname}` });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    dir,
    path: (extra = []) => [path.join(dir, "bin"), ...extra].join(":"),
    log: () =>
      fs
        .readFileSync(logFile, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => [Number(l.slice(0, l.indexOf(" "))), l.slice(l.indexOf(" ") + 1)] as const)
        .sort((a, b) => a[0] - b[0])
        .map(([, l]) => l),
    backup,
    http: state,
    close: () => new Promise<void>((r) => server.close(() => (fs.rmSync(dir, { recursive: true, force: true }), r()))),
  };
}

const TSX = path.join(ROOT, "node_modules/tsx/dist/cli.mjs");

/** Runs a repo CLI (scripts/…/cli.ts) under tsx with exactly the given environment. */
export function runCli(script: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return run(process.execPath, [TSX, path.join(ROOT, script), ...args], {
    env: { HOME: os.tmpdir(), ...env },
    cwd: ROOT,
    timeoutMs: 120_000,
  });
}
