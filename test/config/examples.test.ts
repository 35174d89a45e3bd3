// The shipped example stacks (examples/): each loads without a problem and plans and prices offline.
// Seed 004's standard production: an LB11 in front of Node A (with the database) and a second
// orchestrator, a monitoring node and a CI runner at the seed's fixed addresses, each priced, the
// private network gated per client.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readStackFile } from "../../infra/config/stack-file.js";
import { loadConfig } from "../../infra/config/load.js";
import { buildPlan } from "../../infra/plan/index.js";
import { runPlan } from "../../scripts/lib/offline-plan.js";
import { ROOT } from "../support/helpers.js";

describe("examples/standard-production (seed 004)", () => {
  const file = readStackFile(path.join(ROOT, "examples/standard-production"), "prd");
  if (!file.ok) throw new Error(JSON.stringify(file.problems));
  const loaded = loadConfig(file.raw, { requireSecrets: false });
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => `${p.key}: ${p.message}`).join("\n"));
  const plan = buildPlan(loaded.config, "prd");
  const byKey = Object.fromEntries(plan.nodes.map((n) => [n.key, n]));

  it("places the seed's servers at its fixed addresses, each with its role", () => {
    expect(plan.nodes.map((n) => [n.name, n.role, n.serverType, n.architecture, n.privateIp])).toEqual([
      ["prd-node-a", "control", "cx33", "x86", "10.0.1.10"],
      ["prd-orchestrator-1", "worker", "cx23", "x86", "10.0.1.11"],
      ["prd-monitoring-1", "monitoring", "cax21", "arm", "10.0.1.20"],
      ["prd-ci-1", "ci-runner", "cpx32", "x86", "10.0.1.30"],
    ]);
  });

  it("puts the LB11 in front of both orchestrators: the API's records at it, 80/443 closed on them", () => {
    expect(plan.loadBalancer).toMatchObject({
      type: "lb11",
      privateIp: "10.0.1.5",
      targets: ["nodeA", "orchestrator-1"],
    });
    expect(plan.dns.records.filter((r) => r.fqdn === "api.aiai.example").map((r) => `${r.type} ${r.node}`)).toEqual([
      "A loadBalancer",
      "AAAA loadBalancer",
    ]);
    for (const key of ["nodeA", "orchestrator-1"])
      expect(byKey[key]!.firewall.rules.map((r) => r.port ?? r.protocol)).toEqual(["icmp"]);
  });

  it("prices every machine from the dated catalog", () => {
    const servers = plan.cost.lines.filter((l) => l.kind === "server");
    expect(servers.map((l) => [l.resource, l.monthlyEur])).toEqual([
      ["server:prd-node-a", 8.49],
      ["server:prd-orchestrator-1", 5.49],
      ["server:prd-monitoring-1", 10.49],
      ["server:prd-ci-1", 35.49],
    ]);
    expect(plan.cost.lines.filter((l) => l.kind === "load-balancer").map((l) => [l.resource, l.monthlyEur])).toEqual([
      ["load-balancer:prd-lb", 7.49],
    ]);
    // The seed's snapshots: each node's baked OS state, one package set per role here.
    expect(plan.cost.lines.filter((l) => l.kind === "snapshot").map((l) => [l.description, l.monthlyEur])).toEqual(
      ["prd-node-a", "prd-orchestrator-1", "prd-monitoring-1", "prd-ci-1"].map((name) => [
        expect.stringContaining(`(${name})`),
        0.06,
      ]),
    );
    expect(plan.cost.catalogDate).toBe("2026-06-15");
  });

  it("admits on Node A exactly the monitoring node to the exporters and the orchestrator to PostgreSQL", () => {
    const peers = byKey.nodeA!.hostFirewall.flatMap((r) =>
      r.from.kind === "peers" ? [`${r.port} ${r.from.peers.map((p) => p.ip).join(",")}`] : [],
    );
    expect(peers).toEqual(["9100 10.0.1.20", "80 10.0.1.5", "9180 10.0.1.20", "5432 10.0.1.11", "9187 10.0.1.20"]);
    // The CI runner is admitted nowhere, and its node only lets the monitoring node scrape it.
    expect(JSON.stringify(plan.nodes.map((n) => n.hostFirewall))).not.toContain("10.0.1.30");
    expect(
      byKey["ci-1"]!.hostFirewall.flatMap((r) => (r.from.kind === "peers" ? [r.port, r.from.peers[0]!.ip] : [])),
    ).toEqual([9100, "10.0.1.20"]);
  });

  it("plans offline through the real program, every node's user-data within Hetzner's limit", async () => {
    const r = await runPlan(ROOT, "prd", path.join(ROOT, "examples/standard-production/Pulumi.prd.yaml"));
    expect(Object.keys(r.userData).sort()).toEqual(plan.nodes.map((n) => n.name).sort());
    for (const [name, text] of Object.entries(r.userData)) expect(Buffer.byteLength(text), name).toBeLessThan(32768);
  });
});
