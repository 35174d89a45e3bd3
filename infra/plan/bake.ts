// What `npm run bake` puts into a Hetzner snapshot and how a node finds it (ADR 0008): a stock
// image with a node's distro packages installed, named by the hash of the image, the architecture
// and the package set. A snapshot serves exactly the nodes that would install the same set at first boot.
import { createHash } from "node:crypto";
import type { NodePlan, Plan } from "./index.js";
import { packagesFor } from "./packages.js";

/** Snapshots of a set that `npm run bake` keeps by default (--keep): the newest and the one before. */
export const BAKE_KEEP = 2;

/**
 * A snapshot's size until a bake measures it (npm run bake prints the real one): the disk that
 * the bake user-data of tst's Node A (PostgreSQL, monitoring, ingress, backup tools) left on Debian
 * 13, 2008 MB of allocated blocks (test/vm/bake.sh, 2026-12-02); uncompressed, so at or above what
 * Hetzner bills.
 */
export const SNAPSHOT_GB_ESTIMATE = 2;

/** The label that carries the package set's hash, on the snapshot and in the node's image lookup. */
export const BAKE_LABEL = "xiopro-bake";

export interface BakeSet {
  /** The stock image the snapshot starts from (infra/catalog/images.ts). */
  image: string;
  /** A snapshot boots only servers of the architecture it was made on. */
  architecture: "x86" | "arm";
  /** The distro packages, sorted and each once. */
  packages: string[];
  /** 16 hex digits of SHA-256 over the image and the packages. */
  hash: string;
  /** The snapshot's labels. */
  labels: Record<string, string>;
  /** The label selector that finds the snapshots of this set (GET /v1/images?label_selector=…). */
  selector: string;
}

/** The set of a node (its image and architecture) with these packages. */
export function bakeSetOf(node: { image: string; architecture: "x86" | "arm" }, packages: readonly string[]): BakeSet {
  const { image, architecture } = node;
  const sorted = [...new Set(packages)].sort();
  const hash = createHash("sha256")
    .update([image, architecture, ...sorted].join("\n"))
    .digest("hex")
    .slice(0, 16);
  return {
    image,
    architecture,
    packages: sorted,
    hash,
    labels: {
      [BAKE_LABEL]: hash,
      "xiopro-image": image,
      "xiopro-architecture": architecture,
      "managed-by": "xiopro-infra",
    },
    selector: `${BAKE_LABEL}=${hash}`,
  };
}

/** The set a node of this plan boots when baked: its image, architecture and packages. */
export const bakeSetFor = (plan: Pick<Plan, "adminPath">, node: NodePlan): BakeSet =>
  bakeSetOf(node, packagesFor(plan, node));
