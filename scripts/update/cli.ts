// npm run update -- --stack <s> [--plan FILE] [--dry-run] [--force] [--json]
// A controlled update of a running stack (docs/runbooks/update.md).
import { update } from "./update.js";
import { formatTimings } from "../lib/timings.js";
import { parseFlags, UsageError } from "../lib/cli.js";
import { ADMIN_USER } from "../../infra/catalog/layout.js";

const USAGE = `Usage: npm run update -- --stack NAME [options]

Updates a running stack under control: preflight (config and secrets, the newest backups read
from the repository, the plan previewed and saved with pulumi preview --save-plan, or the one a
reviewed preview saved, with its cost and exposure against the deployed stack), a fresh full
backup when a change reaches the database node, pulumi up --plan of exactly that plan, then
npm run accept. Prints each step as it runs and the seconds of each at the end. Exit 0 only when
every step passed; after a failure the report says what the plan was changing and which backup
stands ready to restore.

Options:
  --stack NAME          the stack to update
  --stack-file FILE     the checks read FILE instead of Pulumi.NAME.yaml
  --plan FILE           apply this saved plan (pulumi preview --save-plan) instead of previewing now
  --dry-run             run the preflight and print the steps, change nothing
  --force               go on although preflight checks failed (never without a readable plan)
  --secrets-file FILE   JSON {key: value} of the stack's secrets (default: pulumi config --show-secrets)
  --ssh-user USER       admin user (default ${ADMIN_USER})
  --ssh-key FILE        private key for the admin user
  --json                the report as JSON on stdout (progress stays on stderr)
  -h, --help

Examples:
  npm run update -- --stack prd --dry-run
  npm run update -- --stack prd --plan plan-prd.json`;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      plan: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      "secrets-file": { type: "string" },
      "ssh-user": { type: "string", default: ADMIN_USER },
      "ssh-key": { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  if (!v.stack) return (console.error(`--stack is required\n\n${USAGE}`), 2);
  const report = await update({
    stack: v.stack,
    stackFile: v["stack-file"],
    planFile: v.plan,
    dryRun: v["dry-run"]!,
    force: v.force!,
    secretsFile: v["secrets-file"],
    sshUser: v["ssh-user"]!,
    sshKey: v["ssh-key"],
    progress: (line) => console.error(line),
    env: process.env,
  });
  if (v.json) console.log(JSON.stringify(report, null, 2));
  else if (report.dryRun && report.ok) {
    console.log(`Dry run of the update of ${report.stack}: the steps:`);
    for (const [i, s] of report.steps.entries())
      console.log(`  ${i + 1}. ${s.title}\n       ${s.status === "skipped" ? `skipped: ${s.detail}` : s.detail}`);
  } else {
    console.log(formatTimings(report.stack, report.steps).replace(/RTO /, ""));
    for (const line of report.advice) console.log(`  ${line}`);
  }
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof UsageError ? e.message : `update failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
