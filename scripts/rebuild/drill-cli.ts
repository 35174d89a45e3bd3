// npm run drill -- --target host[:port] [--ssh-key K] [--json]
// npm run drill -- --stack <s> --fresh-vm [--ssh-key K] [--json]
// Runs the node's restore drill now (the same unit its weekly timer starts), or the restore on a
// throwaway server of its own stack, and prints the result.
import { ssh } from "../lib/ssh.js";
import { formatTimings, freshVmDrill } from "./fresh-vm.js";
import { parseFlags, REPO_ROOT, splitHostPort, UsageError } from "../lib/cli.js";
import { ADMIN_USER, stateFile } from "../../infra/catalog/layout.js";

const USAGE = `Usage: npm run drill -- --target HOST[:PORT] [--ssh-user ${ADMIN_USER}] [--ssh-key FILE] [--json]
       npm run drill -- --stack NAME --fresh-vm [--ssh-user ${ADMIN_USER}] [--ssh-key FILE] [--json]

--target: starts xiopro-restore-drill.service on the node over the admin path (it restores the
newest backup into a scratch cluster, verifies it and removes it) and prints the recorded result
(docs/architecture.md, seed 000 §10.8 fields).

--stack NAME --fresh-vm: the drill on a throwaway server. Creates stack NAME-drill from NAME's
config (dev names, its own DNS zone, nothing protected, only the PostgreSQL node) in a separate
Hetzner project, runs pulumi up, restores NAME's newest backup there with xiopro-restore (files
too; the copy never archives into NAME's repository), prints the timings and the result, and
always destroys the stack afterwards (a failed destroy is reported and fails the run).
Needs XIOPRO_DRILL_HCLOUD_TOKEN (the drill project's API token) and, with the tailscale admin
path, XIOPRO_DRILL_TAILSCALE_AUTH_KEY (a fresh single-use auth key); TAILSCALE_API_KEY removes
the drill server's tailnet device afterwards.

Exit 0 only when the drill passed (and, with --fresh-vm, the stack was destroyed).

Examples:
  npm run drill -- --target tst-node-a
  npm run drill -- --target 203.0.113.10 --ssh-key ~/.ssh/xiopro --json
  npm run drill -- --stack prd --fresh-vm`;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      target: { type: "string" },
      stack: { type: "string" },
      "fresh-vm": { type: "boolean", default: false },
      "ssh-user": { type: "string", default: ADMIN_USER },
      "ssh-key": { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  if (v["fresh-vm"]) {
    if (!v.stack || v.target)
      return (console.error(`--fresh-vm needs --stack (and no --target: the server is created)\n\n${USAGE}`), 2);
    const report = await freshVmDrill({
      stack: v.stack,
      projectDir: REPO_ROOT,
      sshUser: v["ssh-user"]!,
      sshKey: v["ssh-key"],
      env: process.env,
      progress: (l) => console.error(l),
    });
    if (v.json) console.log(JSON.stringify(report, null, 2));
    else {
      if (report.restore)
        for (const [k, x] of Object.entries(report.restore))
          console.log(`${k.padEnd(24)} ${typeof x === "string" ? x : JSON.stringify(x)}`);
      console.log(formatTimings(report.drillStack, report.steps));
    }
    return report.ok && report.destroyed ? 0 : 1;
  }
  if (v.stack) return (console.error(`--stack is for --fresh-vm; the drill on a node takes --target\n\n${USAGE}`), 2);
  if (!v.target) return (console.error(`--target is required\n\n${USAGE}`), 2);
  const [host, port] = splitHostPort(v.target);
  const t = { host, port, user: v["ssh-user"]!, key: v["ssh-key"] };
  const t0 = Date.now();
  const run = await ssh(t, "sudo systemctl start xiopro-restore-drill.service", undefined, 2 * 3600_000);
  const result = await ssh(t, `sudo cat ${stateFile("restore-drill-result.json")}`);
  const seconds = (Date.now() - t0) / 1000;
  if (result.code !== 0) {
    console.error(`no drill result on ${host}: ${result.stderr || "missing"}; unit said: ${run.stderr}`);
    return 1;
  }
  const r = JSON.parse(result.stdout) as Record<string, unknown>;
  if (v.json) console.log(JSON.stringify({ ...r, wallSeconds: seconds }, null, 2));
  else
    for (const [k, x] of Object.entries(r))
      console.log(`${k.padEnd(24)} ${typeof x === "string" ? x : JSON.stringify(x)}`);
  return run.code === 0 && r.result === "pass" ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof UsageError ? e.message : `drill failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
