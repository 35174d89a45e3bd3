// What the stack's last `pulumi up` left, read back from its own outputs (the program's `nodes`
// output), and the config changes that must be refused against it before anything is declared:
// a change Hetzner or the data cannot take in place fails here, with its key and fix, instead of
// half-way through an update.
import { z } from "zod";
import { IMAGES } from "../catalog/images.js";
import { own, type Problem } from "../catalog/schema.js";
import type { ServiceSpec } from "../catalog/service-spec.js";
import { SERVICE_CATALOG } from "../catalog/services.js";
import { PROJECT, serviceOptions, type StackConfig } from "./keys.js";
import { listedServices, stackNodes, type StackNode } from "./stack-nodes.js";

/** The deployed facts the guards compare against. */
export interface Deployed {
  /** Hetzner volume name → size in GB. */
  volumeSizes: Record<string, number>;
  /** Server name → the image it was created from. */
  images: Record<string, string>;
}

export const NOTHING_DEPLOYED: Deployed = { volumeSizes: {}, images: {} };

// Only the fields the guards read; an output of an older version without them reads as nothing.
const nodesOutput = z.record(
  z.string(),
  z
    .object({
      name: z.string().optional(),
      image: z.string().optional(),
      volumes: z.array(z.object({ name: z.string(), sizeGb: z.number() })).optional(),
    })
    .loose(),
);

/** Reads the `nodes` output of the stack's previous deployment (undefined: a new stack). */
export function deployedFromOutputs(nodes: unknown): Deployed {
  const parsed = nodesOutput.safeParse(nodes ?? {});
  if (!parsed.success) return NOTHING_DEPLOYED;
  const volumeSizes: Record<string, number> = {};
  const images: Record<string, string> = {};
  for (const n of Object.values(parsed.data)) {
    for (const v of n.volumes ?? []) volumeSizes[v.name] = v.sizeGb;
    if (n.name && n.image) images[n.name] = n.image;
  }
  return { volumeSizes, images };
}

/**
 * A database node whose new image brings another PostgreSQL major version: its server is replaced,
 * and the new one refuses to start beside the old cluster on the volume. Only on purpose, named
 * exactly (postgresql.majorVersionChange): up after a fresh backup, down only back to a cluster that
 * is still on the volume.
 */
function majorVersionProblem(node: StackNode, deployed: Deployed, acknowledged: string | undefined): Problem[] {
  const was = deployed.images[node.name];
  const before = was === undefined ? undefined : own(IMAGES, was)?.postgresql;
  const after = own(IMAGES, node.config.image)?.postgresql;
  if (before === undefined || after === undefined || before === after || acknowledged === `${before}->${after}`)
    return [];
  const change = `${JSON.stringify(node.config.image)} runs PostgreSQL ${after}, but ${node.name} runs ${before} (image ${was})`;
  const ack = `${PROJECT}:postgresql.majorVersionChange: "${before}->${after}"`;
  return [
    {
      key: `${PROJECT}:${node.path}.image`,
      message:
        after > before
          ? `${change}: the new server would not start the ${before} cluster on its volume`
          : `${change}: a PostgreSQL ${after} server cannot start a ${before} cluster`,
      fix:
        after > before
          ? `take a fresh backup and follow docs/runbooks/postgresql-upgrade.md, then set ${ack}; or keep image ${was}`
          : `keep image ${was}; only when the volume still holds the ${after} cluster (an upgrade rolled back before its new cluster started), set ${ack}`,
    },
  ];
}

/** Changes the deployed stack cannot take: every one, with its config key. */
export function deployedProblems(config: StackConfig, deployed: Deployed): Problem[] {
  const problems = new Map<string, Problem>();
  const { majorVersionChange } = serviceOptions(
    config,
    SERVICE_CATALOG.postgresql as ServiceSpec<{ majorVersionChange?: string }>,
  );
  for (const node of stackNodes(config)) {
    if (listedServices(node.config).includes("postgresql"))
      for (const p of majorVersionProblem(node, deployed, majorVersionChange)) problems.set(p.key, p);
    node.config.volumes.forEach((v, i) => {
      const name = `${node.name}-${v.name}`;
      const was = deployed.volumeSizes[name];
      if (was === undefined || v.sizeGb >= was) return;
      // A pool's members share one config entry: one problem for it.
      const key = `${PROJECT}:${node.path}.volumes[${i}].sizeGb`;
      if (!problems.has(key))
        problems.set(key, {
          key,
          message: `${v.sizeGb} GB is smaller than volume ${name} already is (${was} GB): Hetzner volumes only grow`,
          fix: `keep ${was} GB or more; to get a smaller volume, move the data to a new one (docs/runbooks/volume-grow.md)`,
        });
    });
  }
  return [...problems.values()];
}
