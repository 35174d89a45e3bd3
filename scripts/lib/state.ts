// A stack's Pulumi state kept beside its backups (docs/runbooks/rebuild.md, "The Pulumi state"):
// `pulumi stack export` into the stack's restic repository, and back with `pulumi stack import`.
// An export keeps secret values encrypted with the stack's secrets provider, so the snapshot holds
// no plaintext secret and restic encrypts it once more.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execa, type Result } from "execa";
import type { Plan } from "../../infra/plan/index.js";
import { failureOf, howItEnded } from "./cli.js";
import { repositoryAccess, type RepositoryAccess } from "./repository.js";
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

/** Runs `fn` with the stack's restic repository, or returns why it cannot be reached from here. */
async function withRestic<T>(
  plan: Plan,
  secrets: Secrets,
  fn: (access: RepositoryAccess & { resticEnv: NodeJS.ProcessEnv }) => Promise<T>,
): Promise<T | { problem: string }> {
  if ((await execa("restic", ["version"], { reject: false })).code === "ENOENT")
    return { problem: "restic is not installed on this machine (apt-get install restic)" };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-state-"));
  try {
    const access = repositoryAccess(plan, secrets, tmp);
    if (!access) return { problem: "no node of the stack runs the backup service: there is no repository" };
    if (!access.resticEnv || access.problems.length > 0) return { problem: access.problems.join("; ") };
    return await fn(access as RepositoryAccess & { resticEnv: NodeJS.ProcessEnv });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const resticError = (r: Pick<Result, "exitCode" | "timedOut" | "shortMessage"> & { stderr: string }) =>
  r.stderr
    .split("\n")
    .find((l) => /Fatal|error/i.test(l))
    ?.trim() ?? `restic ${howItEnded(r)}`;

/** The newest state snapshot of the stack, none, or why the repository could not be read. */
export async function newestStateBackup(
  plan: Plan,
  secrets: Secrets,
  stack: string,
): Promise<{ newest?: StateBackup } | { problem: string }> {
  return withRestic(plan, secrets, async (a) => {
    const r = await execa(
      "restic",
      [...a.resticArgs, "snapshots", "--json", "--no-lock", "--tag", stateTags(stack).join(",")],
      { ...RESTIC, env: a.resticEnv },
    );
    if (r.failed) return { problem: `cannot read the restic repository: ${resticError(r)}` };
    const snaps = (JSON.parse(r.stdout || "[]") as { short_id: string; time: string }[] | null) ?? [];
    const last = snaps.sort((x, y) => Date.parse(x.time) - Date.parse(y.time)).at(-1);
    return last ? { newest: { id: last.short_id, takenAt: Math.floor(Date.parse(last.time) / 1000) } } : {};
  });
}

/** Exports the state and stores it as a restic snapshot of the stack's repository. */
export async function backupState(
  plan: Plan,
  secrets: Secrets,
  stack: string,
): Promise<{ snapshot: string; summary: StateSummary } | { problem: string }> {
  const state = await exportState(stack);
  if (!state.ok) return { problem: state.why };
  return withRestic(plan, secrets, async (a) => {
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
    return { snapshot: summary.snapshot_id.slice(0, 8), summary: state.summary };
  });
}

/**
 * Puts the newest state snapshot (or `snapshot`) back into the stack's backend. Refuses to replace
 * a state that still lists resources unless `force`: that one is newer than any backup of it.
 */
export async function restoreState(
  plan: Plan,
  secrets: Secrets,
  stack: string,
  opts: { snapshot?: string; force?: boolean } = {},
): Promise<{ summary: StateSummary; snapshot: string } | { problem: string }> {
  const current = await exportState(stack);
  if (current.ok && current.summary.resources > 0 && !opts.force)
    return {
      problem: `stack ${stack} has a state with ${current.summary.resources} resources (updated ${new Date(current.summary.updatedAt * 1000).toISOString()}): refusing to replace it (--force replaces it)`,
    };
  return withRestic(plan, secrets, async (a) => {
    const r = await execa(
      "restic",
      [...a.resticArgs, "dump", "--tag", stateTags(stack).join(","), opts.snapshot ?? "latest", stateFileName(stack)],
      { ...RESTIC, env: a.resticEnv },
    );
    if (r.failed) return { problem: `restic dump failed: ${resticError(r)}` };
    const summary = parseState(r.stdout);
    if (!summary) return { problem: "the snapshot holds no Pulumi deployment" };
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-state-import-"));
    try {
      const file = path.join(tmp, "state.json");
      fs.writeFileSync(file, r.stdout, { mode: 0o600 });
      if (!current.ok) {
        // No stack of that name in this backend yet: create it. Its config file (from git) keeps
        // the passphrase's salt the exported secrets were encrypted with.
        const init = await execa("pulumi", ["stack", "select", "--create", "--stack", stack], PULUMI);
        if (init.failed) return { problem: `pulumi stack select --create failed: ${failureOf(init)}` };
      }
      const imp = await execa("pulumi", ["stack", "import", "--stack", stack, "--file", file], PULUMI);
      if (imp.failed) return { problem: `pulumi stack import failed: ${failureOf(imp)}` };
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return { summary, snapshot: opts.snapshot ?? "latest" };
  });
}
