// npm run bake -- --stack <s> [--node KEY]... : Hetzner snapshots with the nodes' packages (ADR 0008).
import { loadStack } from "../lib/stack.js";
import { parseFlags, UsageError } from "../lib/cli.js";
import { bakeOne, bakeTargets, snapshotMonthly, type BakeOutcome } from "./bake.js";
import { BAKE_KEEP } from "../../infra/plan/bake.js";

const USAGE = `Usage: HCLOUD_TOKEN=… npm run bake -- --stack NAME [options]

Makes a Hetzner snapshot for each distinct package set of the stack's nodes: a bake server of the
node's type and location boots the stock image behind a firewall that admits nothing, installs the
packages the node's first boot would install (security updates included), powers off, and its disk
becomes a snapshot labelled xiopro-bake=<hash of image and packages>. Nodes with baked: true boot
the newest snapshot of their set when their server is created (a rebuild, a new node); running
servers keep their image. Server and firewall are deleted afterwards, also after a failure.

Options:
  --stack NAME            the stack
  --stack-file FILE       read the config from FILE instead of Pulumi.NAME.yaml
  --node KEY              bake this node's set only (repeatable; default: every node)
  --force                 bake even when a snapshot of the set exists
  --keep N                snapshots of a set kept, the newest (default ${BAKE_KEEP}; the cost counts them)
  --timeout-minutes M     how long installing may take before the bake fails (default 40)
  -h, --help

Environment: HCLOUD_TOKEN, an API token of the stack's Hetzner project with read and write access.`;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      node: { type: "string", multiple: true, default: [] },
      force: { type: "boolean", default: false },
      keep: { type: "string", default: String(BAKE_KEEP) },
      "timeout-minutes": { type: "string", default: "40" },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  if (!v.stack && !v["stack-file"]) return (console.error(`--stack is required\n\n${USAGE}`), 2);
  const keep = Number(v.keep);
  if (!Number.isInteger(keep) || keep < 1)
    return (
      console.error(`--keep ${JSON.stringify(v.keep)} is not a whole number >= 1: the snapshot just made is kept`),
      2
    );
  const minutes = Number(v["timeout-minutes"]);
  if (!Number.isInteger(minutes) || minutes < 5 || minutes > 180)
    return (
      console.error(`--timeout-minutes ${JSON.stringify(v["timeout-minutes"])} is not a whole number from 5 to 180`),
      2
    );
  const token = process.env.HCLOUD_TOKEN?.trim();
  if (!token)
    throw new UsageError(
      "HCLOUD_TOKEN is not set: export an API token of the stack's Hetzner project (read and write)",
    );
  const { plan } = loadStack({ stack: v.stack, stackFile: v["stack-file"] });
  const targets = bakeTargets(plan, v.node);
  const outcomes: BakeOutcome[] = [];
  let failed = 0;
  for (const t of targets) {
    console.log(
      `${t.set.hash}: ${t.set.image} with ${t.set.packages.length} packages for ${t.nodes.map((n) => n.name).join(", ")}`,
    );
    try {
      const r = await bakeOne(t, {
        token,
        env: process.env,
        force: v.force!,
        keep,
        timeoutSeconds: minutes * 60,
        pollMs: Number(process.env.XIOPRO_BAKE_POLL_MS ?? 5000),
        log: (l) => console.log(l),
      });
      outcomes.push(r);
      if (!r.existing)
        console.log(
          `${r.hash}: snapshot ${r.imageId}, ${r.sizeGb ?? "?"} GB, in ${r.seconds!.total} s (server ${r.seconds!.server} s, install ${r.seconds!.install} s, snapshot ${r.seconds!.snapshot} s)${r.deleted.length ? `; deleted older snapshots ${r.deleted.join(", ")}` : ""}`,
        );
    } catch (e) {
      failed++;
      console.error(`${t.set.hash}: bake failed: ${(e as Error).message}`);
    }
  }
  const sizes = outcomes.map((o) => o.sizeGb ?? 0);
  if (outcomes.length)
    console.log(
      `${outcomes.length} snapshot(s) for ${outcomes.flatMap((o) => o.nodes).join(", ")}: ${sizes.reduce((a, b) => a + b, 0).toFixed(2)} GB, ${snapshotMonthly(sizes).toFixed(2)} EUR/month each kept copy`,
    );
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof UsageError ? e.message : `bake failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
