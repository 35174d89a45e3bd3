// Monthly cost from the dated catalog. Money is computed in integer ten-thousandths of a euro
// (catalog precision) and each line is rounded half-up to the cent, as an invoice line would be.
import type { Catalog } from "../catalog/index.js";
import type { Plan } from "./index.js";
import { BAKE_KEEP, bakeSetFor, SNAPSHOT_GB_ESTIMATE } from "./bake.js";

export interface CostLine {
  /** Stable id of the priced thing, e.g. `server:prd-node-a`. */
  resource: string;
  kind:
    | "server"
    | "backups"
    | "primary-ipv4"
    | "primary-ipv6"
    | "volume"
    | "object-storage"
    | "storage-box"
    | "load-balancer"
    | "snapshot";
  description: string;
  quantity: number;
  unit: string;
  unitPriceEur: number;
  monthlyEur: number;
  /** An estimate: a catalog price not verified from Hetzner's API, or a size not measured yet (snapshots). */
  estimated: boolean;
}

export interface CostPlan {
  currency: "EUR";
  vat: "excluded";
  catalogDate: string;
  lines: CostLine[];
  monthlyEur: number;
  yearlyEur: number;
  /** What the stack uses but another provider bills (an off-site repository): not in the total. */
  elsewhere?: string[];
}

const SCALE = 10_000;

/** Integer ten-thousandths of a euro; throws on more precision than the catalog allows. */
export function toUnits(eur: number): number {
  const units = Math.round(eur * SCALE);
  if (Math.abs(units - eur * SCALE) > 1e-6) throw new Error(`price ${eur} has more than 4 decimals`);
  return units;
}

/** Rounds ten-thousandths to whole cents, half up. */
function unitsToCents(units: number): number {
  return Math.floor((units + 50) / 100);
}

/** A line's monthly amount: unit price × quantity, rounded half up to the cent. */
export function lineEur(unitPriceEur: number, quantity = 1): number {
  return unitsToCents(toUnits(unitPriceEur) * quantity) / 100;
}

/** Hetzner backups: a percentage of the server price, computed on the unrounded price. */
export function backupsEur(serverPriceEur: number, percent: number): number {
  return unitsToCents((toUnits(serverPriceEur) * percent) / 100) / 100;
}

function line(l: Omit<CostLine, "monthlyEur">): CostLine {
  return { ...l, monthlyEur: lineEur(l.unitPriceEur, l.quantity) };
}

export function computeCost(plan: Omit<Plan, "cost">, cat: Catalog): CostPlan {
  const lines: CostLine[] = [];
  for (const node of plan.nodes) {
    const type = cat.serverTypes[node.serverType]!;
    const price = type.monthly[node.location]!;
    const estimated = (type.estimatedLocations ?? (type.estimated ? Object.keys(type.monthly) : [])).includes(
      node.location,
    );
    const server = line({
      resource: `server:${node.name}`,
      kind: "server",
      description: `${node.serverType} in ${node.location} (${type.cores} vCPU, ${type.memoryGb} GB)`,
      quantity: 1,
      unit: "month",
      unitPriceEur: price,
      estimated,
    });
    lines.push(server);
    if (node.backups) {
      const units = (toUnits(price) * cat.backupPercent) / 100;
      lines.push({
        resource: `backups:${node.name}`,
        kind: "backups",
        description: `Hetzner backups (+${cat.backupPercent} % of ${node.serverType})`,
        quantity: 1,
        unit: "month",
        unitPriceEur: units / SCALE,
        monthlyEur: backupsEur(price, cat.backupPercent),
        estimated,
      });
    }
    if (node.publicIpv4)
      lines.push(
        line({
          resource: `primary-ipv4:${node.name}`,
          kind: "primary-ipv4",
          description: "primary IPv4",
          quantity: 1,
          unit: "month",
          unitPriceEur: cat.primaryIp.ipv4,
          estimated: false,
        }),
      );
    if (node.publicIpv6)
      lines.push(
        line({
          resource: `primary-ipv6:${node.name}`,
          kind: "primary-ipv6",
          description: "primary IPv6 (/64)",
          quantity: 1,
          unit: "month",
          unitPriceEur: cat.primaryIp.ipv6,
          estimated: false,
        }),
      );
    for (const v of node.volumes) {
      lines.push(
        line({
          resource: `volume:${v.name}`,
          kind: "volume",
          description: `volume ${v.sizeGb} GB at ${v.mountPoint}`,
          quantity: v.sizeGb,
          unit: "GB-month",
          unitPriceEur: cat.volumePerGbMonth,
          estimated: false,
        }),
      );
    }
  }
  const lb = plan.loadBalancer;
  if (lb)
    lines.push(
      line({
        resource: `load-balancer:${lb.name}`,
        kind: "load-balancer",
        description: `load balancer ${lb.type} in ${lb.location} (public IPv4 and IPv6 included; managed certificate free)`,
        quantity: 1,
        unit: "month",
        unitPriceEur: cat.loadBalancerTypes[lb.type]!.monthly[lb.location]!,
        estimated: cat.loadBalancerTypes[lb.type]!.estimated ?? false,
      }),
    );
  // Baked nodes boot snapshots that `npm run bake` keeps (BAKE_KEEP per package set): billed per GB
  // stored, their size known only after a bake, so estimated here.
  const sets = new Map<string, { image: string; packages: number; nodes: string[] }>();
  for (const node of plan.nodes.filter((n) => n.baked)) {
    const set = bakeSetFor(plan, node);
    const s = sets.get(set.hash) ?? { image: set.image, packages: set.packages.length, nodes: [] };
    s.nodes.push(node.name);
    sets.set(set.hash, s);
  }
  for (const [hash, s] of sets)
    lines.push(
      line({
        resource: `snapshot:${hash}`,
        kind: "snapshot",
        description: `${BAKE_KEEP} baked snapshots of ${s.image} with ${s.packages} packages (${s.nodes.join(", ")}), ~${SNAPSHOT_GB_ESTIMATE} GB each (npm run bake prints the real sizes)`,
        quantity: BAKE_KEEP * SNAPSHOT_GB_ESTIMATE,
        unit: "GB-month",
        unitPriceEur: cat.snapshotPerGbMonth,
        estimated: true,
      }),
    );
  const repo = plan.backup.repository;
  if (repo.kind === "s3" && repo.endpoint?.endsWith(".your-objectstorage.com")) {
    lines.push(
      line({
        resource: "object-storage:backups",
        kind: "object-storage",
        description: `Hetzner Object Storage base (${cat.objectStorage.includedStorageTb} TB storage + ${cat.objectStorage.includedEgressTb} TB egress included; one per Hetzner project)`,
        quantity: 1,
        unit: "month",
        unitPriceEur: cat.objectStorage.baseMonthly,
        estimated: false,
      }),
    );
  }
  // A box the stack creates is priced by its type; an existing one (host given) as the smallest.
  const boxType =
    repo.kind === "sftp"
      ? (repo.createStorageBox?.type ?? (repo.host?.endsWith(".your-storagebox.de") ? "bx11" : undefined))
      : undefined;
  if (boxType) {
    const box = cat.storageBox[boxType]!;
    lines.push(
      line({
        resource: "storage-box:backups",
        kind: "storage-box",
        description: `Hetzner Storage Box ${boxType.toUpperCase()} (${box.sizeTb} TB)${repo.createStorageBox ? ", created by the stack" : ""}`,
        quantity: 1,
        unit: "month",
        unitPriceEur: box.monthly,
        estimated: box.estimated ?? false,
      }),
    );
  }
  const cents = lines.reduce((sum, l) => sum + Math.round(l.monthlyEur * 100), 0);
  // A repository at another provider has a bill of its own: said, so the total is not taken for all.
  const off = plan.backup.offsite;
  const offHost = off?.kind === "s3" ? off.endpoint && new URL(off.endpoint).hostname : off?.host;
  const elsewhere =
    off && off.kind !== "posix"
      ? [`the off-site backup repository (${off.kind}, ${offHost}): billed by its provider`]
      : [];
  return {
    currency: "EUR",
    vat: "excluded",
    catalogDate: cat.catalogDate,
    lines,
    monthlyEur: cents / 100,
    yearlyEur: (cents * 12) / 100,
    ...(elsewhere.length ? { elsewhere } : {}),
  };
}
