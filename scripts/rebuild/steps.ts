// The decisions of a disaster rebuild, as pure functions over plain data: which steps run and in
// what order, whether the newest backups are fresh enough, whether the target is free, which
// tailnet devices are stale, which repository to restore from, how the node restore is invoked, and
// the timing breakdown (the RTO).
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { libFile, NODE_LAYOUT } from "../../infra/catalog/layout.js";
import { SERVICE_CATALOG, type RebuildRole } from "../../infra/catalog/services.js";
import type { HcloudServer, HcloudSnapshot, TailscaleDevice } from "../lib/cloud-api.js";
import { type Verdict } from "../lib/backups.js";
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

/** xiopro-restore's "step NAME  1.234 s" lines. */
export function parseRestoreTimings(stdout: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of stdout.matchAll(/^step (\S+)\s+(\d+\.\d+) s$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}
