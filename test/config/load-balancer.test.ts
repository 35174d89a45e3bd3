// The load balancer (xiopro-infra:loadBalancer): it terminates TLS for the sites of the pools and nodes
// it fronts and reaches them on their private addresses, so they stop answering 80/443 publicly.
// Mapping only (config → plan → rendered files → program); test/e2e boots a fronted node.
import { describe, expect, it } from "vitest";
import { planOf, problemsOf, stackObject, toRaw } from "../support/helpers.js";
import { caddyfile } from "../../cloud-init/configs.js";
import { privateExpectation } from "../../scripts/accept/private.js";
import { runOffline, type RecordedResource } from "../../infra/offline.js";

const shop = {
  name: "shop",
  interfaces: [{ port: 9000, class: "D", owner: "product", justification: "upstream of the shop" }],
};
const web = {
  name: "web",
  role: "product",
  count: 2,
  serverType: "cpx22",
  firstPrivateIp: "10.1.1.50",
  services: ["ingress", shop],
};
const fronted = (c: Record<string, any>) => {
  c.pools = [web];
  c.ingress.sites.push({ hostname: "shop.tst.xiopro.example", service: "shop" });
  c.loadBalancer = { type: "lb11", privateIp: "10.1.1.5", targets: ["web"], healthCheck: { path: "/healthz" } };
};

describe("load balancer: plan", () => {
  const plan = planOf("tst", fronted);
  const [a, w1, w2] = plan.nodes;

  it("fronts the pool's members on their private addresses with a managed certificate for their sites", () => {
    expect(plan.loadBalancer).toMatchObject({
      name: "tst-lb",
      type: "lb11",
      location: "fsn1",
      privateIp: "10.1.1.5",
      algorithm: "round_robin",
      targets: ["web-1", "web-2"],
      certificate: { name: "tst-lb-certificate", domains: ["shop.tst.xiopro.example"] },
      service: { listenPort: 443, destinationPort: 80, redirectHttp: true },
      healthCheck: { port: 80, domain: "shop.tst.xiopro.example", path: "/healthz", statusCodes: ["2??", "3??"] },
    });
    expect(w1!.balancer).toEqual({ privateIp: "10.1.1.5" });
    expect(a!.balancer).toBeUndefined();
  });

  it("points the site's records at the balancer; Node A's own site keeps its records", () => {
    const sites = plan.dns.records.filter((r) => r.purpose.startsWith("site"));
    expect(sites.map((r) => `${r.fqdn} ${r.type} ${r.node}`)).toEqual([
      "app.tst.xiopro.example A nodeA",
      "app.tst.xiopro.example AAAA nodeA",
      "shop.tst.xiopro.example A loadBalancer",
      "shop.tst.xiopro.example AAAA loadBalancer",
    ]);
  });

  it("closes 80/443 to the internet on the fronted nodes and admits the balancer's address alone to 80", () => {
    for (const n of [w1!, w2!]) {
      expect(n.firewall.rules.filter((r) => r.port === "80" || r.port === "443")).toEqual([]);
      expect(n.hostFirewall.filter((r) => r.from.kind === "internet")).toEqual([]);
      const http = n.hostFirewall.filter((r) => r.port === 80);
      expect(http).toEqual([
        {
          protocol: "tcp",
          port: 80,
          from: { kind: "peers", peers: [{ node: "load-balancer", ip: "10.1.1.5", clients: ["load-balancer"] }] },
          comment: "ingress/http-from-balancer class C",
        },
      ]);
      expect(plan.exposure.filter((e) => e.node === n.name && e.service === "ingress").map((e) => e.class)).toEqual([
        "C",
        "D",
        "C",
      ]);
      // From the balancer's address exactly the HTTP port is open; from a stray address nothing.
      expect(privateExpectation(plan, n, "10.1.1.5")).toMatchObject({ owner: "tst-lb", tcpOpen: [80] });
      expect(privateExpectation(plan, n, "10.1.1.250").tcpOpen).toEqual([]);
    }
    // Node A, not fronted, still serves its own site publicly.
    expect(a!.firewall.rules.map((r) => r.port)).toEqual(expect.arrayContaining(["80", "443"]));
  });

  it("renders Caddy on a fronted node as plain HTTP on its private address, trusting forwarded headers from the balancer only", () => {
    const text = caddyfile(plan, w2!);
    expect(text).toContain("\tauto_https off\n");
    expect(text).not.toContain("acme_ca");
    expect(text).toContain(
      [
        "http://shop.tst.xiopro.example {",
        "\tbind 10.1.1.51",
        "\tencode zstd gzip",
        '\theader Strict-Transport-Security "max-age=31536000; includeSubDomains"',
        "\theader -Server",
        "\treverse_proxy 127.0.0.1:9000 {",
        "\t\ttrusted_proxies 10.1.1.5/32",
        "\t}",
        "}",
      ].join("\n"),
    );
    expect(caddyfile(plan, a!)).not.toContain("trusted_proxies");
  });

  it("prices the balancer from the dated catalog", () => {
    expect(plan.cost.lines.filter((l) => l.kind === "load-balancer")).toEqual([
      expect.objectContaining({ resource: "load-balancer:tst-lb", monthlyEur: 7.49, estimated: false }),
    ]);
    const lb21 = planOf("tst", (c) => {
      fronted(c);
      c.loadBalancer.type = "lb21";
    });
    expect(lb21.cost.lines.find((l) => l.kind === "load-balancer")).toMatchObject({ estimated: true });
  });
});

describe("load balancer: validation", () => {
  it("reports every problem at once, each with its key, value and fix", () => {
    expect(
      problemsOf("tst", (c) => {
        fronted(c);
        c.loadBalancer = {
          type: "lb12",
          privateIp: "10.1.1.10",
          targets: ["webb", "nodeC", "web", "web"],
          healthCheck: { intervalSeconds: 5, timeoutSeconds: 5 },
        };
      }),
    ).toEqual([
      'xiopro-infra:loadBalancer.type: "lb12" is not a Hetzner load balancer type | use one of lb11, lb21, lb31 (did you mean "lb11"?)',
      'xiopro-infra:loadBalancer.privateIp: "10.1.1.10" is nodeA\'s address | give the balancer an address no node has, below the automatic ones (.10 upwards), e.g. .5',
      'xiopro-infra:loadBalancer.targets[0]: "webb" is neither a pool nor an enabled node | use one of nodeA, web (did you mean "web"?)',
      'xiopro-infra:loadBalancer.targets[1]: "nodeC" is not enabled | set nodeC.enabled: true, or use one of nodeA, web',
      'xiopro-infra:loadBalancer.targets[3]: "web" is listed twice | list each target once',
      "xiopro-infra:loadBalancer.healthCheck.timeoutSeconds: 5 is not shorter than intervalSeconds (5) | lower it below 5, or raise intervalSeconds",
    ]);
  });

  it("refuses an address outside the subnet, a target with no site, and a site fronted on some of its nodes only", () => {
    expect(
      problemsOf("tst", (c) => {
        fronted(c);
        c.nodeC = { enabled: true, serverType: "cpx22", services: ["ingress", shop] };
        c.loadBalancer.privateIp = "10.1.2.5";
        c.loadBalancer.targets = ["web", "nodeA"];
      }),
    ).toEqual([
      'xiopro-infra:ingress.sites[1].service: "shop" runs on nodeC, web-1, web-2, but the load balancer fronts only web-1, web-2: the others would serve the site with nothing pointing at them | add nodeC to xiopro-infra:loadBalancer.targets, or remove shop from them',
      'xiopro-infra:loadBalancer.privateIp: "10.1.2.5" is outside the subnet 10.1.1.0/24 | choose a free address inside 10.1.1.0/24, e.g. 10.1.1.5',
    ]);
    expect(
      problemsOf("tst", (c) => {
        fronted(c);
        c.ingress.sites = c.ingress.sites.filter((s: { service: string }) => s.service !== "shop");
      }),
    ).toEqual([
      'xiopro-infra:loadBalancer.targets[0]: "web" serves no site (ingress.sites), so the balancer would have nothing to send it | remove web from the targets, or declare a site whose service runs on it',
    ]);
  });

  it("admits the balancer as a named client only on a node it fronts", () => {
    expect(
      problemsOf("tst", (c) => {
        fronted(c);
        c.nodeA.services.push({
          name: "hook",
          interfaces: [
            { port: 7001, class: "C", owner: "product", justification: "webhooks", clients: ["load-balancer"] },
          ],
        });
      }),
    ).toEqual([
      "xiopro-infra:nodeA.services[9].interfaces[0].clients[0]: names the load balancer, but it does not front nodeA | add nodeA to xiopro-infra:loadBalancer.targets, or remove load-balancer from clients",
    ]);
  });
});

describe("load balancer: program", () => {
  it("declares the balancer, its network address, certificate, HTTPS service and a private target per server", async () => {
    const obj = structuredClone(stackObject("tst")) as Record<string, any>;
    fronted(obj);
    const { runProgram } = await import("../../infra/program.js");
    const run = await runOffline("tst", toRaw(obj), runProgram);
    const one = (t: string) => {
      const found = run.resources.filter((r) => r.type === `hcloud:index/${t}`);
      return found;
    };
    const [lb] = one("loadBalancer:LoadBalancer") as [RecordedResource];
    expect(lb.inputs).toMatchObject({ name: "tst-lb", loadBalancerType: "lb11", location: "fsn1" });
    expect(one("loadBalancerNetwork:LoadBalancerNetwork").map((r) => r.inputs.ip)).toEqual(["10.1.1.5"]);
    expect(one("managedCertificate:ManagedCertificate").map((r) => r.inputs.domainNames)).toEqual([
      ["shop.tst.xiopro.example"],
    ]);
    const [svc] = one("loadBalancerService:LoadBalancerService") as [RecordedResource];
    expect(svc.inputs).toMatchObject({
      protocol: "https",
      listenPort: 443,
      destinationPort: 80,
      http: { redirectHttp: true },
      healthCheck: { protocol: "http", port: 80, http: { domain: "shop.tst.xiopro.example", path: "/healthz" } },
    });
    const servers = new Map(
      run.resources.filter((r) => r.type === "hcloud:index/server:Server").map((r) => [r.id, r.inputs.name]),
    );
    expect(
      one("loadBalancerTarget:LoadBalancerTarget").map((r) => [
        servers.get(String(r.inputs.serverId)),
        r.inputs.usePrivateIp,
      ]),
    ).toEqual([
      ["tst-web-1", true],
      ["tst-web-2", true],
    ]);
    const records = run.outputs.dnsRecords as { fqdn: string; type: string; value: string }[];
    const out = run.outputs.loadBalancer as { ipv4: string; ipv6: string };
    expect(records.filter((r) => r.fqdn === "shop.tst.xiopro.example").map((r) => r.value)).toEqual([
      out.ipv4,
      out.ipv6,
    ]);
    // The fronted servers' cloud firewalls open no web port.
    const fw = run.resources.filter((r) => r.type === "hcloud:index/firewall:Firewall" && r.name.includes("web-"));
    // Both members' firewalls, each with ICMP alone (no loop over nothing).
    expect(
      fw.map((f) => [
        f.inputs.name,
        (f.inputs.rules as { protocol: string; port?: string }[]).map((r) => r.port ?? r.protocol),
      ]),
    ).toEqual([
      ["tst-web-1-fw", ["icmp"]],
      ["tst-web-2-fw", ["icmp"]],
    ]);
  });
});
