// The price-list parser against a recorded response in the documented GET /v1/pricing format
// (test/fixtures/hetzner-pricing.json, built by hand from the API reference: every field the API
// documents, prices of the catalog with a few deliberate differences), and the merge into the catalog.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { catalog, type Catalog } from "../../../infra/catalog/index.js";
import { buildPlan } from "../../../infra/plan/index.js";
import { parsePricing, type PricingSnapshot } from "../../../scripts/pricing/hetzner.js";
import { formatChanges, mergeCatalog, SYNC_SOURCE_WHAT } from "../../../scripts/pricing/sync.js";
import { configOf, ROOT } from "../../support/helpers.js";

const fixture = JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/hetzner-pricing.json"), "utf8"));
const snapshot = (body: unknown = fixture): PricingSnapshot => {
  const r = parsePricing(body);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.snapshot;
};
const opts = { today: "2026-12-01", endpoint: "https://api.hetzner.cloud/v1" };

describe("parsePricing", () => {
  it("reads net monthly prices per type and location, storage per GB-month, backups and primary IPs", () => {
    const s = snapshot();
    expect(s.currency).toBe("EUR");
    expect(s.vatRate).toBe("19.00");
    expect(s.serverTypes.cx23).toEqual({ fsn1: 5.99, nbg1: 5.99, hel1: 5.99 });
    expect(s.serverTypes.cpx62).toEqual({ fsn1: 129.99, nbg1: 129.99, hel1: 129.99, sin: 175 });
    expect(s.serverTypes.ccx13).toEqual({ fsn1: 42.99, nbg1: 42.99, hel1: 42.99, ash: 46, sin: 53.99 });
    expect(s.serverTypes.cx63).toEqual({ fsn1: 57.49, nbg1: 57.49, hel1: 57.49 });
    expect(s.serverTypes.cpx51).toBeUndefined();
    expect(s.loadBalancerTypes.lb21).toEqual({ fsn1: 22.49, nbg1: 22.49, hel1: 22.49 });
    expect(s.primaryIps.ipv4.fsn1).toBe(0.5);
    expect(s.primaryIps.ipv6.sin).toBe(0);
    expect([s.volumePerGbMonth, s.imagePerGbMonth, s.backupPercent]).toEqual([0.0572, 0.0143, 20]);
    expect(s.rounded).toEqual([]);
  });

  it("rounds to the catalog's 4 decimals and says which values it rounded", () => {
    const body = structuredClone(fixture);
    body.pricing.volume.price_per_gb_month.net = "0.0571428571";
    const s = snapshot(body);
    expect(s.volumePerGbMonth).toBe(0.0571);
    expect(s.rounded).toEqual(["pricing.volume.price_per_gb_month.net: 0.0571428571 → 0.0571"]);
  });

  it("collects every problem of a response it cannot read", () => {
    const body = structuredClone(fixture);
    body.pricing.server_types[0].prices[0].price_monthly.net = 5.49;
    delete body.pricing.volume;
    body.pricing.load_balancer_types = {};
    const r = parsePricing(body);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems).toEqual([
      "pricing.volume is missing",
      "pricing.server_types[0] (cx23).prices[0].price_monthly.net is 5.49, not a decimal string",
      "pricing.load_balancer_types is not a list",
    ]);
    expect(parsePricing({ servers: [] })).toEqual({ ok: false, problems: ["the response has no `pricing` object"] });
  });
});

describe("mergeCatalog", () => {
  const merged = mergeCatalog(catalog, snapshot(), opts);

  it("lists exactly the prices that changed, old → new, and which were estimates", () => {
    expect(merged.changes).toEqual([
      { what: "server cx23 fsn1", from: 5.49, to: 5.99 },
      { what: "server cx23 nbg1", from: 5.49, to: 5.99 },
      { what: "server cx23 hel1", from: 5.49, to: 5.99 },
      { what: "server cpx32 sin", from: 48, to: 47.49, wasEstimated: true },
      { what: "load balancer lb21 fsn1", from: 23, to: 22.49, wasEstimated: true },
      { what: "load balancer lb21 nbg1", from: 23, to: 22.49, wasEstimated: true },
      { what: "load balancer lb21 hel1", from: 23, to: 22.49, wasEstimated: true },
    ]);
    expect(merged.changed).toBe(true);
    expect(formatChanges(merged)).toMatch(
      /^7 prices changed \(old → new, EUR net\):\n {2}server cx23 fsn1 +5\.49 → 5\.99\n/,
    );
    expect(formatChanges(merged)).toMatch(/^ {2}server cpx32 sin +48 \(estimated\) → 47\.49$/m);
  });

  it("keeps the catalog date, records the sync, and keeps what the API does not price", () => {
    const c = merged.catalog;
    expect(c.catalogDate).toBe(catalog.catalogDate);
    expect(c.compiledOn).toBe("2026-12-01");
    expect(c.sources.at(-1)).toEqual({
      url: "https://api.hetzner.cloud/v1/pricing",
      what: `${SYNC_SOURCE_WHAT} (net prices; VAT rate 19.00 % not included)`,
      published: "2026-12-01",
    });
    expect(c.serverTypes.cpx51).toEqual(catalog.serverTypes.cpx51);
    expect(c.serverTypes.cx63).toBeUndefined();
    expect(c.serverTypes.cx23!.monthlyApril2026Existing).toEqual({ fsn1: 3.99, nbg1: 3.99, hel1: 3.99 });
    expect(c.objectStorage).toEqual(catalog.objectStorage);
    expect(c.storageBox).toEqual(catalog.storageBox);
    expect((c as unknown as Record<string, unknown>).apiResponseShape).toBe(
      (catalog as unknown as Record<string, unknown>).apiResponseShape,
    );
    expect(merged.notes).toContain(
      `catalogDate stays ${catalog.catalogDate} (the date the prices are valid from); if Hetzner changed prices on another date, rerun with --catalog-date YYYY-MM-DD`,
    );
    expect(merged.notes).toContain(
      "server types priced by the API but not in the catalog (skipped; a type needs its specs from GET /v1/server_types before stacks may use it): cx63",
    );
    expect(catalog.serverTypes.cx23!.monthly.fsn1).toBe(5.49); // the input is not mutated
  });

  it("marks API prices as verified and locations the API omits as estimated", () => {
    const t = merged.catalog.serverTypes;
    expect(t.cpx32!.estimated).toBeUndefined();
    expect(t.cpx32!.estimatedLocations).toBeUndefined();
    expect(t.ccx13!.estimatedLocations).toEqual(["hil"]); // ash confirmed, hil not priced by the API
    expect(t.ccx13!.monthly.hil).toBe(46);
    expect(merged.catalog.loadBalancerTypes.lb21).toMatchObject({ monthly: { fsn1: 22.49 } });
    expect((merged.catalog.loadBalancerTypes.lb21 as { estimated?: boolean }).estimated).toBeUndefined();
    expect(merged.notes.find((n) => n.startsWith("estimated prices the API confirms"))).toMatch(/server ccx13 ash/);
  });

  it("is idempotent: a second sync of the same list changes nothing", () => {
    const again = mergeCatalog(merged.catalog, snapshot(), { ...opts, today: "2026-12-02" });
    expect(again.changes).toEqual([]);
    expect(again.changed).toBe(false);
    expect(again.catalog).toEqual(merged.catalog);
    expect(formatChanges(again)).toMatch(/^No price changed\./);
  });

  it("sets the catalog date only when told to", () => {
    const dated = mergeCatalog(catalog, snapshot(), { ...opts, catalogDate: "2026-12-01" });
    expect(dated.catalog.catalogDate).toBe("2026-12-01");
    expect(dated.notes).toContain("catalogDate 2026-06-15 → 2026-12-01 (--catalog-date)");
  });

  it("skips locations the catalog does not know and keeps one primary-IP price (the highest) when locations differ", () => {
    const body = structuredClone(fixture);
    body.pricing.server_types[0].prices.push({
      location: "fsn2",
      price_monthly: { net: "6.4900000000", gross: "7.7231000000000" },
    });
    body.pricing.primary_ips[0].prices[3].price_monthly.net = "0.6000000000";
    const r = mergeCatalog(catalog, snapshot(body), opts);
    expect(r.catalog.serverTypes.cx23!.monthly.fsn2).toBeUndefined();
    expect(r.notes).toContain(
      "server cx23 is priced in fsn2, which the catalog's locations do not list (skipped: add fsn2 with its city and network zone first)",
    );
    expect(r.catalog.primaryIp.ipv4).toBe(0.6);
    expect(r.changes).toContainEqual({ what: "primary IPv4 per month", from: 0.5, to: 0.6 });
  });

  it("produces a catalog the cost model prices to the cent (prd is unchanged: cpx62 kept its price)", () => {
    const cat = merged.catalog as Catalog;
    const prd = buildPlan(configOf("prd"), "prd", cat);
    expect(prd.cost.monthlyEur).toBe(180.14);
    const tst = buildPlan(
      configOf("tst", (c) => (c.nodeA.serverType = "cx23")),
      "tst",
      cat,
    );
    expect(tst.cost.lines[0]).toMatchObject({ resource: "server:tst-node-a", monthlyEur: 5.99, estimated: false });
  });
});
