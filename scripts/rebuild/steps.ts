// The decisions of a disaster rebuild, as pure functions over plain data: which steps run and in
// what order, whether the newest backups are fresh enough, whether the target is free, which
// tailnet devices are stale, which repository to restore from, how the node restore is invoked, and
// the timing breakdown (the RTO).
import { BACKUP_JOBS } from "../../infra/plan/jobs.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { libFile, NODE_LAYOUT } from "../../infra/catalog/layout.js";
import { SERVICE_CATALOG, type RebuildRole } from "../../infra/catalog/services.js";
import type { HcloudServer, HcloudSnapshot, TailscaleDevice } from "../lib/cloud-api.js";
import { repositoryName } from "../lib/repository.js";

export const RESTORE_SCRIPT = libFile("xiopro-restore");
/** xiopro-restore's exit status when the node's cluster holds data and --force was not given. */
export const RESTORE_REFUSED = 3;

export interface RebuildOptions {
  stack: string;
  targetTime?: string;
  location?: string;
  dryRun: boolean;
  force: boolean;
}

export type StepId =
  "preflight" | "wal-fetch" | "tailscale" | "pulumi-up" | "cloud-init" | "restore" | "wal-resume" | "accept";

export interface Step {
  id: StepId;
  title: string;
  /** What runs, for the operator (--dry-run prints it). */
  command: string;
  /** Why the step does not run, when it does not. */
  skip?: string;
}

/** Single quotes for a POSIX shell (the remote command goes through the node's shell). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The node-side restore: the newest state or a point in time, files included, never --force (a
 * cluster that survived on its volume is newer than any backup; xiopro-restore then refuses). `repo`:
 * the repository the preflight chose, so the node restores what was checked (else it picks itself). */
export function restoreCommand(targetTime?: string, walDir?: string, repo?: number): string {
  return [
    "sudo",
    RESTORE_SCRIPT,
    "--files",
    ...(repo !== undefined ? ["--repo", String(repo)] : []),
    ...(targetTime ? ["--target-time", targetTime] : []),
    ...(walDir ? ["--wal-dir", walDir] : []),
  ]
    .map(shellQuote)
    .join(" ");
}

/** Where the WAL receiver's copy lands on the rebuilt database node. */
export const RECEIVED_WAL_DIR = `${NODE_LAYOUT.XIOPRO_HOME}/received-wal`;

type WalCopy = NonNullable<RebuildRole["walCopy"]>;

/** The node that holds a copy of the database's newest WAL (a service with `rebuild.walCopy`), and how. */
export function walCopyNode(plan: Plan): { node: NodePlan; copy: WalCopy } | undefined {
  for (const node of plan.nodes)
    for (const s of node.services) {
      const copy = SERVICE_CATALOG[s.name]?.rebuild?.walCopy;
      if (copy) return { node, copy };
    }
  return undefined;
}

/** The nodes a rebuild recreates: all but those whose services keep them (`rebuild.keepNode`). */
export function rebuildTargets(plan: Plan): NodePlan[] {
  return plan.nodes.filter((n) => !n.services.some((s) => SERVICE_CATALOG[s.name]?.rebuild?.keepNode));
}

/**
 * On the receiver's node, before anything else changes: stop the receiver (a new, empty database must
 * not stream into its files), then send the WAL a restore can use as a base64 tar.gz: the segment
 * being written (.partial), the timeline histories, and the segments of the last `minutes` (the
 * repository has everything older unless archiving was broken for longer: WalArchiveLag alerts).
 */
export function walFetchCommand(copy: WalCopy, minutes: number): string {
  const select = `cd ${copy.dir} && find . -maxdepth 1 -type f \\( -name '*.partial' -o -name '*.history' -o -mmin -${minutes} \\) -print0 | tar --null -T - -czf - | base64 -w0`;
  return `sudo systemctl stop ${copy.unit} && sudo sh -c ${shellQuote(select)}`;
}

/** On the rebuilt database node: unpack the receiver's copy where xiopro-restore --wal-dir reads it. */
export function walUploadCommand(): string {
  const unpack = `rm -rf ${RECEIVED_WAL_DIR} && install -d -m 0700 ${RECEIVED_WAL_DIR} && base64 -d | tar -xzf - -C ${RECEIVED_WAL_DIR}`;
  return `sudo sh -c ${shellQuote(unpack)}`;
}

/** On the receiver's node after the restore: the old timeline's files aside, streaming again. */
export function walResumeCommand(copy: WalCopy): string {
  return `sudo ${copy.script} rotate && sudo systemctl start ${copy.unit}`;
}

export function pulumiUpArgs(o: Pick<RebuildOptions, "stack" | "location">): string[] {
  // --refresh: after a disaster the state still lists the lost server; refresh lets up recreate it.
  return [
    "up",
    "--yes",
    "--refresh",
    "--stack",
    o.stack,
    ...(o.location ? ["--config", `location=${o.location}`] : []),
  ];
}

/**
 * The steps, in order. Stale tailnet devices go before `pulumi up`: Pulumi delivers credentials over
 * the admin path by the node's tailnet name, which must not still point at the dead node, and the new
 * node then joins under its own name instead of `<name>-1`.
 */
export function rebuildSteps(o: RebuildOptions, plan: Plan, tailscaleToken: boolean, repo?: number): Step[] {
  const names = plan.nodes.map((n) => n.name);
  const pg = plan.nodes.find((n) => n.services.some((s) => s.name === "postgresql"));
  const wal = walCopyNode(plan);
  const receiver = wal?.node;
  const tailscaleSkip =
    plan.adminPath.mode !== "tailscale"
      ? "the admin path is allowlist: no tailnet devices to remove"
      : !tailscaleToken
        ? "TAILSCALE_API_KEY is not set: remove the old machines in the Tailscale admin console"
        : undefined;
  const fetch: Step[] = receiver
    ? [
        {
          id: "wal-fetch",
          title: `stop the WAL receiver on ${receiver.name} and copy its newest WAL`,
          command: `ssh ${receiver.name} ${walFetchCommand(wal.copy, RECEIVED_WAL_MINUTES)}`,
        },
      ]
    : [];
  const resume: Step[] = receiver
    ? [
        {
          id: "wal-resume",
          title: `start the WAL receiver on ${receiver.name} on the restored timeline`,
          command: `ssh ${receiver.name} ${walResumeCommand(wal.copy)}`,
        },
      ]
    : [];
  return [
    {
      id: "preflight",
      title: "preflight: config and secrets, newest backup age, target free",
      command: `loadConfig(Pulumi.${o.stack}.yaml, requireSecrets) · pgbackrest --repo=N info · restic snapshots (each repository) · GET /v1/servers?name=…`,
    },
    ...fetch,
    {
      id: "tailscale",
      title: `remove stale tailnet devices of ${names.join(", ")}`,
      command: "GET /api/v2/tailnet/-/devices · DELETE /api/v2/device/{id}",
      ...(tailscaleSkip ? { skip: tailscaleSkip } : {}),
    },
    {
      id: "pulumi-up",
      title: `pulumi up (stack ${o.stack}${o.location ? `, location ${o.location}` : ""})`,
      command: ["pulumi", ...pulumiUpArgs(o)].join(" "),
    },
    {
      id: "cloud-init",
      title: `wait for cloud-init on ${names.join(", ")}`,
      command: "ssh <node> test -e /var/lib/cloud/instance/boot-finished",
    },
    {
      id: "restore",
      title: `restore PostgreSQL (${o.targetTime ? `point in time ${o.targetTime}` : "newest state"}) and files on ${pg?.name ?? "-"}${repo !== undefined ? ` from ${repositoryName(repo)}` : ""}`,
      command: `ssh ${pg?.name ?? "<node>"} ${restoreCommand(o.targetTime, receiver ? RECEIVED_WAL_DIR : undefined, repo)}`,
      ...(pg ? {} : { skip: "no node runs postgresql" }),
    },
    ...resume,
    { id: "accept", title: "acceptance checks", command: `npm run accept -- --stack ${o.stack}` },
  ];
}

/** The receiver's segments of this many minutes go into a rebuild (besides .partial and histories). */
export const RECEIVED_WAL_MINUTES = 60;

export interface NewestBackup {
  /** pgbackrest: the newest backup set; restic: the newest `files` snapshot. */
  tool: "pgbackrest" | "restic";
  id?: string;
  /** Unix seconds the backup ended; undefined when the repository holds none. */
  endedAt?: number;
}

export interface Verdict {
  ok: boolean;
  message: string;
}

/** Bounds from the job table (the same numbers the acceptance checks and alerts use). */
export function backupAgeBoundHours(tool: NewestBackup["tool"]): number {
  const job = tool === "pgbackrest" ? "pgbackrest-diff" : "files";
  return BACKUP_JOBS.find((j) => j.job === job)!.maxAgeHours;
}

export function backupAgeVerdict(b: NewestBackup, nowS: number): Verdict {
  const bound = backupAgeBoundHours(b.tool);
  const what = b.tool === "pgbackrest" ? "pgBackRest backup" : "restic files snapshot";
  if (b.endedAt === undefined) return { ok: false, message: `the repository holds no ${what}` };
  const hours = (nowS - b.endedAt) / 3600;
  const age = `${hours.toFixed(1)} h`;
  return hours <= bound
    ? { ok: true, message: `newest ${what} ${b.id ?? ""} is ${age} old (bound ${bound} h)`.replace("  ", " ") }
    : {
        ok: false,
        message:
          `newest ${what} ${b.id ?? ""} is ${age} old, older than the bound of ${bound} h: restoring it loses more than a day`.replace(
            "  ",
            " ",
          ),
      };
}

/** What the preflight read from one repository. */
export interface RepositoryReading {
  /** pgBackRest's index: 1 at Hetzner, 2 off-site. */
  repo: number;
  /** The newest backup of each tool that could read the repository. */
  backups: NewestBackup[];
  /** Why a tool could not read it (never a secret value). */
  problems: string[];
}

export interface RepositoryChoice {
  /** The repository the restore uses: fresh ones first, then the newest backup, then the lower number;
   * undefined when none is usable. */
  repo?: number;
  /** The chosen repository's backups are fresh: the rebuild can go on. */
  ok: boolean;
  /** Another repository is unreadable, unusable or stale: said, but not in the way of the rebuild. */
  warn: boolean;
  /** Which repository and why, naming every repository. */
  message: string;
}

/**
 * Picks the repository to restore from. Usable: both tools read it, pgBackRest's status is 0, and it
 * holds a pgBackRest backup when the node runs PostgreSQL (without one, restic's snapshot decides).
 */
export function chooseRepository(readings: RepositoryReading[], withPg: boolean, nowS: number): RepositoryChoice {
  const judged = readings.map((r) => {
    const main = r.backups.find((b) => b.tool === (withPg ? "pgbackrest" : "restic"));
    const verdicts = r.backups.map((b) => backupAgeVerdict(b, nowS));
    const name = repositoryName(r.repo);
    const list = verdicts.map((v) => v.message).join(", ");
    const usable = r.problems.length === 0 && (!withPg || main?.endedAt !== undefined);
    const fresh = usable && verdicts.length > 0 && verdicts.every((v) => v.ok);
    const said =
      r.problems.length > 0
        ? `${name} unreadable: ${r.problems.join("; ")}`
        : !usable
          ? `${name} not usable: it holds no pgBackRest backup`
          : `${name}${fresh ? "" : " stale"}: ${list}`;
    return { repo: r.repo, endedAt: main?.endedAt ?? -Infinity, usable, fresh, ages: `${name}: ${list}`, said };
  });
  const [pick] = judged
    .filter((j) => j.usable)
    .sort((a, b) => Number(b.fresh) - Number(a.fresh) || b.endedAt - a.endedAt || a.repo - b.repo);
  const others = judged.filter((j) => j !== pick).map((j) => j.said);
  if (!pick) return { ok: false, warn: false, message: `no repository is usable: ${others.join("; ")}` };
  return {
    repo: pick.repo,
    ok: pick.fresh,
    warn: pick.fresh && judged.some((j) => !j.fresh),
    message: [
      pick.fresh
        ? `restoring from ${pick.ages}`
        : `no repository holds fresh backups; the newest usable is ${pick.ages}`,
      ...others,
    ].join("; "),
  };
}

/**
 * What a rebuilt node boots (ADR 0008): a baked node the newest snapshot of its package set (none:
 * pulumi up would stop, so the preflight does), a stock node its image, with a warning when a
 * snapshot of its set would have spared first boot the packages.
 */
export function bootImageVerdict(
  node: Pick<NodePlan, "name" | "key" | "image" | "baked">,
  set: { hash: string; selector: string; packages: string[] },
  snapshots: Pick<HcloudSnapshot, "id" | "created" | "status">[],
  stack: string,
): Verdict & { warn: boolean } {
  const newest = snapshots
    .filter((s) => s.status === "available")
    .sort((a, b) => b.created.localeCompare(a.created))[0];
  if (node.baked)
    return newest
      ? {
          ok: true,
          warn: false,
          message: `snapshot ${newest.id} of ${newest.created} (${set.selector}): first boot installs no package`,
        }
      : {
          ok: false,
          warn: false,
          message: `baked: true, but no snapshot carries ${set.selector}: npm run bake -- --stack ${stack} --node ${node.key}, or set baked: false`,
        };
  return newest
    ? {
        ok: true,
        warn: true,
        message: `stock ${node.image}: first boot installs ${set.packages.length} packages; snapshot ${newest.id} of ${newest.created} holds them, and baked: true would boot it (docs/bake.md)`,
      }
    : { ok: true, warn: false, message: `stock ${node.image}: first boot installs ${set.packages.length} packages` };
}

/** A rebuild from nothing recreates lost servers; a server that still exists is a phoenix case. */
export function targetVerdict(found: HcloudServer[], names: string[]): Verdict {
  const live = found.filter((s) => names.includes(s.name));
  if (live.length === 0) return { ok: true, message: `no server named ${names.join(", ")} exists` };
  return {
    ok: false,
    message: `${live.map((s) => `${s.name} exists (${s.status})`).join(", ")}: a rebuild restores over a lost node; for a live one follow docs/runbooks/phoenix.md`,
  };
}

/** Devices that carry a node's name: its own (`prd-node-a`) or a suffixed one from an earlier join
 * while the name was taken (`prd-node-a-1`). */
export function staleTailscaleDevices(devices: TailscaleDevice[], nodeNames: string[]): TailscaleDevice[] {
  return devices.filter((d) => {
    const label = d.name.split(".")[0] ?? "";
    return nodeNames.some(
      (n) =>
        d.hostname === n || label === n || new RegExp(`^${n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-\\d+$`).test(label),
    );
  });
}

export type StepStatus = "ok" | "failed" | "skipped" | "planned";

export interface StepResult {
  /** A StepId here; the fresh-VM drill has its own (stack, destroy). */
  id: string;
  title: string;
  status: StepStatus;
  seconds: number;
  detail: string;
  /** Sub-steps with their seconds (xiopro-restore's own timing lines). */
  parts?: Record<string, number>;
}

/** xiopro-restore's "step NAME  1.234 s" lines. */
export function parseRestoreTimings(stdout: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of stdout.matchAll(/^step (\S+)\s+(\d+\.\d+) s$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function duration(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** The RTO: every step's time and the total, as the last lines the command prints. */
export function formatTimings(stack: string, results: StepResult[]): string {
  const total = results.reduce((a, r) => a + r.seconds, 0);
  const w = Math.max(...results.map((r) => r.id.length), 5);
  const lines = results.map((r) => {
    const parts =
      r.parts && Object.keys(r.parts).length
        ? `  (${Object.entries(r.parts)
            .map(([k, v]) => `${k} ${v.toFixed(1)}`)
            .join(", ")})`
        : "";
    return `  ${r.id.padEnd(w)}  ${r.seconds.toFixed(1).padStart(8)} s  ${r.status}${parts}`;
  });
  return [
    `Timing (stack ${stack}):`,
    ...lines,
    `  ${"total".padEnd(w)}  ${total.toFixed(1).padStart(8)} s  RTO ${duration(total)}`,
  ].join("\n");
}
