// `npm run pricing:sync` end to end against a local HTTP server on 127.0.0.1 that serves the
// recorded response (HCLOUD_ENDPOINT points the CLI at it), including every error path: each must
// leave the catalog byte for byte as it was.
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../support/run.js";
import { ROOT } from "../../support/helpers.js";

const TSX = path.join(ROOT, "node_modules/.bin/tsx");
const TOKEN = "test-token-0123456789";
const fixture = fs.readFileSync(path.join(ROOT, "test/fixtures/hetzner-pricing.json"));
const types = JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/hetzner-server-types.json"), "utf8")) as {
  server_types: unknown[];
};
/** The server types in pages of 20, as the API pages them (meta.pagination.next_page). */
const typesPage = (page: number) => ({
  server_types: types.server_types.slice((page - 1) * 20, page * 20),
  meta: { pagination: { page, per_page: 20, next_page: page * 20 < types.server_types.length ? page + 1 : null } },
});
const requests: { url: string; auth?: string }[] = [];
let server: http.Server;
let base = "";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pricing-cli-"));

beforeAll(async () => {
  // Each path prefix plays one behaviour of the API: /ok, /garbage (not JSON), /shape (unreadable), /down (500).
  server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? "", auth: req.headers.authorization });
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`)
      return json(401, { error: { code: "unauthorized", message: "unable to authenticate", details: {} } });
    if (req.url === "/ok/v1/pricing" || req.url === "/types-shape/v1/pricing") return json(200, fixture.toString());
    const page = /^\/ok\/v1\/server_types\?per_page=50&page=(\d+)$/.exec(req.url ?? "");
    if (page) return json(200, typesPage(Number(page[1])));
    if (req.url?.startsWith("/types-shape/v1/server_types"))
      return json(200, {
        server_types: [{ name: "cx23", locations: [{ name: "fsn1", deprecation: { announced: 1 } }] }],
      });
    if (req.url === "/garbage/v1/pricing") return json(200, "<html>maintenance</html>");
    if (req.url === "/shape/v1/pricing") return json(200, { pricing: { currency: "EUR" } });
    if (req.url === "/down/v1/pricing")
      return json(503, { error: { code: "service_unavailable", message: "try later" } });
    return json(404, { error: { code: "not_found", message: "not found" } });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fresh copy of the repository's catalog, and the CLI run against it. */
function sandbox() {
  const dir = fs.mkdtempSync(path.join(tmp, "sandbox-"));
  const file = path.join(dir, "hetzner-prices.json");
  fs.copyFileSync(path.join(ROOT, "infra/catalog/hetzner-prices.json"), file);
  const before = fs.readFileSync(file);
  const sync = (args: string[], env: Record<string, string | undefined>) => {
    const e: NodeJS.ProcessEnv = { ...process.env, HCLOUD_TOKEN: undefined, HCLOUD_ENDPOINT: undefined, ...env };
    for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
    return run(TSX, [path.join(ROOT, "scripts/pricing/cli.ts"), "--catalog", file, ...args], {
      env: e,
      cwd: dir,
      timeoutMs: 60_000,
    });
  };
  return { file, before, sync, unchanged: () => fs.readFileSync(file).equals(before) };
}

describe("npm run pricing:sync", () => {
  it("prints what changed, writes the catalog keeping its date, and finds nothing the second time", async () => {
    const s = sandbox();
    const r = await s.sync([], { HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: `${base}/ok/v1` });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`pricing:sync: ${base}/ok/v1/pricing (currency EUR, VAT 19.00 % not included)`);
    expect(r.stdout).toMatch(/^ {2}server cx23 fsn1 +5\.49 → 5\.99$/m);
    expect(r.stdout).toMatch(/^ {2}load balancer lb21 hel1 +23 \(estimated\) → 22\.49$/m);
    expect(r.stdout).toMatch(/\nWrote .*hetzner-prices\.json\.$/);
    const written = JSON.parse(fs.readFileSync(s.file, "utf8"));
    expect(written.serverTypes.cx23.monthly).toEqual({ fsn1: 5.99, nbg1: 5.99, hel1: 5.99 });
    expect(written.catalogDate).toBe("2026-06-15");
    expect(written.compiledOn).toBe(new Date().toISOString().slice(0, 10));
    expect(fs.readFileSync(s.file, "utf8").endsWith("}\n")).toBe(true);
    expect(requests.slice(-3)).toEqual(
      ["/ok/v1/pricing", "/ok/v1/server_types?per_page=50&page=1", "/ok/v1/server_types?per_page=50&page=2"].map(
        (url) => ({ url, auth: `Bearer ${TOKEN}` }),
      ),
    );
    // Where each type is deprecated, from GET /v1/server_types (the plan refuses it there).
    expect(r.stdout).toContain(
      "note: server cpx22 deprecated in hel1: announced 2026-10-01, new servers until 2027-01-31",
    );
    expect(written.serverTypes.cpx22.deprecations).toEqual({
      hel1: { announced: "2026-10-01", unavailableAfter: "2027-01-31" },
    });
    expect(Object.values(written.serverTypes).filter((t: any) => t.deprecations)).toHaveLength(1);

    const after = fs.readFileSync(s.file);
    const again = await s.sync([], { HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: `${base}/ok/v1` });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("No price changed.");
    expect(again.stdout).toMatch(/The catalog is up to date: nothing written\.$/);
    expect(fs.readFileSync(s.file).equals(after)).toBe(true);
  });

  it("writes nothing with --dry-run, and sets the date with --catalog-date", async () => {
    const s = sandbox();
    const dry = await s.sync(["--dry-run", "--json"], { HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: `${base}/ok/v1` });
    expect(dry.code).toBe(0);
    const out = JSON.parse(dry.stdout);
    expect(out.written).toBe(false);
    expect(out.changes).toHaveLength(7);
    expect(s.unchanged()).toBe(true);
    const dated = await s.sync(["--catalog-date", "2026-12-01"], {
      HCLOUD_TOKEN: TOKEN,
      HCLOUD_ENDPOINT: `${base}/ok/v1`,
    });
    expect(dated.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(s.file, "utf8")).catalogDate).toBe("2026-12-01");
    const bad = await s.sync(["--catalog-date", "1 Dec"], { HCLOUD_TOKEN: TOKEN });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("--catalog-date 1 Dec is not a date: write YYYY-MM-DD, e.g. 2027-01-01");
  });

  it("fails without a token before any request, with the fix, and changes nothing", async () => {
    const s = sandbox();
    const n = requests.length;
    const r = await s.sync([], { HCLOUD_ENDPOINT: `${base}/ok/v1` });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /^HCLOUD_TOKEN is not set: create an API token in the Hetzner Cloud console .*Nothing was changed\.$/,
    );
    expect(requests.length).toBe(n);
    expect(s.unchanged()).toBe(true);
  });

  it("reports HTTP 401 with Hetzner's error and changes nothing", async () => {
    const s = sandbox();
    const r = await s.sync([], { HCLOUD_TOKEN: "wrong", HCLOUD_ENDPOINT: `${base}/ok/v1` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^the Hetzner API refused HCLOUD_TOKEN \(HTTP 401 unauthorized: unable to authenticate\): create an API token/,
    );
    expect(r.stderr).toMatch(/\nNothing was changed\.$/);
    expect(s.unchanged()).toBe(true);
  });

  it("rejects a body that is not JSON, a price list it cannot read, a server error and an unreachable endpoint, changing nothing", async () => {
    const s = sandbox();
    const env = (p: string) => ({ HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: `${base}/${p}/v1` });
    const garbage = await s.sync([], env("garbage"));
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(
      /^GET .*\/garbage\/v1\/pricing answered with something that is not JSON \(.*starts with "<html>maintenance<\/html>"\): is HCLOUD_ENDPOINT the Hetzner Cloud API\?\nNothing was changed\.$/,
    );
    const shape = await s.sync([], env("shape"));
    expect(shape.code).toBe(1);
    expect(shape.stderr).toContain(
      "answered with a price list this tool cannot read:\n  - pricing.primary_ips is not a list\n  - pricing.volume is missing",
    );
    const typesShape = await s.sync([], env("types-shape"));
    expect(typesShape.code).toBe(1);
    expect(typesShape.stderr).toContain(
      "answered with server types this tool cannot read:\n  - server_types[0] (cx23).locations[0].deprecation.announced is 1, not a date\n  - server_types[0] (cx23).locations[0].deprecation.unavailable_after is undefined, not a date",
    );
    const down = await s.sync([], env("down"));
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/answered HTTP 503 \(service_unavailable: try later\): try again later/);
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const unreachable = await s.sync([], { HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: `http://127.0.0.1:${port}/v1` });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /^cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/pricing \(ECONNREFUSED\): check the network, or HCLOUD_ENDPOINT if you set it/,
    );
    expect(s.unchanged()).toBe(true);
    expect(fs.readdirSync(path.dirname(s.file))).toEqual(["hetzner-prices.json"]);
  });
});
