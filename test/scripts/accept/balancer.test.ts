// npm run accept:balancer: Hetzner's report of the balancer judged against the plan, and the public side
// against stand-ins (an HTTPS "balancer" on 127.0.0.1 with a test CA, a "node" on 127.0.0.2).
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBalancer, publicChecks, stateChecks, type BalancerState } from "../../../scripts/accept/balancer.js";
import { planOf } from "../../support/helpers.js";
import { testCertificate } from "../../support/tls.js";

const SITE = "shop.tst.xiopro.example";
const plan = planOf("tst", (c) => {
  c.pools = [
    {
      name: "web",
      role: "product",
      count: 2,
      serverType: "cpx22",
      firstPrivateIp: "10.1.1.50",
      services: [
        "ingress",
        { name: "shop", interfaces: [{ port: 9000, class: "D", owner: "product", justification: "upstream" }] },
      ],
    },
  ];
  c.ingress.sites.push({ hostname: SITE, service: "shop" });
  c.loadBalancer = { type: "lb11", privateIp: "10.1.1.5", targets: ["web"] };
});
const lb = plan.loadBalancer!;

/** GET /v1/load_balancers?name=tst-lb as Hetzner answers it (the fields the check reads, and others). */
const apiEntry = (health: string[], usePrivateIp = true) => ({
  id: 77,
  name: "tst-lb",
  load_balancer_type: { id: 1, name: "lb11" },
  public_net: { enabled: true, ipv4: { ip: "127.0.0.1" }, ipv6: { ip: "2001:db8::1" } },
  private_net: [{ network: 9, ip: "10.1.1.5" }],
  algorithm: { type: "round_robin" },
  targets: [
    {
      type: "server",
      server: { id: 501 },
      use_private_ip: usePrivateIp,
      health_status: [{ listen_port: 443, status: health[0] }],
    },
    {
      type: "server",
      server: { id: 502 },
      use_private_ip: usePrivateIp,
      health_status: [{ listen_port: 443, status: health[1] }],
    },
  ],
});
const names = new Map([
  [501, "tst-web-1"],
  [502, "tst-web-2"],
]);
const verdicts = (rs: { name: string; result: string }[]) => rs.map((r) => `${r.result} ${r.name}`);

describe("accept:balancer, what Hetzner reports", () => {
  it("passes the planned type, address and healthy private targets", () => {
    const state = parseBalancer(apiEntry(["healthy", "healthy"]), names);
    expect(state).toEqual({
      type: "lb11",
      publicIpv4: "127.0.0.1",
      privateIps: ["10.1.1.5"],
      targets: [
        { server: "tst-web-1", usePrivateIp: true, health: [{ port: 443, status: "healthy" }] },
        { server: "tst-web-2", usePrivateIp: true, health: [{ port: 443, status: "healthy" }] },
      ],
    });
    expect(verdicts(stateChecks(plan, lb, state))).toEqual([
      "pass balancer tst-lb: type lb11",
      "pass balancer tst-lb: private address 10.1.1.5",
      "pass balancer tst-lb: no target outside the plan",
      "pass balancer target tst-web-1: healthy on its private address",
      "pass balancer target tst-web-2: healthy on its private address",
    ]);
  });

  it("fails an unhealthy target, a public-address target, a missing and a foreign one, and a missing balancer", () => {
    const unhealthy = stateChecks(plan, lb, parseBalancer(apiEntry(["healthy", "unhealthy"]), names));
    expect(unhealthy.find((r) => r.name.includes("tst-web-2"))).toMatchObject({
      result: "fail",
      detail: "443 unhealthy",
    });
    const publicTargets = stateChecks(plan, lb, parseBalancer(apiEntry(["healthy", "healthy"], false), names));
    expect(publicTargets.filter((r) => r.result === "fail").map((r) => r.detail)).toEqual([
      "targeted on its public address",
      "targeted on its public address",
    ]);
    const swapped: BalancerState = {
      ...parseBalancer(apiEntry(["healthy", "healthy"]), new Map([[501, "tst-web-1"]])),
      type: "lb21",
      privateIps: [],
    };
    expect(verdicts(stateChecks(plan, lb, swapped))).toEqual([
      "fail balancer tst-lb: type lb11",
      "fail balancer tst-lb: private address 10.1.1.5",
      "fail balancer tst-lb: no target outside the plan",
      "pass balancer target tst-web-1: healthy on its private address",
      "fail balancer target tst-web-2: healthy on its private address",
    ]);
    expect(verdicts(stateChecks(plan, lb, undefined))).toEqual(["fail balancer tst-lb: exists"]);
  });
});

describe("accept:balancer, from outside", () => {
  const servers: net.Server[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "accept-lb-"));
  let ports = { https: 0, http: 0 };
  let ca = "";

  beforeAll(async () => {
    const made = testCertificate(dir, SITE);
    ca = made.ca;
    // What the balancer answers: its certificate, the node's HSTS header, HTTP redirected to HTTPS.
    const tls = https.createServer({ key: made.key, cert: made.cert }, (_req, res) =>
      res.writeHead(200, { "Strict-Transport-Security": "max-age=31536000; includeSubDomains" }).end("ok"),
    );
    const plain = http.createServer((req, res) =>
      res.writeHead(308, { location: `https://${req.headers.host}${req.url}` }).end(),
    );
    for (const s of [tls, plain]) {
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
      servers.push(s);
    }
    ports = { https: (tls.address() as net.AddressInfo).port, http: (plain.address() as net.AddressInfo).port };
  });
  afterAll(() => {
    servers.forEach((s) => s.close());
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("passes the site through the balancer and fronted nodes that refuse 80 and 443", async () => {
    const state = parseBalancer(apiEntry(["healthy", "healthy"]), names);
    const rs = await publicChecks(plan, lb, state, {
      siteCa: ca,
      nodeIpv4: { "tst-web-1": "127.0.0.2", "tst-web-2": "127.0.0.3" },
      ports,
    });
    expect(verdicts(rs)).toEqual([
      `pass https ${SITE}: valid certificate (tst-lb) (via tst-lb)`,
      `pass https ${SITE}: HSTS (via tst-lb)`,
      `pass https ${SITE}: upstream answers (via tst-lb)`,
      `pass http ${SITE}: redirects to https (via tst-lb)`,
      "pass tst-web-1: public 80 and 443 refused",
      "pass tst-web-2: public 80 and 443 refused",
    ]);
  });

  it("fails a node that still answers on its public address, and a certificate the client does not trust", async () => {
    const state = parseBalancer(apiEntry(["healthy", "healthy"]), names);
    const rs = await publicChecks(plan, lb, state, {
      nodeIpv4: { "tst-web-1": "127.0.0.1", "tst-web-2": "127.0.0.3" },
      ports,
    });
    expect(rs.find((r) => r.name === "tst-web-1: public 80 and 443 refused")).toMatchObject({
      result: "fail",
      detail: `127.0.0.1: ${ports.http} open, ${ports.https} open`,
    });
    expect(rs.find((r) => r.name.includes("valid certificate"))!.result).toBe("fail");
  });
});
