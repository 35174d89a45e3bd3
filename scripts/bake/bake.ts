// npm run bake: a Hetzner snapshot per distinct package set of a stack's nodes (ADR 0008). A bake
// server of the node's own type and location boots the stock image with the bake user-data
// (cloud-init/bake.ts) behind a firewall that admits nothing, installs the packages and powers off;
// its disk becomes a snapshot labelled with the set's hash; server and firewall are deleted whatever
// happened. Older snapshots of the set beyond --keep are deleted.
import { renderBakeUserData } from "../../cloud-init/bake.js";
import { catalog } from "../../infra/catalog/index.js";
import { bakeSetFor, type BakeSet } from "../../infra/plan/bake.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { hcloud, listSnapshots, type HcloudSnapshot } from "../lib/cloud-api.js";
import { UsageError } from "../lib/cli.js";

/** One snapshot to make: a package set and the nodes that boot it (the first one's type and location bake it). */
export interface BakeTarget {
  set: BakeSet;
  nodes: NodePlan[];
}

/** The distinct package sets of the chosen nodes (all by default), in plan order. */
export function bakeTargets(plan: Plan, nodeKeys: string[] = []): BakeTarget[] {
  const unknown = nodeKeys.filter((k) => !plan.nodes.some((n) => n.key === k));
  if (unknown.length)
    throw new UsageError(
      `--node ${unknown.join(", ")}: no such node in stack ${plan.stack} (its nodes: ${plan.nodes.map((n) => n.key).join(", ")})`,
    );
  const chosen = nodeKeys.length ? plan.nodes.filter((n) => nodeKeys.includes(n.key)) : plan.nodes;
  const targets = new Map<string, BakeTarget>();
  for (const node of chosen) {
    const set = bakeSetFor(plan, node);
    const t = targets.get(set.hash) ?? { set, nodes: [] };
    t.nodes.push(node);
    targets.set(set.hash, t);
  }
  return [...targets.values()];
}

export interface BakeOptions {
  token: string;
  env: NodeJS.ProcessEnv;
  /** Bake even when a snapshot of the set exists. */
  force: boolean;
  /** Snapshots of a set kept after a bake (the newest ones). */
  keep: number;
  /** How long the bake server may take to install and power off. */
  timeoutSeconds: number;
  pollMs: number;
  log: (line: string) => void;
}

export interface BakeOutcome {
  hash: string;
  nodes: string[];
  /** The snapshot the set's nodes now boot. */
  imageId: number;
  sizeGb: number | null;
  /** A snapshot of the set already existed and --force was not given. */
  existing: boolean;
  seconds?: { server: number; install: number; snapshot: number; total: number };
  deleted: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const since = (t: number) => Math.round((Date.now() - t) / 100) / 10;

async function waitAction(id: number, what: string, o: BakeOptions, boundS = 600): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const a = await hcloud.action(id, o.token, o.env);
    if (a.status === "success") return;
    if (a.status === "error")
      throw new Error(`${what} failed: ${a.error?.code ?? "error"} ${a.error?.message ?? ""}`.trim());
    if (Date.now() - t0 > boundS * 1000) throw new Error(`${what} still ${a.status} after ${boundS} s`);
    await sleep(o.pollMs);
  }
}

/** Bakes one set; the bake server and its firewall are gone afterwards, also after a failure. */
export async function bakeOne(t: BakeTarget, o: BakeOptions): Promise<BakeOutcome> {
  const { set } = t;
  const nodes = t.nodes.map((n) => n.name);
  const existing = (await listSnapshots(set.selector, o.token, o.env)).filter((s) => s.status === "available");
  if (existing.length && !o.force) {
    o.log(
      `${set.hash}: snapshot ${existing[0]!.id} of ${existing[0]!.created} already holds this set (--force bakes again)`,
    );
    return {
      hash: set.hash,
      nodes,
      imageId: existing[0]!.id,
      sizeGb: existing[0]!.imageSize,
      existing: true,
      deleted: [],
    };
  }
  const first = t.nodes[0]!;
  const name = `xiopro-bake-${set.hash}`;
  const labels = { ...set.labels, "xiopro-bake-server": "true" };
  const t0 = Date.now();
  let firewallId: number | undefined;
  let serverId: number | undefined;
  let failed = false;
  try {
    firewallId = await hcloud.createFirewall(name, labels, o.token, o.env);
    const created = await hcloud.createServer(
      {
        name,
        server_type: first.serverType,
        image: set.image,
        location: first.location,
        user_data: renderBakeUserData(set),
        labels,
        firewalls: [{ firewall: firewallId }],
        public_net: { enable_ipv4: true, enable_ipv6: true },
        start_after_create: true,
      },
      o.token,
      o.env,
    );
    serverId = created.serverId;
    await waitAction(created.actionId, `creating bake server ${name}`, o);
    const server = since(t0);
    o.log(
      `${set.hash}: bake server ${serverId} (${first.serverType}, ${first.location}, ${set.image}) up after ${server} s; installing ${set.packages.length} packages`,
    );
    const t1 = Date.now();
    for (;;) {
      if ((await hcloud.serverStatus(serverId, o.token, o.env)) === "off") break;
      if (Date.now() - t1 > o.timeoutSeconds * 1000)
        throw new Error(
          `bake server ${name} did not power off within ${o.timeoutSeconds} s: it powers off only when every package is installed (a package that failed, or a mirror it could not reach: see /var/log/cloud-init-output.log on its console); raise --timeout-minutes for a slow mirror`,
        );
      await sleep(o.pollMs);
    }
    const install = since(t1);
    const t2 = Date.now();
    const snap = await hcloud.createSnapshot(
      serverId,
      `xiopro bake ${set.image} ${set.hash}: ${set.packages.length} packages`,
      set.labels,
      o.token,
      o.env,
    );
    await waitAction(snap.actionId, `snapshot of ${name}`, o, 1800);
    const image = await hcloud.image(snap.imageId, o.token, o.env);
    const snapshot = since(t2);
    const deleted = await prune(set, o, snap.imageId);
    return {
      hash: set.hash,
      nodes,
      imageId: snap.imageId,
      sizeGb: image.imageSize,
      existing: false,
      seconds: { server, install, snapshot, total: since(t0) },
      deleted,
    };
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    const left = await cleanUp(name, serverId, firewallId, o);
    // A bake that failed reports its own error; the leftovers are logged. Otherwise they are the error.
    if (left.length && failed) o.log(`${set.hash}: ${left.join("; ")}`);
    else if (left.length) throw new Error(left.join("; "));
  }
}

/** Deletes the bake server, then its firewall (Hetzner refuses to delete a firewall still applied). */
async function cleanUp(name: string, serverId: number | undefined, firewallId: number | undefined, o: BakeOptions) {
  const left: string[] = [];
  if (serverId !== undefined)
    try {
      await waitAction(await hcloud.deleteServer(serverId, o.token, o.env), `deleting bake server ${name}`, o);
    } catch (e) {
      left.push(`bake server ${serverId} (${name}) is left: ${(e as Error).message}; delete it in the Hetzner console`);
    }
  if (firewallId !== undefined)
    try {
      await hcloud.deleteFirewall(firewallId, o.token, o.env);
    } catch (e) {
      left.push(`firewall ${firewallId} (${name}) is left: ${(e as Error).message}; delete it in the Hetzner console`);
    }
  return left;
}

/** Deletes the set's snapshots beyond the newest `keep` (never the one just made). */
async function prune(set: BakeSet, o: BakeOptions, made: number): Promise<number[]> {
  const all: HcloudSnapshot[] = await listSnapshots(set.selector, o.token, o.env);
  const old = all.filter((s) => s.id !== made).slice(Math.max(0, o.keep - 1));
  for (const s of old) await hcloud.deleteImage(s.id, o.token, o.env);
  return old.map((s) => s.id);
}

/** Monthly EUR of keeping snapshots of these sizes (the dated catalog's per-GB rate). */
export const snapshotMonthly = (sizesGb: number[]) => sizesGb.reduce((a, b) => a + b, 0) * catalog.snapshotPerGbMonth;
