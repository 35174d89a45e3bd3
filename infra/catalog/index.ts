// The dated Hetzner price catalog (docs/architecture.md D7). Prices are net EUR per month.
// The data lives in hetzner-prices.json; `npm run pricing:sync` refreshes it from the API.
import raw from "./hetzner-prices.json" with { type: "json" };

export interface ServerTypeInfo {
  family: string;
  cores: number;
  memoryGb: number;
  diskGb: number;
  architecture: "x86" | "arm";
  cpuType: "shared" | "dedicated";
  /** Monthly net EUR per location where the type is sold. */
  monthly: Record<string, number>;
  /** Rate of servers ordered before the 2026-06-15 repricing (they keep it until rescaled). */
  monthlyApril2026Existing?: Record<string, number>;
  estimated?: boolean;
  estimatedLocations?: string[];
  note?: string;
  /**
   * Locations where Hetzner has deprecated the type (GET /v1/server_types, `locations[].deprecation`,
   * refreshed by `npm run pricing:sync`): announced, and the last day new servers of it can be ordered.
   */
  deprecations?: Record<string, Deprecation>;
}

/** Hetzner's deprecation of a server type in a location (dates as YYYY-MM-DD). */
export interface Deprecation {
  announced: string;
  unavailableAfter: string;
}

export interface Catalog {
  catalogDate: string;
  compiledOn: string;
  currency: "EUR";
  sources: { url: string; what: string; published?: string }[];
  confidence: string;
  locations: Record<string, { city: string; country: string; networkZone: string }>;
  serverTypes: Record<string, ServerTypeInfo>;
  primaryIp: { ipv4: number; ipv6: number };
  volumePerGbMonth: number;
  backupPercent: number;
  snapshotPerGbMonth: number;
  loadBalancerTypes: Record<string, { monthly: Record<string, number>; estimated?: boolean }>;
  objectStorage: { baseMonthly: number; includedStorageTb: number; includedEgressTb: number };
  storageBox: Record<string, { monthly: number; sizeTb: number; estimated?: boolean }>;
}

export const catalog: Catalog = raw as unknown as Catalog;

/**
 * Hetzner repriced new orders and rescales of servers on this day; servers that already existed
 * kept their earlier rate (`monthlyApril2026Existing`) until they are rescaled or replaced.
 */
export const EXISTING_RATE_CUTOFF = "2026-06-15";

/** What a new order (or a rescale) of this type costs per month here; undefined if not sold. */
export function newOrderPrice(c: Catalog, serverType: string, location: string): number | undefined {
  return c.serverTypes[serverType]?.monthly[location];
}

/** The rate a server of this type ordered before EXISTING_RATE_CUTOFF still pays, if known. */
export function existingRate(c: Catalog, serverType: string, location: string): number | undefined {
  return c.serverTypes[serverType]?.monthlyApril2026Existing?.[location];
}

export function serverTypeNames(c: Catalog = catalog): string[] {
  return Object.keys(c.serverTypes).sort();
}

/**
 * Why a new server of this type cannot be planned in this location, with the fix; undefined when it
 * can. A deprecated type is refused while Hetzner still sells it: a rebuild after its last day would
 * fail when it is needed most.
 */
export function orderProblem(
  c: Catalog,
  serverType: string,
  location: string,
): { problem: string; fix: string } | undefined {
  const t = c.serverTypes[serverType];
  if (!t) return undefined;
  const d = t.deprecations?.[location];
  if (!d) return undefined;
  const alike = Object.entries(c.serverTypes)
    .filter(
      ([name, o]) =>
        name !== serverType &&
        o.architecture === t.architecture &&
        o.cpuType === t.cpuType &&
        o.cores >= t.cores &&
        o.memoryGb >= t.memoryGb &&
        o.monthly[location] !== undefined &&
        !o.deprecations?.[location],
    )
    .sort((a, b) => a[1].monthly[location]! - b[1].monthly[location]! || a[0].localeCompare(b[0]));
  return {
    problem: `"${serverType}" is deprecated in ${location} (announced ${d.announced}; new servers until ${d.unavailableAfter}, catalog of ${c.catalogDate})`,
    fix: alike.length
      ? `use a current type with at least ${t.cores} cores and ${t.memoryGb} GB, e.g. ${alike
          .slice(0, 3)
          .map(([n, o]) => `${n} (${o.monthly[location]} EUR)`)
          .join(", ")}`
      : `use a current ${t.architecture} ${t.cpuType} type sold in ${location} (npm run pricing:sync refreshes the catalog)`,
  };
}
