// npm run state -- backup|restore|check --stack <s> [--snapshot ID] [--force] [--secrets-file F]
// The stack's Pulumi state beside its backups (docs/runbooks/rebuild.md, "The Pulumi state").
import { loadStack, stackSecrets } from "../lib/stack.js";
import { parseFlags, UsageError } from "../lib/cli.js";
import { backupState, exportState, newestStateBackup, restoreState, stateBackupVerdict } from "../lib/state.js";

const USAGE = `Usage: npm run state -- backup|check|restore --stack NAME [options]

  backup    pulumi stack export of the stack into its restic repository (tags pulumi-state and
            stack:NAME); secret values stay encrypted with the stack's passphrase. Run after every
            pulumi up (the deploy workflow does).
  check     the state is present and its newest backup was taken after its last update.
  restore   the newest state snapshot (or --snapshot ID) back into the logged-in backend with
            pulumi stack import; refuses to replace a state that still lists resources unless --force.

Options:
  --stack NAME          the stack
  --stack-file FILE     read the config from FILE instead of Pulumi.NAME.yaml
  --secrets-file FILE   JSON {key: value} of the stack's secrets (default: pulumi config --show-secrets)
  --snapshot ID         restore: this snapshot instead of the newest
  --force               restore: replace a state that still lists resources
  -h, --help`;

async function main(): Promise<number> {
  const [action, ...rest] = process.argv.slice(2);
  if (action === "-h" || action === "--help") return (console.log(USAGE), 0);
  if (!["backup", "check", "restore"].includes(action ?? ""))
    return (console.error(`the first argument is backup, check or restore\n\n${USAGE}`), 2);
  const v = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      "secrets-file": { type: "string" },
      snapshot: { type: "string" },
      force: { type: "boolean", default: false },
    },
    USAGE,
    rest,
  );
  if (typeof v === "number") return v;
  if (!v.stack) return (console.error(`--stack is required\n\n${USAGE}`), 2);
  const { plan } = loadStack({ stack: v.stack, stackFile: v["stack-file"] });
  const secrets = await stackSecrets(v.stack, v["secrets-file"]);

  if (action === "backup") {
    const r = await backupState(plan, secrets, v.stack);
    if ("problem" in r) return (console.error(`state backup failed: ${r.problem}`), 1);
    console.log(
      `state of ${v.stack} (${r.summary.resources} resources, ${r.summary.bytes} bytes, updated ${new Date(r.summary.updatedAt * 1000).toISOString()}) stored as snapshot ${r.snapshot}`,
    );
    return 0;
  }
  if (action === "restore") {
    const r = await restoreState(plan, secrets, v.stack, { snapshot: v.snapshot, force: v.force });
    if ("problem" in r) return (console.error(`state restore failed: ${r.problem}`), 1);
    console.log(
      `state of ${v.stack} restored from snapshot ${r.snapshot}: ${r.summary.resources} resources, updated ${new Date(r.summary.updatedAt * 1000).toISOString()}`,
    );
    return 0;
  }
  const state = await exportState(v.stack);
  if (!state.ok) return (console.error(`state check failed: ${state.why}`), 1);
  const backup = await newestStateBackup(plan, secrets, v.stack);
  if ("problem" in backup) return (console.error(`state check failed: ${backup.problem}`), 1);
  const verdict = stateBackupVerdict(state.summary, backup.newest);
  console.log(`${verdict.ok ? "ok" : "FAIL"}: ${verdict.message}`);
  return verdict.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof UsageError ? e.message : `state failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
