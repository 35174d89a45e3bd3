// npm run drill -- --stack <s> [--target host[:port]] [--ssh-key K] [--json]
// Runs the node's restore drill now (the same unit its weekly timer starts) and prints the result.
import { parseArgs } from "node:util";
import { AcceptUsageError, splitHostPort } from "../accept/accept";
import { ssh } from "../accept/ssh";

const USAGE = `Usage: npm run drill -- --target HOST[:PORT] [--ssh-user ops] [--ssh-key FILE] [--json]

Starts xiopro-restore-drill.service on the node over the admin path (it restores the newest
backup into a scratch cluster, verifies it and removes it) and prints the recorded result
(seed 000 §10.8 fields). Exit 0 only when the drill passed.

Examples:
  npm run drill -- --target tst-node-a
  npm run drill -- --target 203.0.113.10 --ssh-key ~/.ssh/xiopro --json`;

async function main(): Promise<number> {
  let v;
  try {
    v = parseArgs({ options: { target: { type: "string" }, "ssh-user": { type: "string", default: "ops" }, "ssh-key": { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } }, strict: true, allowPositionals: false }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (v.help) return console.log(USAGE), 0;
  if (!v.target) return console.error(`--target is required\n\n${USAGE}`), 2;
  const [host, port] = splitHostPort(v.target);
  const t = { host, port, user: v["ssh-user"]!, key: v["ssh-key"] };
  const t0 = Date.now();
  const run = await ssh(t, "sudo systemctl start xiopro-restore-drill.service", undefined, 2 * 3600_000);
  const result = await ssh(t, "sudo cat /var/lib/xiopro/state/restore-drill-result.json");
  const seconds = (Date.now() - t0) / 1000;
  if (result.code !== 0) {
    console.error(`no drill result on ${host}: ${result.stderr || "missing"}; unit said: ${run.stderr}`);
    return 1;
  }
  const r = JSON.parse(result.stdout) as Record<string, unknown>;
  if (v.json) console.log(JSON.stringify({ ...r, wallSeconds: seconds }, null, 2));
  else for (const [k, x] of Object.entries(r)) console.log(`${k.padEnd(24)} ${typeof x === "string" ? x : JSON.stringify(x)}`);
  return run.code === 0 && r.result === "pass" ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof AcceptUsageError ? e.message : `drill failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
