// The dated Hetzner price catalog (DESIGN D7). Prices are net EUR per month.
// The data lives in hetzner-prices.json; `npm run pricing:sync` refreshes it from the API.
import raw from "./hetzner-prices.json";

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

export function serverTypeNames(c: Catalog = catalog): string[] {
  return Object.keys(c.serverTypes).sort();
}
