// npm run state -- backup|restore|check --stack <s> [--snapshot ID] [--repo N] [--force] [--secrets-file F]
// The stack's Pulumi state beside its backups (docs/runbooks/rebuild.md, "The Pulumi state").
import { loadStack, stackSecrets } from "../lib/stack.js";
import { parseFlags, UsageError } from "../lib/cli.js";
import { repositoryName } from "../lib/repository.js";
import { backupState, exportState, newestStateBackups, restoreState, stateBackupVerdicts } from "../lib/state.js";

const USAGE = `Usage: npm run state -- backup|check|restore --stack NAME [options]

  backup    pulumi stack export of the stack into the restic repository of each of its backup
            repositories (1 at Hetzner, 2 off-site when backup.offsite is set; tags pulumi-state
            and stack:NAME); secret values stay encrypted with the stack's passphrase. Run after
            every pulumi up (the deploy workflow does). Fails when any repository failed.
  check     the state is present and, in every repository, its newest backup was taken after its
            last update (one line per repository).
  restore   the newest state snapshot of all repositories (or --snapshot ID, from the first
            repository that has it; --repo N reads repository N alone) back into the logged-in
            backend with pulumi stack import; refuses to replace a state that still lists
            resources unless --force.

Options:
  --stack NAME          the stack
  --stack-file FILE     read the config from FILE instead of Pulumi.NAME.yaml
  --secrets-file FILE   JSON {key: value} of the stack's secrets (default: pulumi config --show-secrets)
  --snapshot ID         restore: this snapshot instead of the newest
  --repo N              restore: from repository N only (1 at Hetzner, 2 off-site)
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
      repo: { type: "string" },
      force: { type: "boolean", default: false },
    },
    USAGE,
    rest,
  );
  if (typeof v === "number") return v;
  if (!v.stack) return (console.error(`--stack is required\n\n${USAGE}`), 2);
  if (v.repo !== undefined && action !== "restore")
    return (console.error(`--repo is for restore: ${action} uses every repository\n\n${USAGE}`), 2);
  if (v.repo !== undefined && !/^[1-9]$/.test(v.repo))
    return (
      console.error(`--repo ${JSON.stringify(v.repo)} is not a repository number: use 1 (Hetzner) or 2 (off-site)`),
      2
    );
  const { plan } = loadStack({ stack: v.stack, stackFile: v["stack-file"] });
  const secrets = await stackSecrets(v.stack, v["secrets-file"]);

  if (action === "backup") {
    const r = await backupState(plan, secrets, v.stack);
    if ("problem" in r) return (console.error(`state backup failed: ${r.problem}`), 1);
    const what = `state of ${v.stack} (${r.summary.resources} resources, ${r.summary.bytes} bytes, updated ${new Date(r.summary.updatedAt * 1000).toISOString()})`;
    for (const s of r.stored)
      if (s.snapshot) console.log(`${what} into ${repositoryName(s.repo)}: stored as snapshot ${s.snapshot}`);
      else console.error(`state backup failed in ${repositoryName(s.repo)}: ${s.problem}`);
    return r.stored.every((s) => s.snapshot) ? 0 : 1;
  }
  if (action === "restore") {
    const r = await restoreState(plan, secrets, v.stack, {
      snapshot: v.snapshot,
      repo: v.repo === undefined ? undefined : Number(v.repo),
      force: v.force,
    });
    if ("problem" in r) return (console.error(`state restore failed: ${r.problem}`), 1);
    console.log(
      `state of ${v.stack} restored from snapshot ${r.snapshot} of ${repositoryName(r.repo)}: ${r.summary.resources} resources, updated ${new Date(r.summary.updatedAt * 1000).toISOString()}`,
    );
    return 0;
  }
  const state = await exportState(v.stack);
  if (!state.ok) return (console.error(`state check failed: ${state.why}`), 1);
  const backups = await newestStateBackups(plan, secrets, v.stack);
  if ("problem" in backups) return (console.error(`state check failed: ${backups.problem}`), 1);
  // Every repository: the copy off-site is the one that outlives the Hetzner account.
  const verdicts = stateBackupVerdicts(state.summary, backups);
  for (const v of verdicts) console.log(`${v.ok ? "ok" : "FAIL"}: ${v.message}`);
  return verdicts.every((v) => v.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof UsageError ? e.message : `state failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
