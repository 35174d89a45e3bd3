// A stack's Pulumi state kept beside its backups (docs/runbooks/rebuild.md, "The Pulumi state"):
// `pulumi stack export` into the restic repository of every backup repository of the stack (the
// off-site one keeps it when the Hetzner account is lost), and back with `pulumi stack import`.
// An export keeps secret values encrypted with the stack's secrets provider, so the snapshot holds
// no plaintext secret and restic encrypts it once more.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execa, type Result } from "execa";
import type { Plan } from "../../infra/plan/index.js";
import { failureOf, howItEnded } from "./cli.js";
import { repositoryAccess, repositoryName, repositoryNumbers, type RepositoryAccess } from "./repository.js";
import type { Secrets } from "./stack.js";

const PULUMI = { reject: false, timeout: 300_000 } as const;
const RESTIC = { reject: false, timeout: 600_000 } as const;

/** What a state export holds. */
export interface StateSummary {
  /** Unix seconds of the last update (`deployment.manifest.time`). */
  updatedAt: number;
  resources: number;
  bytes: number;
}

export interface StateBackup {
  id: string;
  /** Unix seconds the snapshot was taken. */
  takenAt: number;
}

/** The tags of a stack's state snapshots, and the file name inside them. */
export const stateTags = (stack: string) => ["pulumi-state", `stack:${stack}`];
export const stateFileName = (stack: string) => `pulumi-state-${stack}.json`;

/** `pulumi stack export` output, or undefined when it is not a deployment. */
export function parseState(text: string): StateSummary | undefined {
  try {
    const doc = JSON.parse(text) as { deployment?: { manifest?: { time?: string }; resources?: unknown[] } };
    const time = Date.parse(doc.deployment?.manifest?.time ?? "");
    if (!doc.deployment || Number.isNaN(time)) return undefined;
    return {
      updatedAt: Math.floor(time / 1000),
      resources: doc.deployment.resources?.length ?? 0,
      bytes: Buffer.byteLength(text),
    };
  } catch {
    return undefined;
  }
}

/** A repository's newest state snapshot, or why it could not be read. */
export interface RepositoryStateBackup {
  repo: number;
  /** The newest state snapshot; undefined when the repository holds none or could not be read. */
  newest?: StateBackup;
  /** Why the repository could not be read (never a secret value). */
  problem?: string;
}

/** Whether the newest state backup holds the state as it is now (taken after its last update). */
export function stateBackupVerdict(
  state: StateSummary,
  newest: StateBackup | undefined,
): { ok: boolean; message: string } {
  const updated = new Date(state.updatedAt * 1000).toISOString();
  if (!newest) return { ok: false, message: `the repository holds no backup of the state (updated ${updated})` };
  const taken = new Date(newest.takenAt * 1000).toISOString();
  return newest.takenAt >= state.updatedAt
    ? { ok: true, message: `snapshot ${newest.id} (${taken}) holds the state as of its last update, ${updated}` }
    : {
        ok: false,
        message: `the newest backup of the state, snapshot ${newest.id} (${taken}), is older than its last update (${updated})`,
      };
}

/** Each repository's state verdict, named. */
export function stateBackupVerdicts(
  state: StateSummary,
  readings: RepositoryStateBackup[],
): { repo: number; ok: boolean; message: string }[] {
  return readings.map((r) => {
    const v = r.problem === undefined ? stateBackupVerdict(state, r.newest) : { ok: false, message: r.problem };
    return { repo: r.repo, ok: v.ok, message: `${repositoryName(r.repo)}: ${v.message}` };
  });
}

/**
 * Whether some repository holds the state as it is now (a rebuild needs one), naming each, the good
 * ones first; `warn` when another does not (its copy is missing, old or unreadable).
 */
export function stateBackupsVerdict(
  state: StateSummary,
  readings: RepositoryStateBackup[],
): { ok: boolean; warn: boolean; message: string } {
  const each = stateBackupVerdicts(state, readings);
  const ok = each.some((e) => e.ok);
  return {
    ok,
    warn: ok && each.some((e) => !e.ok),
    message: [...each.filter((e) => e.ok), ...each.filter((e) => !e.ok)].map((e) => e.message).join("; "),
  };
}

/** The stack's state from its backend. */
export async function exportState(
  stack: string,
): Promise<{ ok: true; text: string; summary: StateSummary } | { ok: false; why: string }> {
  const r = await execa("pulumi", ["stack", "export", "--stack", stack], PULUMI);
  if (r.code === "ENOENT") return { ok: false, why: "no pulumi CLI on PATH" };
  if (r.failed) return { ok: false, why: `pulumi stack export failed: ${failureOf(r)}` };
  const summary = parseState(r.stdout);
  return summary
    ? { ok: true, text: r.stdout, summary }
    : { ok: false, why: "pulumi stack export printed no deployment" };
}

/** Why restic cannot run here, or undefined. */
async function resticMissing(): Promise<string | undefined> {
  return (await execa("restic", ["version"], { reject: false })).code === "ENOENT"
    ? "restic is not installed on this machine (apt-get install restic)"
    : undefined;
}

/** Runs `fn` with restic on repository `repo`, or returns why it cannot be reached from here. */
async function withRepository<T>(
  plan: Plan,
  secrets: Secrets,
  repo: number,
  fn: (access: RepositoryAccess & { resticEnv: NodeJS.ProcessEnv }) => Promise<T>,
): Promise<T | { problem: string }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-state-"));
  try {
    const access = repositoryAccess(plan, secrets, tmp, repo);
    if (!access) return { problem: `the stack has no ${repositoryName(repo)}` };
    if (!access.resticEnv || access.problems.length > 0) return { problem: access.problems.join("; ") };
    return await fn(access as RepositoryAccess & { resticEnv: NodeJS.ProcessEnv });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The stack's repository numbers, or why none can be used from here (no backup node, no restic). */
async function stateRepositories(plan: Plan): Promise<number[] | { problem: string }> {
  if (!plan.nodes.some((n) => n.services.some((s) => s.name === "backup")))
    return { problem: "no node of the stack runs the backup service: there is no repository" };
  const missing = await resticMissing();
  return missing ? { problem: missing } : repositoryNumbers(plan);
}

const resticError = (r: Pick<Result, "exitCode" | "timedOut" | "shortMessage"> & { stderr: string }) =>
  r.stderr
    .split("\n")
    .find((l) => /Fatal|error/i.test(l))
    ?.trim() ?? `restic ${howItEnded(r)}`;

/** The newest state snapshot of the stack in each repository (none, or why it could not be read). */
export async function newestStateBackups(
  plan: Plan,
  secrets: Secrets,
  stack: string,
): Promise<RepositoryStateBackup[] | { problem: string }> {
  const repos = await stateRepositories(plan);
  return "problem" in repos ? repos : newestIn(plan, secrets, stack, repos);
}

/** Each repository read side by side: one that does not answer does not delay the others. */
function newestIn(plan: Plan, secrets: Secrets, stack: string, repos: number[]): Promise<RepositoryStateBackup[]> {
  return Promise.all(
    repos.map(async (repo): Promise<RepositoryStateBackup> => {
      const got = await withRepository(plan, secrets, repo, async (a) => {
        const r = await execa(
          "restic",
          [...a.resticArgs, "snapshots", "--json", "--no-lock", "--tag", stateTags(stack).join(",")],
          { ...RESTIC, env: a.resticEnv },
        );
        if (r.failed) return { problem: `cannot read the restic repository ${a.resticRepository}: ${resticError(r)}` };
        const snaps = (JSON.parse(r.stdout || "[]") as { short_id: string; time: string }[] | null) ?? [];
        const last = snaps.sort((x, y) => Date.parse(x.time) - Date.parse(y.time)).at(-1);
        return last ? { newest: { id: last.short_id, takenAt: Math.floor(Date.parse(last.time) / 1000) } } : {};
      });
      return { repo, ...got };
    }),
  );
}

/** Where one state backup went: its snapshot, or why it failed. */
export interface StoredState {
  repo: number;
  snapshot?: string;
  problem?: string;
}

/**
 * Exports the state and stores it as a restic snapshot in every repository of the stack, one after
 * the other; one that fails does not stop the others.
 */
export async function backupState(
  plan: Plan,
  secrets: Secrets,
  stack: string,
): Promise<{ summary: StateSummary; stored: StoredState[] } | { problem: string }> {
  const state = await exportState(stack);
  if (!state.ok) return { problem: state.why };
  const repos = await stateRepositories(plan);
  if ("problem" in repos) return repos;
  const stored: StoredState[] = [];
  for (const repo of repos) {
    const got = await withRepository(plan, secrets, repo, async (a) => {
      const r = await execa(
        "restic",
        [
          ...a.resticArgs,
          "backup",
          "--json",
          "--stdin",
          "--stdin-filename",
          stateFileName(stack),
          ...stateTags(stack).flatMap((t) => ["--tag", t]),
        ],
        { ...RESTIC, env: a.resticEnv, input: state.text },
      );
      if (r.failed) return { problem: `restic backup failed: ${resticError(r)}` };
      const summary = r.stdout
        .split("\n")
        .map((l) => {
          try {
            return JSON.parse(l) as { message_type?: string; snapshot_id?: string };
          } catch {
            return {};
          }
        })
        .find((m) => m.message_type === "summary");
      if (!summary?.snapshot_id) return { problem: "restic backup printed no snapshot id" };
      return { snapshot: summary.snapshot_id.slice(0, 8) };
    });
    stored.push({ repo, ...got });
  }
  return { summary: state.summary, stored };
}

/**
 * Puts a state snapshot back into the stack's backend: the newest of all repositories, or `snapshot`
 * from the first repository that has it; `repo` reads that repository alone. Refuses to
 * replace a state that still lists resources unless `force`: that one is newer than any backup of it.
 */
export async function restoreState(
  plan: Plan,
  secrets: Secrets,
  stack: string,
  opts: { snapshot?: string; repo?: number; force?: boolean } = {},
): Promise<{ summary: StateSummary; snapshot: string; repo: number } | { problem: string }> {
  const all = await stateRepositories(plan);
  if ("problem" in all) return all;
  if (opts.repo !== undefined && !all.includes(opts.repo))
    return { problem: `stack ${stack} has no repository ${opts.repo} (it has ${all.join(", ")})` };
  const repos = opts.repo !== undefined ? [opts.repo] : all;
  const current = await exportState(stack);
  if (current.ok && current.summary.resources > 0 && !opts.force)
    return {
      problem: `stack ${stack} has a state with ${current.summary.resources} resources (updated ${new Date(current.summary.updatedAt * 1000).toISOString()}): refusing to replace it (--force replaces it)`,
    };

  // Which snapshots to try, in order: the one asked for in each repository, or each repository's
  // newest, newest first (the next when one cannot be read after all).
  const misses: string[] = [];
  let tries: { repo: number; snapshot: string }[];
  if (opts.snapshot) tries = repos.map((repo) => ({ repo, snapshot: opts.snapshot! }));
  else {
    const newest = await newestIn(plan, secrets, stack, repos);
    for (const r of newest)
      if (!r.newest) misses.push(`${repositoryName(r.repo)}: ${r.problem ?? "holds no backup of the state"}`);
    tries = newest
      .filter((r) => r.newest)
      .sort((a, b) => b.newest!.takenAt - a.newest!.takenAt || a.repo - b.repo)
      .map((r) => ({ repo: r.repo, snapshot: r.newest!.id }));
  }
  for (const t of tries) {
    const dumped = await withRepository(plan, secrets, t.repo, async (a) => {
      const r = await execa(
        "restic",
        [...a.resticArgs, "dump", "--tag", stateTags(stack).join(","), t.snapshot, stateFileName(stack)],
        { ...RESTIC, env: a.resticEnv },
      );
      return r.failed ? { problem: `restic dump failed: ${resticError(r)}` } : { text: r.stdout };
    });
    if ("problem" in dumped) {
      misses.push(`${repositoryName(t.repo)}: ${dumped.problem}`);
      continue;
    }
    const summary = parseState(dumped.text);
    if (!summary) return { problem: `snapshot ${t.snapshot} of ${repositoryName(t.repo)} holds no Pulumi deployment` };
    const imported = await importState(stack, dumped.text, current.ok);
    return imported ?? { summary, snapshot: t.snapshot, repo: t.repo };
  }
  return { problem: `no state snapshot to restore: ${misses.join("; ")}` };
}

/** `pulumi stack import` of `text`, creating the stack first when the backend has none; a problem or undefined. */
async function importState(stack: string, text: string, exists: boolean): Promise<{ problem: string } | undefined> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-state-import-"));
  try {
    const file = path.join(tmp, "state.json");
    fs.writeFileSync(file, text, { mode: 0o600 });
    if (!exists) {
      // No stack of that name in this backend yet: create it. Its config file (from git) keeps
      // the passphrase's salt the exported secrets were encrypted with.
      const init = await execa("pulumi", ["stack", "select", "--create", "--stack", stack], PULUMI);
      if (init.failed) return { problem: `pulumi stack select --create failed: ${failureOf(init)}` };
    }
    const imp = await execa("pulumi", ["stack", "import", "--stack", stack, "--file", file], PULUMI);
    if (imp.failed) return { problem: `pulumi stack import failed: ${failureOf(imp)}` };
    return undefined;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
