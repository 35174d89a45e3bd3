// Merges Hetzner's price list into the catalog. Pure: old catalog + snapshot in, new catalog and
// the list of what changed out. What the API does not price (Object Storage, Storage Boxes, server
// types it no longer sells, the rate existing servers kept) stays as it is, and is said so.
import type { Catalog, Deprecation } from "../../infra/catalog/index.js";
import type { Availability } from "../lib/server-types.js";
import type { PricingSnapshot } from "./hetzner.js";

export interface PriceChange {
  /** e.g. "server cx23 fsn1", "volume per GB-month". */
  what: string;
  from?: number;
  to: number;
  /** The old price was an estimate (not from Hetzner's API). */
  wasEstimated?: boolean;
}

export interface MergeResult {
  catalog: Catalog;
  changes: PriceChange[];
  /** Sentences on what was kept or skipped, and why. */
  notes: string[];
  /** True when the file must be rewritten (a price, an estimate flag or the date changed). */
  changed: boolean;
}

export const SYNC_SOURCE_WHAT = "GET /v1/pricing and /v1/server_types, read by npm run pricing:sync";

interface Priced {
  monthly: Record<string, number>;
  estimated?: boolean;
  estimatedLocations?: string[];
}

/** Prices of one type (server or load balancer) from the API; locations the API omits become estimates. */
interface Acc {
  changes: PriceChange[];
  notes: string[];
  /** "server cpx42 sin": estimates the API now confirms (unchanged price). */
  confirmed: string[];
  /** "server ccx13 hil = 46": prices the API no longer gives, kept as estimates. */
  nowEstimated: string[];
}

function mergeType(
  kind: string,
  name: string,
  t: Priced,
  api: Record<string, number>,
  known: Set<string>,
  acc: Acc,
): boolean {
  const { changes, notes } = acc;
  const oldEstimated = new Set(t.estimatedLocations ?? (t.estimated ? Object.keys(t.monthly) : []));
  let touched = false;
  for (const [loc, price] of Object.entries(api)) {
    if (!known.has(loc)) {
      notes.push(
        `${kind} ${name} is priced in ${loc}, which the catalog's locations do not list (skipped: add ${loc} with its city and network zone first)`,
      );
      continue;
    }
    const from = t.monthly[loc];
    if (from !== price) {
      changes.push({
        what: `${kind} ${name} ${loc}`,
        from,
        to: price,
        ...(oldEstimated.has(loc) ? { wasEstimated: true } : {}),
      });
      t.monthly[loc] = price;
      touched = true;
    }
  }
  const unpriced = Object.keys(t.monthly).filter((loc) => !(loc in api));
  for (const loc of unpriced)
    if (!oldEstimated.has(loc)) acc.nowEstimated.push(`${kind} ${name} ${loc} = ${t.monthly[loc]}`);
  for (const loc of oldEstimated)
    if (loc in api && known.has(loc) && !changes.some((c) => c.what === `${kind} ${name} ${loc}`))
      acc.confirmed.push(`${kind} ${name} ${loc}`);
  const before = JSON.stringify([t.estimated, t.estimatedLocations]);
  if (unpriced.length > 0) {
    t.estimated = true;
    t.estimatedLocations = unpriced;
  } else {
    delete t.estimated;
    delete t.estimatedLocations;
  }
  return touched || before !== JSON.stringify([t.estimated, t.estimatedLocations]);
}

/** One catalog price for all locations: the API's, or the highest where locations differ. */
function single(
  what: string,
  old: number,
  api: Record<string, number>,
  known: Set<string>,
  changes: PriceChange[],
  notes: string[],
): number {
  const values = Object.entries(api).filter(([loc]) => known.has(loc));
  if (values.length === 0) {
    notes.push(`${what}: not in the API response (kept ${old})`);
    return old;
  }
  const distinct = [...new Set(values.map(([, v]) => v))];
  const to = Math.max(...distinct);
  if (distinct.length > 1)
    notes.push(
      `${what} differs by location (${values.map(([l, v]) => `${l} ${v}`).join(", ")}): the catalog keeps one price, the highest`,
    );
  if (to !== old) changes.push({ what, from: old, to });
  return to;
}

export interface MergeOptions {
  /** Date the prices are valid from; the catalog's stays unless this is given. */
  catalogDate?: string;
  /** Today (YYYY-MM-DD), recorded as compiledOn and in the source entry when something changed. */
  today: string;
  /** Where the prices were read, for the source entry. */
  endpoint: string;
}

/**
 * The catalog types' deprecations from GET /v1/server_types, per catalog location; a note for each
 * that changed, and for a priced location where the API no longer offers the type.
 */
function mergeDeprecations(cat: Catalog, a: Availability, known: Set<string>, notes: string[]): boolean {
  let changed = false;
  for (const [name, t] of Object.entries(cat.serverTypes)) {
    const live = a[name];
    if (!live) continue; // the price merge already notes a type the API does not know
    const now = Object.fromEntries(
      Object.entries(live)
        .filter((e): e is [string, Deprecation] => e[1] !== null && known.has(e[0]))
        .sort(([x], [y]) => x.localeCompare(y)),
    );
    const before = t.deprecations ?? {};
    for (const [loc, d] of Object.entries(now))
      if (JSON.stringify(before[loc]) !== JSON.stringify(d))
        notes.push(
          `server ${name} deprecated in ${loc}: announced ${d.announced}, new servers until ${d.unavailableAfter}`,
        );
    for (const loc of Object.keys(before))
      if (!(loc in now)) notes.push(`server ${name} is no longer marked deprecated in ${loc}`);
    const offered = Object.keys(t.monthly).filter((loc) => !(loc in live));
    if (offered.length > 0)
      notes.push(`server ${name} is priced in ${offered.join(", ")}, but GET /v1/server_types does not offer it there`);
    if (JSON.stringify(before) !== JSON.stringify(now)) {
      changed = true;
      if (Object.keys(now).length > 0) t.deprecations = now;
      else delete t.deprecations;
    }
  }
  return changed;
}

export function mergeCatalog(
  old: Catalog,
  snap: PricingSnapshot,
  opts: MergeOptions,
  availability: Availability = {},
): MergeResult {
  const cat = structuredClone(old);
  const acc: Acc = { changes: [], notes: [], confirmed: [], nowEstimated: [] };
  const { changes, notes } = acc;
  const known = new Set(Object.keys(cat.locations));
  let changed = mergeDeprecations(cat, availability, known, notes);

  for (const [name, t] of Object.entries(cat.serverTypes)) {
    const api = snap.serverTypes[name];
    if (!api) {
      notes.push(`server ${name} is not in the API response: kept as it is (retired, or sold elsewhere)`);
      continue;
    }
    changed = mergeType("server", name, t, api, known, acc) || changed;
  }
  const unknownTypes = Object.keys(snap.serverTypes)
    .filter((n) => !cat.serverTypes[n])
    .sort();
  if (unknownTypes.length > 0)
    notes.push(
      `server types priced by the API but not in the catalog (skipped; a type needs its specs from GET /v1/server_types before stacks may use it): ${unknownTypes.join(", ")}`,
    );

  for (const [name, api] of Object.entries(snap.loadBalancerTypes)) {
    // Load balancer types carry no specs: a new one is simply added.
    const t = (cat.loadBalancerTypes[name] ??= { monthly: {} }) as Priced;
    changed = mergeType("load balancer", name, t, api, known, acc) || changed;
  }

  if (acc.confirmed.length > 0)
    notes.push(`estimated prices the API confirms (no longer marked estimated): ${acc.confirmed.join(", ")}`);
  if (acc.nowEstimated.length > 0)
    notes.push(`prices the API does not give any more (kept, now marked estimated): ${acc.nowEstimated.join(", ")}`);
  const n = changes.length;
  cat.primaryIp.ipv4 = single(
    "primary IPv4 per month",
    cat.primaryIp.ipv4,
    snap.primaryIps.ipv4,
    known,
    changes,
    notes,
  );
  cat.primaryIp.ipv6 = single(
    "primary IPv6 per month",
    cat.primaryIp.ipv6,
    snap.primaryIps.ipv6,
    known,
    changes,
    notes,
  );
  const scalar = (what: string, from: number, to: number) => (from !== to && changes.push({ what, from, to }), to);
  cat.volumePerGbMonth = scalar("volume per GB-month", cat.volumePerGbMonth, snap.volumePerGbMonth);
  cat.snapshotPerGbMonth = scalar("snapshot/image per GB-month", cat.snapshotPerGbMonth, snap.imagePerGbMonth);
  cat.backupPercent = scalar("backups, % of the server price", cat.backupPercent, snap.backupPercent);
  changed = changed || changes.length > n;
  notes.push(
    "not priced by the API (kept): Object Storage, Storage Boxes, and the rate servers ordered before 2026-06-15 kept (monthlyApril2026Existing)",
  );

  if (opts.catalogDate && opts.catalogDate !== cat.catalogDate) {
    notes.push(`catalogDate ${cat.catalogDate} → ${opts.catalogDate} (--catalog-date)`);
    cat.catalogDate = opts.catalogDate;
    changed = true;
  } else if (changes.length > 0 && !opts.catalogDate) {
    notes.push(
      `catalogDate stays ${cat.catalogDate} (the date the prices are valid from); if Hetzner changed prices on another date, rerun with --catalog-date YYYY-MM-DD`,
    );
  }
  if (changed) {
    cat.compiledOn = opts.today;
    const entry = {
      url: `${opts.endpoint.replace(/\/+$/, "")}/pricing`,
      what: `${SYNC_SOURCE_WHAT} (net prices; VAT rate ${snap.vatRate} % not included)`,
      published: opts.today,
    };
    cat.sources = [...cat.sources.filter((s) => !s.what.startsWith(SYNC_SOURCE_WHAT)), entry];
  }
  return { catalog: cat, changes, notes, changed };
}

const show = (v: number | undefined) => (v === undefined ? "(none)" : String(v));

export function formatChanges(r: MergeResult): string {
  const rows = r.changes.map((c) => [c.what, `${show(c.from)}${c.wasEstimated ? " (estimated)" : ""}`, String(c.to)]);
  const w = [0, 1].map((i) => Math.max(0, ...rows.map((x) => x[i]!.length)));
  const lines =
    r.changes.length === 0
      ? ["No price changed."]
      : [
          `${r.changes.length} price${r.changes.length === 1 ? "" : "s"} changed (old → new, EUR net):`,
          ...rows.map(([a, b, c]) => `  ${a!.padEnd(w[0]!)}  ${b!.padStart(w[1]!)} → ${c}`),
        ];
  return [...lines, ...(r.notes.length ? ["", ...r.notes.map((n) => `note: ${n}`)] : [])].join("\n");
}
