// npm run pricing:sync [-- --dry-run] [--catalog-date YYYY-MM-DD] [--catalog FILE] [--json]
import * as fs from "node:fs";
import * as path from "node:path";
import type { Catalog } from "../../infra/catalog/index.js";
import { DEFAULT_ENDPOINT, fetchPricing, fetchServerTypes, PricingError } from "./fetch.js";
import { formatChanges, mergeCatalog } from "./sync.js";
import { parseFlags } from "../lib/cli.js";

const CATALOG = path.resolve(import.meta.dirname, "..", "..", "infra", "catalog", "hetzner-prices.json");

const USAGE = `Usage: HCLOUD_TOKEN=… npm run pricing:sync [-- options]

Reads Hetzner Cloud's price list (GET /v1/pricing) and server types (GET /v1/server_types: where
each type is offered and deprecated) with the token in HCLOUD_TOKEN, prints every price that changed
(type, location, old → new, EUR net per month) and every deprecation, and writes the catalog
infra/catalog/hetzner-prices.json. The plan refuses a type deprecated in a node's location. The catalog's date (the day its prices are valid from) stays
unless --catalog-date is given; compiledOn and the sources entry record the sync. Prices the API
does not give (Object Storage, Storage Boxes, the rate of servers ordered before 2026-06-15) are
kept. On any error nothing is written.

Environment:
  HCLOUD_TOKEN            Hetzner Cloud API token of the project (read access is enough)
  HCLOUD_ENDPOINT         API base URL (default ${DEFAULT_ENDPOINT})

Options:
  --dry-run               print the changes, write nothing
  --catalog-date DATE     set catalogDate (YYYY-MM-DD): the day the new prices are valid from
  --catalog FILE          the catalog to update (default infra/catalog/hetzner-prices.json)
  --json                  print {changes, notes, written} as JSON
  -h, --help              show this help

Examples:
  HCLOUD_TOKEN=$(cat ~/.config/hcloud/token) npm run pricing:sync -- --dry-run
  npm run pricing:sync -- --catalog-date 2027-01-01`;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      "dry-run": { type: "boolean", default: false },
      "catalog-date": { type: "string" },
      catalog: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  const date = v["catalog-date"];
  if (date !== undefined && (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`)))) {
    console.error(`--catalog-date ${date} is not a date: write YYYY-MM-DD, e.g. 2027-01-01`);
    return 2;
  }
  const token = process.env.HCLOUD_TOKEN?.trim();
  if (!token) {
    console.error(
      "HCLOUD_TOKEN is not set: create an API token in the Hetzner Cloud console (your project → Security → API tokens; read access is enough), then run: HCLOUD_TOKEN=<token> npm run pricing:sync. Nothing was changed.",
    );
    return 1;
  }
  const file = path.resolve(v.catalog ?? CATALOG);
  let old: Catalog;
  try {
    old = JSON.parse(fs.readFileSync(file, "utf8")) as Catalog;
  } catch (e) {
    console.error(`cannot read the catalog ${file} (${(e as Error).message}): give --catalog FILE of a valid catalog`);
    return 1;
  }
  const endpoint = process.env.HCLOUD_ENDPOINT?.trim() || DEFAULT_ENDPOINT;
  try {
    const snapshot = await fetchPricing(endpoint, token);
    const availability = await fetchServerTypes(endpoint, token);
    const result = mergeCatalog(
      old,
      snapshot,
      { catalogDate: date, today: new Date().toISOString().slice(0, 10), endpoint },
      availability,
    );
    const write = result.changed && !v["dry-run"];
    if (write) {
      // Write beside the file and rename: a crash never leaves half a catalog.
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(result.catalog, null, 2) + "\n");
      fs.renameSync(tmp, file);
    }
    if (v.json) {
      console.log(JSON.stringify({ endpoint, changes: result.changes, notes: result.notes, written: write }, null, 2));
    } else {
      console.log(
        `pricing:sync: ${endpoint}/pricing (currency ${snapshot.currency}, VAT ${snapshot.vatRate} % not included)\n`,
      );
      console.log(formatChanges(result));
      if (snapshot.rounded.length) console.log(`\nrounded to the catalog's 4 decimals: ${snapshot.rounded.join("; ")}`);
      console.log(
        `\n${write ? `Wrote ${path.relative(process.cwd(), file) || file}.` : v["dry-run"] && result.changed ? "Dry run: nothing written." : "The catalog is up to date: nothing written."}`,
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof PricingError) {
      console.error(`${e.message}\nNothing was changed.`);
      return 1;
    }
    throw e;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`pricing:sync failed: ${e instanceof Error ? e.message : String(e)}\nNothing was changed.`);
    process.exit(1);
  },
);
