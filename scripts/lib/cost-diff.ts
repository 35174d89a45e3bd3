// The cost diff between two cost documents: per resource and total, which servers a change would
// create, replace or rescale (and what Hetzner bills for that), and which ports open or close.
// Pure: documents and the catalog in, a CostDiff out.
import { existingRate, EXISTING_RATE_CUTOFF, newOrderPrice, type Catalog } from "../../infra/catalog/index.js";
import type { ExposureClass } from "../../infra/catalog/services.js";
import { backupsEur, type CostLine } from "../../infra/plan/cost.js";
import {
  totalCents,
  type CostDocument,
  type CostSource,
  type ExposureFacts,
  type ServerFacts,
} from "./cost-document.js";

/** `change`: the same stack before and after a change; `compare`: two stacks side by side. */
export type DiffMode = "change" | "compare";
export type RowStatus = "added" | "removed" | "changed" | "unchanged";

export interface DiffRow {
  /** The resource id as shown: the head's, or the base's when removed. */
  resource: string;
  kind: CostLine["kind"];
  status: RowStatus;
  baseEur?: number;
  headEur?: number;
  deltaEur: number;
  description: string;
  estimated: boolean;
  notes: string[];
}

export type ServerAction = "create" | "delete" | "replace" | "rescale" | "update-in-place" | "none";

export interface ServerChange {
  name: string;
  node: string;
  action: ServerAction;
  /** Why the action: "location fsn1 → nbg1", "user-data changed (userDataChange: replace)", … */
  reasons: string[];
  base?: ServerFacts;
  head?: ServerFacts;
  /** The catalog price the new order or rescale is billed at (head type, head location). */
  newOrderEur?: number;
  /** The rate the running server pays if it was ordered before the repricing (base type and location). */
  existingRateEur?: number;
  /** Monthly increase (server and backups) over that existing rate, when it differs from the catalog price. */
  extraIfExistingEur?: number;
  /** Set when the replacement could be avoided; says how. */
  avoidable?: string;
  warnings: string[];
}

export interface ExposureChange {
  change: "opened" | "closed" | "reclassified";
  class: ExposureClass;
  fromClass?: ExposureClass;
  node: string;
  service: string;
  interface: string;
  port: number;
  protocol: "tcp" | "udp";
  justification: string;
}

export interface DiffSide {
  label: string;
  stack: string;
  source: CostSource;
  sourceDetail: string;
  catalogDate: string;
  monthlyEur: number;
  yearlyEur: number;
  /** Billed by another provider, not in the totals (CostPlan.elsewhere). */
  elsewhere: string[];
}

export interface CostDiff {
  mode: DiffMode;
  base: DiffSide;
  head: DiffSide;
  rows: DiffRow[];
  deltaMonthlyEur: number;
  deltaYearlyEur: number;
  servers: ServerChange[];
  exposure: ExposureChange[];
  /** Sentences a reviewer must read (avoidable replacements, public ports opened, …). */
  warnings: string[];
  /** The head's Mermaid topology, and whether it differs from the base's. */
  topology: string;
  topologyChanged: boolean;
}

const cents = (eur: number) => Math.round(eur * 100);
const eur = (c: number) => c / 100;
const money = (e: number) => e.toFixed(2);

/** In compare mode the environment prefix of names is dropped, so prd-node-a meets tst-node-a. */
function keyOf(doc: CostDocument, id: string, mode: DiffMode): string {
  if (mode === "change") return id;
  const env = doc.environment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return id.replace(new RegExp(`(^|:)${env}-`, "g"), "$1");
}

/**
 * What the change does to one server, in Hetzner's terms. Location and image force a new server
 * (the provider replaces); a user-data change does too under `userDataChange: replace`, while
 * `in-place` pushes it over the admin path; a server-type change alone is a rescale. Replacements
 * and rescales are new orders at the catalog's current price.
 */
export function serverChange(
  base: ServerFacts | undefined,
  head: ServerFacts | undefined,
  cat: Catalog,
  backupsBase: boolean,
  backupsHead: boolean,
): ServerChange {
  const name = head?.name ?? base!.name;
  const node = head?.node ?? base!.node;
  const warnings: string[] = [];
  if (!base) {
    const price = newOrderPrice(cat, head!.serverType, head!.location);
    return {
      name,
      node,
      action: "create",
      reasons: [`new server ${head!.serverType} in ${head!.location}`],
      head,
      newOrderEur: price,
      warnings,
    };
  }
  if (!head) return { name, node, action: "delete", reasons: ["server removed"], base, warnings };

  const replaceReasons: string[] = [];
  if (base.location !== head.location) replaceReasons.push(`location ${base.location} → ${head.location}`);
  if (base.image !== undefined && head.image !== undefined && base.image !== head.image)
    replaceReasons.push(`image ${base.image} → ${head.image}`);
  const userDataKnown = base.userDataFingerprint !== undefined && head.userDataFingerprint !== undefined;
  const userDataChanged = userDataKnown && base.userDataFingerprint !== head.userDataFingerprint;
  const policy = head.userDataChange ?? "replace";
  // Replaced for its user-data alone: `in-place` would keep the server (or make it a rescale).
  let userDataOnly = false;
  if (userDataChanged && policy === "replace") {
    userDataOnly = replaceReasons.length === 0;
    replaceReasons.push("user-data changed (userDataChange: replace)");
  }
  if (!userDataKnown)
    warnings.push(
      `user-data changes of ${name} cannot be detected (the ${base.userDataFingerprint === undefined ? "base" : "head"} has no user-data fingerprint; a stack deployed before this version): the resource changes of pulumi preview are authoritative`,
    );
  if (base.userDataChange === "in-place" && head.userDataChange === "replace") {
    warnings.push(
      `${name} switches userDataChange from in-place to replace: Pulumi compares against the user-data recorded when the server was created, so any change since then replaces it; check the resource changes`,
    );
  }
  const typeChanged = base.serverType !== head.serverType;
  const action: ServerAction =
    replaceReasons.length > 0 ? "replace" : typeChanged ? "rescale" : userDataChanged ? "update-in-place" : "none";
  const reasons = [...replaceReasons];
  if (typeChanged) reasons.unshift(`server type ${base.serverType} → ${head.serverType}`);
  if (action === "update-in-place")
    reasons.push("user-data changed: pushed over the admin path, no replacement (userDataChange: in-place)");

  const change: ServerChange = { name, node, action, reasons, base, head, warnings };
  if (action === "replace" || action === "rescale") {
    change.newOrderEur = newOrderPrice(cat, head.serverType, head.location);
    const existing = existingRate(cat, base.serverType, base.location);
    const catalogBase = newOrderPrice(cat, base.serverType, base.location);
    if (change.newOrderEur === undefined)
      warnings.push(`${head.serverType} has no price in ${head.location} in the catalog`);
    if (existing !== undefined && existing !== catalogBase && change.newOrderEur !== undefined) {
      change.existingRateEur = existing;
      const withBackups = (price: number, on: boolean) =>
        cents(price) + (on ? cents(backupsEur(price, cat.backupPercent)) : 0);
      change.extraIfExistingEur = eur(
        withBackups(change.newOrderEur, backupsHead) - withBackups(existing, backupsBase),
      );
    }
    if (userDataOnly) {
      change.avoidable = typeChanged
        ? `${name} is replaced because its user-data changed: with \`userDataChange: in-place\` the user-data is pushed over the admin path and the type change is a rescale, which keeps the server and its local disk (billed at the same new-order price)`
        : `only the user-data of ${name} changed: with \`userDataChange: in-place\` it is pushed over the admin path and the server, its addresses and its rate stay`;
    }
    const from = cat.serverTypes[base.serverType];
    const to = cat.serverTypes[head.serverType];
    if (action === "rescale" && from && to) {
      if (to.diskGb < from.diskGb)
        warnings.push(
          `Hetzner cannot shrink a server's disk: rescaling ${name} from ${base.serverType} (${from.diskGb} GB) to ${head.serverType} (${to.diskGb} GB) is refused at pulumi up (the preview does not show it); replace the server instead`,
        );
      if (to.architecture !== from.architecture)
        warnings.push(
          `${name}: Hetzner cannot rescale between ${from.architecture} and ${to.architecture}; this needs a new server (and an image for ${to.architecture})`,
        );
    }
  }
  return change;
}

function exposureDiff(base: CostDocument, head: CostDocument, mode: DiffMode): ExposureChange[] {
  const key = (d: CostDocument, e: ExposureFacts) =>
    `${keyOf(d, e.node, mode)}|${e.service}|${e.interface}|${e.protocol}/${e.port}`;
  const b = new Map(base.exposure.map((e) => [key(base, e), e]));
  const h = new Map(head.exposure.map((e) => [key(head, e), e]));
  const out: ExposureChange[] = [];
  const row = (change: ExposureChange["change"], e: ExposureFacts, fromClass?: ExposureClass): ExposureChange => ({
    change,
    class: e.class,
    ...(fromClass ? { fromClass } : {}),
    node: e.node,
    service: e.service,
    interface: e.interface,
    port: e.port,
    protocol: e.protocol,
    justification: e.justification,
  });
  for (const [k, e] of h) {
    const was = b.get(k);
    if (!was) out.push(row("opened", e));
    else if (was.class !== e.class) out.push(row("reclassified", e, was.class));
  }
  for (const [k, e] of b) if (!h.has(k)) out.push(row("closed", e));
  const order = { A: 0, B: 1, C: 2, D: 3 } as Record<string, number>;
  return out.sort(
    (x, y) =>
      (order[x.class] ?? 9) - (order[y.class] ?? 9) ||
      x.node.localeCompare(y.node) ||
      x.port - y.port ||
      x.protocol.localeCompare(y.protocol),
  );
}

export interface DiffOptions {
  mode: DiffMode;
  catalog: Catalog;
  labels?: { base: string; head: string };
}

export function diffCost(base: CostDocument, head: CostDocument, opts: DiffOptions): CostDiff {
  const { mode, catalog: cat } = opts;
  const bLines = new Map(base.cost.lines.map((l) => [keyOf(base, l.resource, mode), l]));
  const hLines = new Map(head.cost.lines.map((l) => [keyOf(head, l.resource, mode), l]));

  // Servers first: their actions annotate the server and backups rows.
  const servers: ServerChange[] = [];
  if (mode === "change") {
    const bServers = new Map(base.servers.map((s) => [s.name, s]));
    const hServers = new Map(head.servers.map((s) => [s.name, s]));
    for (const name of [...hServers.keys(), ...[...bServers.keys()].filter((n) => !hServers.has(n))]) {
      const hasBackups = (d: CostDocument, s?: ServerFacts) =>
        s !== undefined && (s.backups ?? d.cost.lines.some((l) => l.resource === `backups:${s.name}`));
      servers.push(
        serverChange(
          bServers.get(name),
          hServers.get(name),
          cat,
          hasBackups(base, bServers.get(name)),
          hasBackups(head, hServers.get(name)),
        ),
      );
    }
  }
  const byServer = new Map(servers.map((s) => [s.name, s]));

  const rows: DiffRow[] = [];
  const keys = [...hLines.keys(), ...[...bLines.keys()].filter((k) => !hLines.has(k))];
  for (const k of keys) {
    const b = bLines.get(k);
    const h = hLines.get(k);
    const shown = (h ?? b)!;
    const delta = cents(h?.monthlyEur ?? 0) - cents(b?.monthlyEur ?? 0);
    const status: RowStatus = !b
      ? "added"
      : !h
        ? "removed"
        : delta !== 0 || b.description !== h.description
          ? "changed"
          : "unchanged";
    const notes: string[] = [];
    const serverName = /^(?:server|backups):(.+)$/.exec(shown.resource)?.[1];
    const sc = serverName ? byServer.get(serverName) : undefined;
    if (sc && shown.kind === "server" && sc.action !== "none") notes.push(serverNote(sc));
    else if (b && h && b.description !== h.description) notes.push(`${b.description} → ${h.description}`);
    else if (b && h && delta !== 0) notes.push(`catalog price ${b.unitPriceEur} → ${h.unitPriceEur} per ${h.unit}`);
    if (sc && shown.kind === "backups" && (sc.action === "replace" || sc.action === "rescale"))
      notes.push(`${opts.catalog.backupPercent} % of the server's new-order price`);
    rows.push({
      resource: shown.resource,
      kind: shown.kind,
      status,
      baseEur: b?.monthlyEur,
      headEur: h?.monthlyEur,
      deltaEur: eur(delta),
      description: shown.description,
      estimated: (h ?? b)!.estimated,
      notes,
    });
  }

  const exposure = exposureDiff(base, head, mode);
  const warnings: string[] = [];
  if (base.source !== "none" && base.cost.catalogDate !== head.cost.catalogDate)
    warnings.push(
      `the price catalog changed from ${base.cost.catalogDate} to ${head.cost.catalogDate}: unchanged resources may show a price change`,
    );
  if (mode === "change" && base.source !== "none" && base.source !== head.source)
    warnings.push(
      `the base numbers come from ${base.source} and the head's from ${head.source}: compare like with like where you can`,
    );
  for (const s of servers) {
    if (s.avoidable) warnings.push(`avoidable replacement: ${s.avoidable}`);
    warnings.push(...s.warnings);
  }
  for (const e of exposure.filter((x) => x.class === "A" && x.change !== "closed")) {
    warnings.push(
      `public port ${e.port}/${e.protocol} (${e.service}/${e.interface}) ${e.change === "opened" ? "opens" : `moves from class ${e.fromClass} to A`} on ${e.node}`,
    );
  }
  const side = (d: CostDocument, label: string): DiffSide => ({
    label,
    stack: d.stack,
    source: d.source,
    sourceDetail: d.sourceDetail,
    catalogDate: d.cost.catalogDate,
    monthlyEur: eur(totalCents(d.cost.lines)),
    yearlyEur: eur(totalCents(d.cost.lines) * 12),
    elsewhere: d.cost.elsewhere ?? [],
  });
  const labels =
    opts.labels ?? (mode === "compare" ? { base: base.stack, head: head.stack } : { base: "base", head: "head" });
  const deltaCents = totalCents(head.cost.lines) - totalCents(base.cost.lines);
  return {
    mode,
    base: side(base, labels.base),
    head: side(head, labels.head),
    rows,
    deltaMonthlyEur: eur(deltaCents),
    deltaYearlyEur: eur(deltaCents * 12),
    servers,
    exposure,
    warnings,
    topology: head.topology,
    topologyChanged: base.source !== "none" && base.topology !== head.topology,
  };
}

/** One line for the server's row: the action, why, and what Hetzner will bill (details in the callouts). */
export function serverNote(s: ServerChange): string {
  const order = s.newOrderEur !== undefined ? `new order at ${money(s.newOrderEur)}` : "new order (no catalog price)";
  const existing =
    s.existingRateEur !== undefined
      ? ` (a server ordered before ${EXISTING_RATE_CUTOFF} pays ${money(s.existingRateEur)})`
      : "";
  switch (s.action) {
    case "create":
      return `new server: ${order}`;
    case "delete":
      return "server removed";
    case "rescale":
      return `RESCALE (${s.reasons.join("; ")}): ${order}${existing}`;
    case "replace":
      return `REPLACEMENT (${s.reasons.join("; ")}): ${order}${existing}`;
    case "update-in-place":
      return "user-data changed: pushed over the admin path, no replacement";
    default:
      return "";
  }
}
