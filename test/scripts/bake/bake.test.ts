// npm run bake against a stand-in of the Hetzner API on loopback (L1 for the cloud calls: what is
// asked in which order, what is left behind). The user-data it sends is checked by cloud-init's own
// schema in test/render/bake.test.ts.
import * as http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { renderBakeUserData } from "../../../cloud-init/bake.js";
import { bakeOne, bakeTargets } from "../../../scripts/bake/bake.js";
import { runCli } from "../../support/fakes.js";
import { planOf } from "../../support/helpers.js";

interface Image {
  id: number;
  type: "snapshot";
  description: string;
  created: string;
  image_size: number | null;
  status: string;
  labels: Record<string, string>;
}

/** A project as the bake sees it: firewalls, servers that power off after some polls, snapshots, actions. */
class FakeHetzner {
  url = "";
  requests: string[] = [];
  bodies: Record<string, any>[] = [];
  firewalls = new Map<number, { name: string; rules: unknown[] }>();
  servers = new Map<number, { status: string; polls: number; firewall: number }>();
  images: Image[] = [];
  /** Polls of a server's status until it reports off; Infinity: never. */
  offAfterPolls = 3;
  failSnapshot = false;
  private seq = 100;
  private failing = new Set<number>();
  private server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const u = new URL(req.url!, "http://x");
      const body = text ? JSON.parse(text) : {};
      this.requests.push(`${req.method} ${u.pathname}`);
      this.bodies.push(body);
      const json = (code: number, b?: unknown) => {
        res.writeHead(code, { "content-type": "application/json" });
        res.end(b === undefined ? "" : JSON.stringify(b));
      };
      if (req.headers.authorization !== "Bearer test-token") return json(401, { error: { code: "unauthorized" } });
      const action = (fail = false) => {
        const id = this.seq++;
        if (fail) this.failing.add(id);
        return { id, status: "running" };
      };
      const p = u.pathname;
      let m: RegExpExecArray | null;
      if (req.method === "GET" && p === "/v1/images") {
        const [k, v] = u.searchParams.get("label_selector")!.split("=");
        return json(200, {
          images: this.images.filter((i) => i.labels[k!] === v),
          meta: { pagination: { next_page: null } },
        });
      }
      if (req.method === "POST" && p === "/v1/firewalls") {
        const id = this.seq++;
        this.firewalls.set(id, { name: body.name, rules: body.rules });
        return json(201, { firewall: { id } });
      }
      if (req.method === "POST" && p === "/v1/servers") {
        const id = this.seq++;
        this.servers.set(id, { status: "initializing", polls: 0, firewall: body.firewalls[0].firewall });
        return json(201, { server: { id }, action: action() });
      }
      if (req.method === "GET" && (m = /^\/v1\/servers\/(\d+)$/.exec(p))) {
        const s = this.servers.get(Number(m[1]))!;
        s.status = ++s.polls >= this.offAfterPolls ? "off" : "running";
        return json(200, { server: { status: s.status } });
      }
      if (req.method === "DELETE" && (m = /^\/v1\/servers\/(\d+)$/.exec(p))) {
        this.servers.delete(Number(m[1]));
        return json(200, { action: action() });
      }
      if (req.method === "POST" && (m = /^\/v1\/servers\/(\d+)\/actions\/create_image$/.exec(p))) {
        const id = this.seq++;
        this.images.push({
          id,
          type: "snapshot",
          description: body.description,
          created: new Date().toISOString(),
          image_size: 2.31,
          status: "available",
          labels: body.labels,
        });
        return json(201, { image: { id }, action: action(this.failSnapshot) });
      }
      if (req.method === "GET" && (m = /^\/v1\/images\/(\d+)$/.exec(p)))
        return json(200, { image: this.images.find((i) => i.id === Number(m![1])) });
      if (req.method === "DELETE" && (m = /^\/v1\/images\/(\d+)$/.exec(p))) {
        this.images = this.images.filter((i) => i.id !== Number(m![1]));
        return json(204);
      }
      if (req.method === "DELETE" && (m = /^\/v1\/firewalls\/(\d+)$/.exec(p))) {
        const id = Number(m[1]);
        if ([...this.servers.values()].some((s) => s.firewall === id))
          return json(422, { error: { code: "resource_in_use", message: "firewall is still applied" } });
        this.firewalls.delete(id);
        return json(204);
      }
      if (req.method === "GET" && (m = /^\/v1\/actions\/(\d+)$/.exec(p))) {
        const id = Number(m[1]);
        return json(200, {
          action: this.failing.has(id)
            ? { status: "error", error: { code: "image_create_failed", message: "disk snapshot failed" } }
            : { status: "success" },
        });
      }
      return json(404, { error: { code: "not_found", message: `no fake for ${req.method} ${p}` } });
    });
  });

  start = () =>
    new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r())).then(() => {
      this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/v1`;
    });
  stop = () => new Promise<void>((r) => this.server.close(() => r()));
  reset() {
    this.requests = [];
    this.bodies = [];
    this.firewalls.clear();
    this.servers.clear();
    this.images = [];
    this.offAfterPolls = 3;
    this.failSnapshot = false;
  }
  snapshot(id: number, created: string, labels: Record<string, string>): void {
    this.images.push({ id, type: "snapshot", description: "", created, image_size: 2, status: "available", labels });
  }
}

const api = new FakeHetzner();
const plan = planOf("prd");
const [target] = bakeTargets(plan);
const env = (extra: Record<string, string> = {}) => ({
  XIOPRO_HCLOUD_API: api.url,
  XIOPRO_BAKE_POLL_MS: "5",
  HCLOUD_TOKEN: "test-token",
  ...extra,
});

beforeAll(api.start);
afterAll(api.stop);
afterEach(() => api.reset());

describe("npm run bake", () => {
  it("bakes behind a closed firewall on the node's type and location, snapshots, and deletes server then firewall", async () => {
    const r = await runCli("scripts/bake/cli.ts", ["--stack", "prd"], env());
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const node = plan.nodes[0]!;
    expect(api.requests.filter((q) => !q.startsWith("GET /v1/actions") && !/^GET \/v1\/servers\/\d+$/.test(q))).toEqual(
      [
        "GET /v1/images",
        "POST /v1/firewalls",
        "POST /v1/servers",
        expect.stringMatching(/^POST \/v1\/servers\/\d+\/actions\/create_image$/),
        expect.stringMatching(/^GET \/v1\/images\/\d+$/),
        "GET /v1/images",
        expect.stringMatching(/^DELETE \/v1\/servers\/\d+$/),
        expect.stringMatching(/^DELETE \/v1\/firewalls\/\d+$/),
      ],
    );
    const firewall = api.bodies[api.requests.indexOf("POST /v1/firewalls")]!;
    expect(firewall.rules).toEqual([]);
    const server = api.bodies[api.requests.indexOf("POST /v1/servers")]!;
    expect(server).toMatchObject({
      server_type: node.serverType,
      location: node.location,
      image: "debian-13",
      firewalls: [{ firewall: expect.any(Number) }],
      start_after_create: true,
    });
    expect(server.ssh_keys).toBeUndefined();
    expect(server.user_data).toBe(renderBakeUserData(target!.set));
    expect(api.images).toHaveLength(1);
    expect(api.images[0]!.labels).toEqual(target!.set.labels);
    expect(api.servers.size).toBe(0);
    expect(api.firewalls.size).toBe(0);
    expect(r.stdout).toContain(`${target!.set.hash}: snapshot ${api.images[0]!.id}, 2.31 GB, in `);
    expect(r.stdout).toMatch(/1 snapshot\(s\) for prd-node-a: 2\.31 GB, 0\.03 EUR\/month each kept copy/);
  });

  it("makes no server when a snapshot of the set exists, unless --force, and keeps the newest --keep", async () => {
    api.snapshot(1, "2026-10-01T00:00:00Z", target!.set.labels);
    api.snapshot(2, "2026-11-01T00:00:00Z", target!.set.labels);
    api.snapshot(3, "2026-09-01T00:00:00Z", { ...target!.set.labels, "xiopro-bake": "0000000000000000" });
    const skip = await runCli("scripts/bake/cli.ts", ["--stack", "prd"], env());
    expect(skip.code).toBe(0);
    expect(skip.stdout).toContain(`${target!.set.hash}: snapshot 2 of 2026-11-01T00:00:00Z already holds this set`);
    expect(api.requests.filter((q) => q.startsWith("POST"))).toEqual([]);

    const again = await runCli("scripts/bake/cli.ts", ["--stack", "prd", "--force", "--keep", "2"], env());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("deleted older snapshots 1");
    expect(api.images.map((i) => i.id)).toEqual([2, 3, expect.any(Number)]);
  });

  it("deletes server and firewall after a failed snapshot, and exits 1 naming the failure", async () => {
    api.failSnapshot = true;
    const r = await runCli("scripts/bake/cli.ts", ["--stack", "prd"], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${target!.set.hash}: bake failed: snapshot of xiopro-bake-${target!.set.hash} failed: image_create_failed disk snapshot failed`,
    );
    expect(api.servers.size).toBe(0);
    expect(api.firewalls.size).toBe(0);
  });

  it("gives up on a server that never powers off, and cleans up", async () => {
    api.offAfterPolls = Infinity;
    const lines: string[] = [];
    await expect(
      bakeOne(target!, {
        token: "test-token",
        env: env(),
        force: false,
        keep: 2,
        timeoutSeconds: 0.2,
        pollMs: 5,
        log: (l) => lines.push(l),
      }),
    ).rejects.toThrow(/did not power off within 0\.2 s: it powers off only when every package is installed/);
    expect(api.servers.size).toBe(0);
    expect(api.firewalls.size).toBe(0);
    expect(api.images).toEqual([]);
  });

  it("refuses before any call without a token, for an unknown node, or a bad flag", async () => {
    const noToken = await runCli("scripts/bake/cli.ts", ["--stack", "prd"], env({ HCLOUD_TOKEN: "" }));
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("HCLOUD_TOKEN is not set");
    const node = await runCli("scripts/bake/cli.ts", ["--stack", "prd", "--node", "nodeZ"], env());
    expect(node.code).toBe(1);
    expect(node.stderr).toContain("--node nodeZ: no such node in stack prd (its nodes: nodeA)");
    const keep = await runCli("scripts/bake/cli.ts", ["--stack", "prd", "--keep", "0"], env());
    expect(keep.code).toBe(2);
    expect(keep.stderr).toContain('--keep "0" is not a whole number >= 1');
    expect(api.requests).toEqual([]);
  });
});

describe("bake targets", () => {
  it("bakes each distinct package set once, for every node that boots it", () => {
    const p = planOf("tst", (c) => {
      c.nodeC = { enabled: true, serverType: "cpx32", services: ["agentd-worker"] };
      c.nodeD = { enabled: true, serverType: "cpx32", services: ["agentd-worker"] };
    });
    const t = bakeTargets(p);
    expect(t.map((x) => x.nodes.map((n) => n.key))).toEqual([["nodeA"], ["nodeC", "nodeD"]]);
    expect(bakeTargets(p, ["nodeD"]).map((x) => x.nodes.map((n) => n.key))).toEqual([["nodeD"]]);
  });
});
