// The decisions of `npm run update`, as pure functions over plain data: what the previewed plan
// changes, whether a change reaches the database node (then a fresh backup goes first), the steps
// in order, and what the report says when a step fails.
import { PROJECT } from "../../infra/config/keys.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { BACKUP_JOBS } from "../../infra/plan/jobs.js";

export interface UpdateOptions {
  stack: string;
  /** The plan a reviewed preview saved (`pulumi preview --save-plan`); without it, this run previews. */
  planFile?: string;
  dryRun: boolean;
  /** Go on although a preflight check failed (each is still printed). */
  force: boolean;
}

export type UpdateStepId = "preflight" | "backup" | "pulumi-up" | "accept";

export interface UpdateStep {
  id: UpdateStepId;
  title: string;
  command: string;
  skip?: string;
}

/** One resource operation the plan holds. */
export interface Change {
  op: string;
  /** The resource type's last part, e.g. hcloud:index/server:Server. */
  type: string;
  name: string;
}

/** Operations that change nothing. */
const NO_CHANGE = new Set(["same", "read", "refresh", "discard"]);

/** urn:pulumi:STACK::PROJECT::[PARENT$]TYPE::NAME → type and name. */
function fromUrn(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  return { type: parts[2]?.split("$").at(-1) ?? "", name: parts.slice(3).join("::") };
}

/**
 * The changes of `pulumi preview --json` (its `steps`) or of a saved update plan (its
 * `resourcePlans`, each with the operations it allows), without those that change nothing.
 */
export function planChanges(json: string): Change[] {
  const doc = JSON.parse(json) as {
    steps?: { op?: string; urn?: string }[];
    resourcePlans?: Record<string, { steps?: string[] }>;
  };
  const ops: [string, string][] = [
    ...(doc.steps ?? []).flatMap((s): [string, string][] => (s.op && s.urn ? [[s.op, s.urn]] : [])),
    ...Object.entries(doc.resourcePlans ?? {}).flatMap(([urn, p]) =>
      (p.steps ?? []).map((op): [string, string] => [op, urn]),
    ),
  ];
  return ops.filter(([op]) => !NO_CHANGE.has(op)).map(([op, urn]) => ({ op, ...fromUrn(urn) }));
}

/** The node a resource belongs to, by the names the components give (`<project>-<stack>-<short>…`). */
export function nodeOf(plan: Plan, change: Change): NodePlan | undefined {
  return plan.nodes.find((n) => {
    const prefix = `${PROJECT}-${plan.stack}-${n.short}`;
    return change.name === prefix || change.name.startsWith(`${prefix}-`);
  });
}

/**
 * Whether a change can reach the database's data: its server, volumes and their attachments, an
 * in-place configuration push (bootstrap restarts PostgreSQL), a credential delivery (roles,
 * pgBackRest), a volume grow. Not the operations bundle, DNS or reverse DNS.
 */
function reachesData(c: Change): boolean {
  if (/:(Server|Volume|VolumeAttachment|PrimaryIp)$/.test(c.type)) return true;
  return c.type === "command:remote:Command" && /-(config|config-confirm|volumes-grow)$|-credentials-/.test(c.name);
}

export interface BackupNeed {
  node: NodePlan;
  /** "replace hcloud:index/server:Server xiopro-infra-prd-node-a", one per change. */
  reasons: string[];
}

/** The database node and the changes that reach it, when any does. */
export function backupNeed(plan: Plan, changes: Change[]): BackupNeed | undefined {
  const db = plan.nodes.find((n) => n.services.some((s) => s.name === "postgresql"));
  if (!db) return undefined;
  const reasons = changes
    .filter((c) => nodeOf(plan, c)?.key === db.key && reachesData(c))
    .map((c) => `${c.op} ${c.type} ${c.name}`);
  return reasons.length > 0 ? { node: db, reasons } : undefined;
}

/** The full backup a change to the database node waits for (the job's own unit). */
export const FULL_BACKUP_UNIT = BACKUP_JOBS.find((j) => j.job === "pgbackrest-full")!.unit;

export function pulumiUpArgs(stack: string, planFile: string): string[] {
  return ["up", "--yes", "--stack", stack, "--plan", planFile];
}

export function previewArgs(stack: string, planFile: string): string[] {
  return ["preview", "--stack", stack, "--save-plan", planFile, "--json"];
}

export function updateSteps(
  o: UpdateOptions,
  plan: Plan,
  need: BackupNeed | undefined,
  planFile: string,
): UpdateStep[] {
  return [
    {
      id: "preflight",
      title: "preflight: config, secrets, newest backups, the previewed plan and its cost",
      command: o.planFile ? `read the saved plan ${o.planFile}` : `pulumi ${previewArgs(o.stack, planFile).join(" ")}`,
    },
    {
      id: "backup",
      title: need ? `fresh full backup of ${need.node.name} before its change` : "fresh backup",
      command: need ? `ssh ${need.node.name} sudo systemctl start ${FULL_BACKUP_UNIT}` : "",
      ...(need ? {} : { skip: "no change reaches the database node" }),
    },
    {
      id: "pulumi-up",
      title: "pulumi up of exactly the previewed plan",
      command: `pulumi ${pulumiUpArgs(o.stack, planFile).join(" ")}`,
    },
    { id: "accept", title: "acceptance", command: `npm run accept -- --stack ${o.stack}` },
  ];
}

/**
 * What an operator needs after a failed step: what the plan was changing, what stands ready to
 * restore, and where the runbook is. Pulumi does not roll infrastructure back; releases and
 * in-place configuration roll back on the node by themselves (docs/releases.md, xiopro-guard).
 */
export function failureAdvice(failed: UpdateStepId, changes: Change[], backup: string | undefined): string[] {
  const lines = [
    `the plan changes ${changes.length} resource(s): ${changes.map((c) => `${c.op} ${c.name}`).join(", ") || "none"}`,
  ];
  if (failed === "pulumi-up" || failed === "accept") {
    lines.push(
      "nothing is rolled back by Pulumi: a resource it replaced stays replaced; an in-place configuration that cut the admin path reverted on the node (xiopro-guard)",
    );
    lines.push(
      backup
        ? `the fresh backup ${backup} holds the database as it was before: docs/runbooks/point-in-time-restore.md`
        : "no fresh backup was taken (no change reached the database node)",
    );
  }
  return lines;
}
