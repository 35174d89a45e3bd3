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
  loadBalancerTypes: Record<string, { monthly: Record<string, number> }>;
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
