// npm run rebuild -- --stack <s> [--target-time T] [--location L] [--dry-run] [--force] [--json]
// Disaster recovery from nothing (docs/runbooks/rebuild.md).
import { catalog } from "../../infra/catalog/index.js";
import { rebuild } from "./rebuild.js";
import { formatTimings } from "../lib/timings.js";
import { parseFlags, UsageError } from "../lib/cli.js";
import { ADMIN_USER } from "../../infra/catalog/layout.js";

const USAGE = `Usage: npm run rebuild -- --stack NAME [options]

Rebuilds a stack whose servers are lost, from nothing: preflight (config and secrets, the newest
backups read from each repository, no server of that name left), stale tailnet devices of the
old nodes removed, pulumi up, cloud-init, xiopro-restore on the node (PostgreSQL from pgBackRest,
newest state or a point in time, then files from restic), npm run accept. Prints each step as it
runs and a timing breakdown at the end (the RTO). Exit 0 only when every step passed.

With two repositories (backup.offsite) the preflight restores from the newest usable one with fresh
backups, says why, and passes it to xiopro-restore as --repo N; one usable repository is enough
(the other's trouble is a WARN line).

Options:
  --stack NAME          the stack to rebuild (pulumi up --stack NAME)
  --stack-file FILE     read the config from FILE instead of Pulumi.NAME.yaml
  --target-time T       point-in-time restore to T ('YYYY-MM-DD HH:MM:SS+00'); default: newest state
  --location L          rebuild in another Hetzner location (pulumi up --config location=L)
  --dry-run             run the preflight and print the steps, change nothing
  --force               go on although preflight checks failed (stale backups, servers still present,
                        no way to check); they are reported as forced
  --secrets-file FILE   JSON {key: value} of the stack's secrets (default: pulumi config --show-secrets)
  --ssh-user USER       admin user (default ${ADMIN_USER})
  --ssh-key FILE        private key for the admin user
  --target HOST[:PORT]  SSH endpoint of the PostgreSQL node (default: tailnet name, or public IPv4)
  --json                the report as JSON on stdout (progress stays on stderr)
  -h, --help

Environment: HCLOUD_TOKEN (or hcloud:token in the stack config) for the target check;
TAILSCALE_API_KEY (and TAILSCALE_TAILNET, default "-") to remove the old tailnet devices.

Examples:
  npm run rebuild -- --stack prd --dry-run
  npm run rebuild -- --stack prd
  npm run rebuild -- --stack prd --target-time '2026-11-22 14:30:00+00' --location nbg1 --json`;

const TARGET_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:?\d\d)?$/;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      "target-time": { type: "string" },
      location: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      "secrets-file": { type: "string" },
      "ssh-user": { type: "string", default: ADMIN_USER },
      "ssh-key": { type: "string" },
      target: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  if (!v.stack) return (console.error(`--stack is required\n\n${USAGE}`), 2);
  const tt = v["target-time"];
  const at =
    tt === undefined
      ? undefined
      : Date.parse(
          tt.replace(" ", "T").replace(/([+-]\d\d):?(\d\d)?$/, (_, h: string, m?: string) => `${h}:${m ?? "00"}`),
        );
  if (tt !== undefined && (!TARGET_TIME.test(tt) || Number.isNaN(at)))
    return (
      console.error(`--target-time ${JSON.stringify(tt)} is not 'YYYY-MM-DD HH:MM:SS+00' (a time with its UTC offset)`),
      2
    );
  if (at !== undefined && at > Date.now())
    return (console.error(`--target-time ${JSON.stringify(tt)} is in the future`), 2);
  if (v.location !== undefined && !catalog.locations[v.location])
    return (
      console.error(
        `--location ${JSON.stringify(v.location)} is not a Hetzner location: use one of ${Object.keys(catalog.locations).join(", ")}`,
      ),
      2
    );

  const report = await rebuild({
    stack: v.stack,
    stackFile: v["stack-file"],
    targetTime: tt,
    location: v.location,
    dryRun: v["dry-run"]!,
    force: v.force!,
    secretsFile: v["secrets-file"],
    sshUser: v["ssh-user"]!,
    sshKey: v["ssh-key"],
    target: v.target,
    progress: (line) => console.error(line),
    env: process.env,
  });
  if (v.json) console.log(JSON.stringify(report, null, 2));
  else if (report.dryRun) {
    console.log(
      `Dry run of the rebuild of ${report.stack}: preflight ${report.preflight.every((c) => c.ok) ? "passed" : report.forced ? "failed (forced)" : "failed"}; the steps:`,
    );
    for (const [i, s] of report.steps.entries())
      console.log(`  ${i + 1}. ${s.title}\n       ${s.status === "skipped" ? `skipped: ${s.detail}` : s.detail}`);
  } else console.log(formatTimings(report.stack, report.steps));
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(
      e instanceof UsageError ? e.message : `rebuild failed: ${e instanceof Error ? e.message : String(e)}`,
    );
    process.exit(1);
  },
);
