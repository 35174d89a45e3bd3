// Hetzner Cloud's price list, GET /v1/pricing: the response shape and its parser. Money values are
// {net, gross} decimal strings; the catalog keeps net EUR with at most 4 decimals (infra/plan/cost.ts).
//
// {pricing: {currency, vat_rate, image: {price_per_gb_month}, volume: {price_per_gb_month},
//   server_backup: {percentage}, primary_ips: [{type, prices: [{location, price_hourly, price_monthly}]}],
//   server_types: [{id, name, prices: [{location, price_hourly, price_monthly, included_traffic,
//   price_per_tb_traffic}]}], load_balancer_types: (as server_types), floating_ip(s), traffic}}

export interface Money {
  net: string;
  gross: string;
}

export interface LocationPrice {
  location: string;
  price_hourly?: Money;
  price_monthly: Money;
  included_traffic?: number;
  price_per_tb_traffic?: Money;
}

export interface PricingResponse {
  pricing: {
    currency: string;
    vat_rate: string;
    image: { price_per_gb_month: Money };
    volume: { price_per_gb_month: Money };
    server_backup: { percentage: string };
    primary_ips: { type: string; prices: LocationPrice[] }[];
    server_types: { id: number; name: string; prices: LocationPrice[] }[];
    load_balancer_types: { id: number; name: string; prices: LocationPrice[] }[];
  };
}

/** The part of the price list the catalog keeps: net EUR per month (per GB-month for storage). */
export interface PricingSnapshot {
  currency: string;
  vatRate: string;
  serverTypes: Record<string, Record<string, number>>;
  loadBalancerTypes: Record<string, Record<string, number>>;
  primaryIps: { ipv4: Record<string, number>; ipv6: Record<string, number> };
  volumePerGbMonth: number;
  imagePerGbMonth: number;
  backupPercent: number;
  /** Values that had more than the catalog's 4 decimals, as "what: exact → kept". */
  rounded: string[];
}

export type ParseResult = { ok: true; snapshot: PricingSnapshot } | { ok: false; problems: string[] };

const DECIMAL = /^\d+(\.\d+)?$/;

/** Parses the response body (already JSON-decoded). Collects every problem instead of stopping at one. */
export function parsePricing(body: unknown): ParseResult {
  const problems: string[] = [];
  const rounded: string[] = [];
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const p = obj(body) ? body.pricing : undefined;
  if (!obj(p)) return { ok: false, problems: ["the response has no `pricing` object"] };

  const decimal = (v: unknown, where: string): number | undefined => {
    if (typeof v !== "string" || !DECIMAL.test(v)) {
      problems.push(`${where} is ${JSON.stringify(v)}, not a decimal string`);
      return undefined;
    }
    const exact = Number(v);
    const kept = Math.round(exact * 10_000) / 10_000;
    if (Math.abs(kept - exact) > 1e-12) rounded.push(`${where}: ${v} → ${kept}`);
    return kept;
  };
  const net = (v: unknown, where: string): number | undefined =>
    obj(v) ? decimal(v.net, `${where}.net`) : (problems.push(`${where} is missing`), undefined);
  const perLocation = (list: unknown, where: string): Record<string, number> => {
    const out: Record<string, number> = {};
    if (!Array.isArray(list)) {
      problems.push(`${where} is not a list`);
      return out;
    }
    list.forEach((e, i) => {
      const at = `${where}[${i}]`;
      if (!obj(e) || typeof e.location !== "string") return void problems.push(`${at}.location is missing`);
      const v = net(e.price_monthly, `${at}.price_monthly`);
      if (v !== undefined) out[e.location] = v;
    });
    return out;
  };
  const named = (list: unknown, where: string): Record<string, Record<string, number>> => {
    const out: Record<string, Record<string, number>> = {};
    if (!Array.isArray(list)) {
      problems.push(`pricing.${where} is not a list`);
      return out;
    }
    list.forEach((t, i) => {
      if (!obj(t) || typeof t.name !== "string") return void problems.push(`pricing.${where}[${i}].name is missing`);
      out[t.name] = perLocation(t.prices, `pricing.${where}[${i}] (${t.name}).prices`);
    });
    return out;
  };

  if (typeof p.currency !== "string") problems.push("pricing.currency is missing");
  const ips = { ipv4: {} as Record<string, number>, ipv6: {} as Record<string, number> };
  if (!Array.isArray(p.primary_ips)) problems.push("pricing.primary_ips is not a list");
  else
    p.primary_ips.forEach((e, i) => {
      if (obj(e) && (e.type === "ipv4" || e.type === "ipv6"))
        ips[e.type] = perLocation(e.prices, `pricing.primary_ips[${i}] (${e.type}).prices`);
    });
  const volume = obj(p.volume)
    ? net(p.volume.price_per_gb_month, "pricing.volume.price_per_gb_month")
    : (problems.push("pricing.volume is missing"), undefined);
  const image = obj(p.image)
    ? net(p.image.price_per_gb_month, "pricing.image.price_per_gb_month")
    : (problems.push("pricing.image is missing"), undefined);
  const backup = obj(p.server_backup)
    ? decimal(p.server_backup.percentage, "pricing.server_backup.percentage")
    : (problems.push("pricing.server_backup is missing"), undefined);
  const serverTypes = named(p.server_types, "server_types");
  const loadBalancerTypes = named(p.load_balancer_types, "load_balancer_types");
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    snapshot: {
      currency: p.currency as string,
      vatRate: typeof p.vat_rate === "string" ? p.vat_rate : "unknown",
      serverTypes,
      loadBalancerTypes,
      primaryIps: ips,
      volumePerGbMonth: volume!,
      imagePerGbMonth: image!,
      backupPercent: backup!,
      rounded,
    },
  };
}
