// Pools: servers alike, with a role, beside Nodes A, C and D. Each member is a node of the one list
// (infra/config/stack-nodes.ts) that validation, the secret inventory, the plan and the program walk.
import { describe, expect, it } from "vitest";
import { planOf, problemsOf } from "../support/helpers.js";
import { nodeFiles } from "../../cloud-init/render.js";
import { pgHba } from "../../cloud-init/configs.js";
import { envFileValues } from "../../lab/pg-cluster.js";
import type { NodePlan } from "../../infra/plan/index.js";
import { hbaHostLines, privateExpectation } from "../../scripts/accept/private.js";

const workers = {
  name: "workers",
  role: "worker",
  count: 2,
  serverType: "cpx22",
  firstPrivateIp: "10.1.1.20",
  services: [
    {
      name: "embedder",
      interfaces: [
        { port: 7000, class: "C", owner: "ml", justification: "embeddings for the API", clients: ["agentd-web"] },
      ],
    },
  ],
};

describe("pools", () => {
  it("reboot one member after another in the maintenance window, each at its own time", () => {
    const plan = planOf("tst", (c) => {
      c.pools = [workers];
      c.maintenance = { autoReboot: true, rebootTime: "23:45", poolRebootSpacingMinutes: 20 };
    });
    const rebootLine = (n: NodePlan) =>
      nodeFiles(plan, n)
        .find((f) => f.path === "/etc/apt/apt.conf.d/52xiopro-unattended-upgrades")!
        .content.split("\n")
        .filter((l) => l.startsWith("Unattended-Upgrade::Automatic-Reboot"));
    const at = Object.fromEntries(plan.nodes.map((n) => [n.name, rebootLine(n)]));
    // The lettered node keeps the window; the second member follows the first by the spacing, past midnight.
    expect(at).toEqual({
      "tst-node-a": [
        'Unattended-Upgrade::Automatic-Reboot "true";',
        'Unattended-Upgrade::Automatic-Reboot-Time "23:45";',
      ],
      "tst-workers-1": [
        'Unattended-Upgrade::Automatic-Reboot "true";',
        'Unattended-Upgrade::Automatic-Reboot-Time "23:45";',
      ],
      "tst-workers-2": [
        'Unattended-Upgrade::Automatic-Reboot "true";',
        'Unattended-Upgrade::Automatic-Reboot-Time "00:05";',
      ],
    });
  });

  it("plan each member as a node: deterministic names, keys, labels and private addresses", () => {
    const plan = planOf("tst", (c) => {
      c.pools = [
        workers,
        { name: "ci", role: "ci-runner", count: 1, serverType: "cpx32", firstPrivateIp: "10.1.1.40" },
      ];
    });
    expect(plan.nodes.map((n) => [n.key, n.name, n.short, n.role, n.privateIp])).toEqual([
      ["nodeA", "tst-node-a", "node-a", "control", "10.1.1.10"],
      ["workers-1", "tst-workers-1", "workers-1", "worker", "10.1.1.20"],
      ["workers-2", "tst-workers-2", "workers-2", "worker", "10.1.1.21"],
      ["ci-1", "tst-ci-1", "ci-1", "ci-runner", "10.1.1.40"],
    ]);
    const w2 = plan.nodes.find((n) => n.key === "workers-2")!;
    expect(w2.labels).toMatchObject({ env: "tst", node: "workers-2", role: "worker", pool: "workers" });
    expect(w2.pool).toEqual({ name: "workers", index: 2, count: 2 });
    // The lettered node keeps its labels as before pools.
    expect(plan.nodes[0]!.labels).not.toHaveProperty("pool");
    // Its class C port admits the API's node only; monitoring on Node A reaches its exporter.
    const a = plan.nodes[0]!;
    expect(w2.hostFirewall.filter((r) => r.from.kind === "peers").map((r) => [r.port, r.comment])).toEqual([
      [9100, "node-exporter/node-metrics class C"],
      [7000, "embedder/embedder-1 class C"],
    ]);
    for (const r of w2.hostFirewall)
      if (r.from.kind === "peers") expect(r.from.peers.map((p) => p.ip)).toEqual([a.privateIp]);
    // Every member is priced, and has its host name in DNS.
    expect(plan.cost.lines.filter((l) => l.kind === "server").map((l) => l.resource)).toEqual([
      "server:tst-node-a",
      "server:tst-workers-1",
      "server:tst-workers-2",
      "server:tst-ci-1",
    ]);
    expect(plan.dns.records.filter((r) => r.node === "ci-1").map((r) => `${r.fqdn} ${r.type}`)).toEqual([
      "tst-ci-1.tst.xiopro.example A",
      "tst-ci-1.tst.xiopro.example AAAA",
    ]);
  });

  it("refuses what a pool cannot be, every problem at once, naming the pool's key", () => {
    expect(
      problemsOf("tst", (c) => {
        c.pools = [
          { ...workers, count: 3 },
          { name: "workers", role: "monitoring", count: 2, serverType: "cpx22", services: ["monitoring"] },
          {
            name: "db",
            role: "wizard",
            count: 0,
            serverType: "cpx22",
            firstPrivateIp: "10.1.1.40",
            services: ["agentd-worker"],
          },
        ];
        c.nodeA.services = c.nodeA.services.filter((s: string) => s !== "monitoring" && s !== "grafana");
      }),
    ).toEqual([
      "xiopro-infra:pools[1].firstPrivateIp: is required but not set | set it in the stack file (see docs/config.md: Private IPv4 of the first server; the others take the next addresses. Fixed, so that adding a node or a pool never moves another's address (a moved address replaces the server))",
      'xiopro-infra:pools[2].role: "wizard" is not allowed | use one of control, compute, product, worker, monitoring, ci-runner, wal-receiver',
      "xiopro-infra:pools[2].count: 0 is out of range | use a value from 1 to 10",
    ]);
    expect(
      problemsOf("tst", (c) => {
        c.pools = [
          { ...workers, count: 3, firstPrivateIp: "10.1.1.10" },
          {
            name: "workers",
            role: "monitoring",
            count: 2,
            serverType: "cpx22",
            firstPrivateIp: "10.1.1.30",
            services: ["monitoring"],
          },
          {
            name: "db",
            role: "worker",
            count: 1,
            serverType: "cpx22",
            firstPrivateIp: "10.1.1.31",
            services: ["agentd-worker"],
          },
        ];
        c.nodeA.services = c.nodeA.services.filter((s: string) => s !== "monitoring" && s !== "grafana");
      }),
    ).toEqual([
      'xiopro-infra:pools[1].name: "workers" is used by another pool | give every pool its own name',
      "xiopro-infra:pools[2].firstPrivateIp: \"10.1.1.31\" (db-1) is already used by workers-2 | move firstPrivateIp so that the pool's 1 addresses overlap no other node's",
      'xiopro-infra:pools[1].services: "monitoring" runs on workers-1 and workers-2, but it may run on one node only | remove monitoring from all but one node',
    ]);
  });

  it("let agent workers in a pool log in to the database over the private network, as their role, from their address only", () => {
    const plan = planOf("tst", (c) => {
      c.pools = [
        {
          name: "workers",
          role: "worker",
          count: 2,
          serverType: "cpx32",
          firstPrivateIp: "10.1.1.20",
          services: ["agentd-worker"],
        },
      ];
    });
    const [a, w1, w2] = plan.nodes;
    const files = (n: NodePlan) => nodeFiles(plan, n);
    const env = (n: NodePlan) => envFileValues(files(n).find((f) => f.path === "/etc/xiopro/agentd.env")!.content);
    expect(env(w1!).DATABASE_HOST).toBe(a!.privateIp);
    expect(env(a!).DATABASE_HOST).toBe("127.0.0.1");
    // The worker role's password on each worker node, for the worker units only; beside PostgreSQL unchanged.
    expect(w2!.secrets.map((s) => [s.file, s.source, s.grants])).toEqual([
      ["pg-role-worker", "generated", [{ unit: "agentd-worker@.service", id: "DATABASE_PASSWORD" }]],
    ]);
    expect(a!.secrets.find((s) => s.file === "pg-role-worker")!.grants).toEqual([
      { unit: "xiopro-postgres-roles.service", id: "pg-role-worker" },
      { unit: "agentd-worker@.service", id: "DATABASE_PASSWORD" },
      { unit: "agentd-sweeper.service", id: "DATABASE_PASSWORD" },
    ]);
    // pg_hba: one line per role and address; the firewall admits the workers to 5432 and nothing else of theirs.
    expect(hbaHostLines(pgHba(plan, a!)).filter((l) => l.address.startsWith("10.1.1.2"))).toEqual([
      { database: "xiopro", user: "xiopro_worker", address: "10.1.1.20/32" },
      { database: "xiopro", user: "xiopro_worker", address: "10.1.1.21/32" },
    ]);
    expect(a!.hostFirewall.filter((r) => r.from.kind === "peers")).toEqual([
      {
        protocol: "tcp",
        port: 5432,
        from: {
          kind: "peers",
          peers: [
            { node: "tst-workers-1", ip: "10.1.1.20", clients: ["agentd-worker"] },
            { node: "tst-workers-2", ip: "10.1.1.21", clients: ["agentd-worker"] },
          ],
        },
        comment: "postgresql/postgres-private class C",
      },
    ]);
    expect(privateExpectation(plan, a!, w1!.privateIp).roles.filter((r) => r.admitted)).toEqual([
      { role: "xiopro_worker", replication: false, admitted: true },
    ]);
    // Without a database anywhere, the agent runtime is refused by name.
    expect(
      problemsOf("tst", (c) => {
        c.nodeA.services = ["ingress", "agentd-web"];
        c.nodeA.volumes = [];
      }),
    ).toContain(
      'xiopro-infra:nodeA.services: lists "agentd-web", but no enabled node runs postgresql | remove agentd-web, or add postgresql to nodeA.services',
    );
  });

  it("run CI runners in a pool: pinned release, one scope, IPv4, and the registration token as a secret", () => {
    const ci = (o: Record<string, unknown>) => (c: Record<string, any>) => {
      c.pools = [
        {
          name: "ci",
          role: "ci-runner",
          count: 2,
          serverType: "cpx32",
          firstPrivateIp: "10.1.1.30",
          services: ["ci-runner"],
          ...o,
        },
      ];
    };
    expect(problemsOf("tst", ci({ publicIpv4: false }))).toEqual([
      "xiopro-infra:ci-runner.repository: is not set, and neither is organization (ci-1 runs ci-runner) | set exactly one: repository (owner/name) or organization",
      "xiopro-infra:ci-runner.version: is not set (ci-1 runs ci-runner) | pin the actions/runner release, e.g. version: 2.330.0, with its SHA-256 (github.com/actions/runner/releases)",
      "xiopro-infra:ci-runner.sha256.x64: is not set, but tst-ci-1 is x64 (ci-1 runs ci-runner) | copy the SHA-256 of actions-runner-linux-x64-<version>.tar.gz from the release notes",
      "xiopro-infra:pools[0].publicIpv4: is false, but pools[0] runs ci-runner: GitHub's API and release downloads have no IPv6 address | set pools[0].publicIpv4: true, or run ci-runner on a node with IPv4 (docs/ipv6-only.md)",
    ]);
    const pinned = (c: Record<string, any>) => {
      ci({})(c);
      c["ci-runner"] = { organization: "xiopro", version: "2.330.0", sha256: { x64: "a".repeat(64) } };
    };
    expect(problemsOf("tst", pinned)).toEqual([]);
    const plan = planOf("tst", pinned);
    const runner = plan.nodes.find((n) => n.key === "ci-2")!;
    // No port of its own: only the baseline's (SSH and Tailscale on the admin path, the node exporter for
    // Prometheus on Node A); the token for the registration only.
    expect(runner.exposure.map((e) => `${e.service}/${e.port}/${e.class}`)).toEqual([
      "sshd/22/B",
      "node-exporter/9100/C",
      "tailscale/41641/B",
    ]);
    expect(runner.secrets.map((s) => [s.file, s.configKey, s.grants.map((g) => g.unit), s.restart])).toEqual([
      ["ci-runner-token", "ciRunnerToken", ["xiopro-ci-runner-jit.service"], ["xiopro-ci-runner.service"]],
    ]);
    expect(plan.cost.lines.filter((l) => l.resource === "server:tst-ci-2").map((l) => l.monthlyEur)).toHaveLength(1);
  });

  it("refuses more servers than the stack's spread placement group holds, and a site on a service two nodes run", () => {
    expect(
      problemsOf("tst", (c) => {
        c.pools = [{ name: "many", role: "worker", count: 10, serverType: "cpx22", firstPrivateIp: "10.1.1.100" }];
      }),
    ).toEqual([
      "xiopro-infra:pools: make the stack 11 servers, but its spread placement group holds at most 10 | lower the pools' counts to 9 servers in all, or use fewer, larger servers",
    ]);
    expect(
      problemsOf("tst", (c) => {
        c.pools = [
          {
            name: "web",
            role: "product",
            count: 2,
            serverType: "cpx22",
            firstPrivateIp: "10.1.1.50",
            services: [
              "ingress",
              {
                name: "shop",
                interfaces: [{ port: 9000, class: "D", owner: "product", justification: "upstream of the shop" }],
              },
            ],
          },
        ];
        c.ingress.sites.push({ hostname: "shop.tst.xiopro.example", service: "shop" });
      }),
    ).toEqual([
      "xiopro-infra:ingress.sites[1].service: \"shop\" runs on web-1, web-2: each would get the site's A/AAAA records, and no balancer spreads or fails over between them | run the site's service on one node, or put xiopro-infra:loadBalancer in front of them (targets: [web])",
    ]);
    // A fix names the pool's config key, not its member's.
    expect(
      problemsOf("tst", (c) => {
        c.pools = [
          {
            name: "web",
            role: "product",
            count: 1,
            serverType: "cpx22",
            firstPrivateIp: "10.1.1.50",
            publicIpv4: false,
            services: [
              { name: "shop", interfaces: [{ port: 9000, class: "D", owner: "product", justification: "shop" }] },
            ],
          },
        ];
        c.ingress.sites.push({ hostname: "shop.tst.xiopro.example", service: "shop" });
      }),
    ).toEqual([
      'xiopro-infra:ingress.sites[1].service: "shop" runs on web-1, which does not run ingress | add "ingress" to pools[0].services',
      'xiopro-infra:ingress.sites[1].service: "shop" runs on web-1, which has no public IPv4: the site gets no A record, and clients without IPv6 cannot reach it | set pools[0].publicIpv4: true (docs/ipv6-only.md)',
    ]);
  });
});
