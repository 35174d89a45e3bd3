// A controlled update of a running stack (seed 000 §9.11.5): preflight, a fresh backup when the plan
// reaches the database node, `pulumi up` of exactly the previewed plan, acceptance; every step timed,
// and on failure a report of what the plan was changing and what stands ready to restore. Thin
// orchestration over ./steps (decisions) and the rebuild's repository reads.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execa } from "execa";
import type { Plan } from "../../infra/plan/index.js";
import { SSH_PORT } from "../../infra/catalog/services.js";
import { stateFile } from "../../infra/catalog/layout.js";
import { catalog } from "../../infra/catalog/index.js";
import { diffCost } from "../lib/cost-diff.js";
import { diffText } from "../lib/cost-format.js";
import { loadCostDocument } from "../lib/cost-source.js";
import { howItEnded, REPO_ROOT } from "../lib/cli.js";
import { ssh, type SshTarget } from "../lib/ssh.js";
import { loadStack, stackOutputs, stackSecrets } from "../lib/stack.js";
import { backupAgeVerdict, chooseRepository, readRepositories } from "../lib/backups.js";
import { type StepResult } from "../lib/timings.js";
import {
  backupNeed,
  failureAdvice,
  FULL_BACKUP_UNIT,
  planChanges,
  previewArgs,
  pulumiUpArgs,
  updateSteps,
  type BackupNeed,
  type Change,
  type UpdateOptions,
  type UpdateStepId,
} from "./steps.js";

export interface UpdateRun extends UpdateOptions {
  /** The stack config the checks read instead of Pulumi.<stack>.yaml (tests; pulumi reads its own). */
  stackFile?: string;
  secretsFile?: string;
  sshUser: string;
  sshKey?: string;
  progress: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface UpdateReport {
  stack: string;
  dryRun: boolean;
  forced: boolean;
  ok: boolean;
  planFile: string;
  changes: Change[];
  backup?: string;
  preflight: Check[];
  steps: StepResult[];
  /** On failure: what the plan was changing and what stands ready to restore. */
  advice: string[];
  totalSeconds: number;
}

const PLAN_CHECK = "previewed plan";
const tail = (s: string, n = 15) => s.trim().split("\n").slice(-n).join("\n");

async function readPlan(o: UpdateRun, planFile: string): Promise<{ changes?: Change[]; problem?: string }> {
  if (o.planFile) {
    if (!fs.existsSync(o.planFile)) return { problem: `no saved plan at ${o.planFile}` };
    return { changes: planChanges(fs.readFileSync(o.planFile, "utf8")) };
  }
  const r = await execa("pulumi", previewArgs(o.stack, planFile), {
    cwd: REPO_ROOT,
    env: o.env,
    timeout: 1800_000,
    reject: false,
  });
  if (r.exitCode !== 0) return { problem: `pulumi preview ${howItEnded(r)}:\n${tail(r.stderr || r.stdout)}` };
  return { changes: planChanges(r.stdout) };
}

async function preflight(
  o: UpdateRun,
  plan: Plan,
  secretProblems: string | undefined,
  planFile: string,
): Promise<{ checks: Check[]; changes: Change[] }> {
  const checks: Check[] = [
    {
      name: "config and secrets",
      ok: secretProblems === undefined,
      detail: secretProblems ?? `Pulumi.${o.stack}.yaml is valid and every secret the stack needs is set`,
    },
  ];
  const secrets = await stackSecrets(o.stack, o.secretsFile);
  const readings = await readRepositories(plan, secrets);
  const withPg = plan.nodes.some((n) => n.services.some((s) => s.name === "postgresql"));
  const now = Math.floor(Date.now() / 1000);
  const choice = chooseRepository(readings, withPg, now);
  const used = readings.find((r) => r.repo === choice.repo) ?? readings[0];
  for (const p of used?.problems ?? []) checks.push({ name: "newest backup age", ok: false, detail: p });
  for (const b of used?.backups ?? []) {
    const v = backupAgeVerdict(b, now);
    checks.push({ name: `newest backup age (${b.tool})`, ok: v.ok, detail: v.message });
  }
  const read = await readPlan(o, planFile);
  checks.push({
    name: PLAN_CHECK,
    ok: read.changes !== undefined,
    detail: read.problem ?? `${read.changes!.length} change(s) in ${o.planFile ?? planFile}`,
  });
  // The cost and exposure of the deployed stack against this plan (printed, not a verdict).
  try {
    const base = await loadCostDocument({ stack: o.stack, source: "stack" });
    const head = await loadCostDocument({ stack: o.stack, stackFile: o.stackFile, source: "plan" });
    for (const line of diffText(
      diffCost(base, head, { mode: "change", catalog, labels: { base: "deployed", head: "this plan" } }),
    ).split("\n"))
      o.progress(`      ${line}`);
  } catch (e) {
    o.progress(`      no cost diff: ${(e as Error).message}`);
  }
  return { checks, changes: read.changes ?? [] };
}

async function sshTarget(o: UpdateRun, plan: Plan, need: BackupNeed): Promise<SshTarget> {
  let host = need.node.name;
  if (plan.adminPath.mode !== "tailscale") {
    const got = await stackOutputs(o.stack);
    const nodes = got.ok ? (got.outputs.nodes as Record<string, { publicIpv4?: string }> | undefined) : undefined;
    host = nodes?.[need.node.key]?.publicIpv4 ?? need.node.fqdn;
  }
  return { host, port: SSH_PORT, user: o.sshUser, key: o.sshKey };
}

export async function update(o: UpdateRun): Promise<UpdateReport> {
  const t0 = Date.now();
  const planFile = o.planFile ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-update-")), "plan.json");
  const { plan, secretProblems } = loadStack({ stack: o.stack, stackFile: o.stackFile });
  o.progress(`[1/4] ${updateSteps(o, plan, undefined, planFile)[0]!.title}`);
  const { checks, changes } = await preflight(o, plan, secretProblems, planFile);
  // A plan that could not be read cannot be applied, --force or not.
  const forced = (c: Check) => !c.ok && o.force && c.name !== PLAN_CHECK;
  for (const c of checks) o.progress(`      ${c.ok ? "ok  " : forced(c) ? "FORCED" : "FAIL"} ${c.name}: ${c.detail}`);
  const need = backupNeed(plan, changes);
  const steps = updateSteps(o, plan, need, planFile);
  for (const c of changes) o.progress(`      ${c.op} ${c.type} ${c.name}`);
  const passed = checks.every((c) => c.ok || forced(c));
  const results: StepResult[] = [
    {
      id: "preflight",
      title: steps[0]!.title,
      status: passed ? "ok" : "failed",
      seconds: (Date.now() - t0) / 1000,
      detail: checks.every((c) => c.ok)
        ? "all checks passed"
        : `${checks.filter((c) => !c.ok).length} check(s) failed${passed ? ", overridden by --force" : ""}`,
    },
  ];
  let backup: string | undefined;
  const report = (ok: boolean, failed?: UpdateStepId): UpdateReport => ({
    stack: o.stack,
    dryRun: o.dryRun,
    forced: o.force,
    ok,
    planFile,
    changes,
    ...(backup ? { backup } : {}),
    preflight: checks,
    steps: results,
    advice: failed ? failureAdvice(failed, changes, backup) : [],
    totalSeconds: (Date.now() - t0) / 1000,
  });
  if (!passed) return report(false, "preflight");
  if (o.dryRun) {
    for (const s of steps.slice(1))
      results.push({
        id: s.id,
        title: s.title,
        status: s.skip ? "skipped" : "planned",
        seconds: 0,
        detail: s.skip ?? s.command,
      });
    return report(true);
  }

  const runners: Record<Exclude<UpdateStepId, "preflight">, () => Promise<string>> = {
    backup: async () => {
      const t = await sshTarget(o, plan, need!);
      const r = await ssh(
        t,
        `sudo systemctl start ${FULL_BACKUP_UNIT} && sudo cat ${stateFile("pgbackrest-full.json")}`,
        undefined,
        6 * 3600_000,
      );
      if (r.code !== 0) throw new Error(`the full backup on ${t.host} failed (exit ${r.code}):\n${tail(r.stderr)}`);
      const state = JSON.parse(r.stdout) as { finished: number; durationSeconds: number };
      backup = `full backup of ${need!.node.name} finished ${new Date(state.finished * 1000).toISOString()}`;
      return `${backup} in ${state.durationSeconds} s, for: ${need!.reasons.join("; ")}`;
    },
    "pulumi-up": async () => {
      const r = await execa("pulumi", pulumiUpArgs(o.stack, planFile), {
        cwd: REPO_ROOT,
        env: o.env,
        timeout: 3 * 3600_000,
        reject: false,
      });
      if (r.exitCode !== 0) throw new Error(`pulumi up ${howItEnded(r)}:\n${tail(r.stderr || r.stdout)}`);
      return tail(r.stdout, 1);
    },
    accept: async () => {
      const args = ["run", "accept", "--", "--stack", o.stack, ...(o.sshKey ? ["--ssh-key", o.sshKey] : [])];
      const r = await execa("npm", args, { cwd: REPO_ROOT, env: o.env, timeout: 3600_000, reject: false });
      if (r.exitCode !== 0) throw new Error(`acceptance failed (${howItEnded(r)}):\n${tail(r.stdout)}`);
      return tail(r.stdout, 1);
    },
  };
  for (const [i, s] of steps.entries()) {
    if (s.id === "preflight") continue;
    o.progress(`[${i + 1}/${steps.length}] ${s.title}`);
    if (s.skip) {
      o.progress(`      skipped: ${s.skip}`);
      results.push({ id: s.id, title: s.title, status: "skipped", seconds: 0, detail: s.skip });
      continue;
    }
    const s0 = Date.now();
    try {
      const detail = await runners[s.id as Exclude<UpdateStepId, "preflight">]();
      const seconds = (Date.now() - s0) / 1000;
      o.progress(`      ok in ${seconds.toFixed(1)} s: ${detail}`);
      results.push({ id: s.id, title: s.title, status: "ok", seconds, detail });
    } catch (e) {
      const seconds = (Date.now() - s0) / 1000;
      const detail = (e as Error).message;
      o.progress(`      FAILED after ${seconds.toFixed(1)} s: ${detail}`);
      results.push({ id: s.id, title: s.title, status: "failed", seconds, detail });
      return report(false, s.id);
    }
  }
  return report(true);
}
