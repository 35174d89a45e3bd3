// The cost must equal a hand computation from the catalog, to the cent.
import { describe, expect, it } from "vitest";
import { catalog } from "../../infra/catalog/index.js";
import { planOf } from "../support/helpers.js";
import { BAKE_KEEP, bakeSetFor, SNAPSHOT_GB_ESTIMATE } from "../../infra/plan/bake.js";

describe("monthly cost", () => {
  it("prd: cpx62 + 20 % backups + IPv4 + IPv6 + 300 GB of volumes + object storage", () => {
    // Hand computation, EUR: 129.99 + 26.00 (129.99 × 0.20 = 25.998) + 0.50 + 0 + 200 × 0.0572 (11.44) + 100 × 0.0572 (5.72) + 6.49
    expect(catalog.serverTypes.cpx62!.monthly.fsn1).toBe(129.99);
    expect(catalog.volumePerGbMonth).toBe(0.0572);
    const cost = planOf("prd").cost;
    expect(cost.lines.map((l) => [l.resource, l.monthlyEur])).toEqual([
      ["server:prd-node-a", 129.99],
      ["backups:prd-node-a", 26.0],
      ["primary-ipv4:prd-node-a", 0.5],
      ["primary-ipv6:prd-node-a", 0],
      ["volume:prd-node-a-pgdata", 11.44],
      ["volume:prd-node-a-artifacts", 5.72],
      ["object-storage:backups", 6.49],
    ]);
    expect(cost.monthlyEur).toBe(180.14);
    expect(cost.yearlyEur).toBe(2161.68);
    expect(cost.catalogDate).toBe(catalog.catalogDate);
    // The off-site repository is another provider's bill: named, not priced, not in the total.
    expect(cost.elsewhere).toEqual([
      "the off-site backup repository (s3, s3.eu-central-003.backblazeb2.com): billed by its provider",
    ]);
  });

  it("tst: cpx22 + IPv4 + 30 GB of volumes (1.144 → 1.14 and 0.572 → 0.57) + object storage", () => {
    const cost = planOf("tst").cost;
    expect(cost.lines.map((l) => l.monthlyEur)).toEqual([19.49, 0.5, 0, 1.14, 0.57, 6.49]);
    expect(cost.monthlyEur).toBe(28.19);
    expect(cost.elsewhere).toBeUndefined();
  });

  it("adds Node C and D when enabled and rounds each line half up to the cent", () => {
    const cost = planOf("tst", (c) => {
      c.nodeC = {
        enabled: true,
        serverType: "ccx13",
        backups: true,
        publicIpv6: false,
        volumes: [{ name: "models", sizeGb: 15, mountPoint: "/srv/models" }],
      };
    }).cost;
    const c = Object.fromEntries(cost.lines.map((l) => [l.resource, l.monthlyEur]));
    expect(c["server:tst-node-c"]).toBe(42.99);
    expect(c["backups:tst-node-c"]).toBe(8.6); // 42.99 × 0.2 = 8.598
    expect(c["volume:tst-node-c-models"]).toBe(0.86); // 15 × 0.0572 = 0.858
    expect(c["primary-ipv6:tst-node-c"]).toBeUndefined();
    expect(cost.monthlyEur).toBe(28.19 + 42.99 + 8.6 + 0.5 + 0.86);
  });

  it("prices the snapshots baked nodes boot: one line per package set, the kept ones at the estimated size", () => {
    // Hand computation, EUR: 2 snapshots × 2 GB × 0.0143 = 0.0572 → 0.06 per set.
    expect([BAKE_KEEP, SNAPSHOT_GB_ESTIMATE, catalog.snapshotPerGbMonth]).toEqual([2, 2, 0.0143]);
    const plan = planOf("tst", (c) => {
      c.nodeA.baked = true;
      c.pools = [
        {
          name: "worker",
          role: "worker",
          count: 2,
          serverType: "cx23",
          firstPrivateIp: "10.1.1.40",
          services: ["agentd-worker"],
          baked: true,
        },
      ];
    });
    const [a, w1, w2] = ["tst-node-a", "tst-worker-1", "tst-worker-2"].map(
      (name) =>
        bakeSetFor(
          plan,
          plan.nodes.find((n) => n.name === name)!,
        ).hash,
    );
    expect(w1).toBe(w2);
    expect(a).not.toBe(w1);
    const snapshots = plan.cost.lines.filter((l) => l.kind === "snapshot");
    expect(snapshots.map((l) => [l.resource, l.quantity, l.unit, l.monthlyEur, l.estimated])).toEqual([
      [`snapshot:${a}`, 4, "GB-month", 0.06, true],
      [`snapshot:${w1}`, 4, "GB-month", 0.06, true],
    ]);
    expect(snapshots[1]!.description).toContain("(tst-worker-1, tst-worker-2)");
    // A stock node (the default) boots no snapshot of ours: nothing to bill.
    expect(planOf("tst").cost.lines.some((l) => l.kind === "snapshot")).toBe(false);
  });

  it("prices a Storage Box the stack creates by its catalog type instead of Object Storage", () => {
    // Hand computation, EUR: 28.19 − 6.49 (no Object Storage) + 3.20 (BX11) = 24.90
    const cost = planOf(
      "tst",
      (c) => (c.backup.repository = { kind: "sftp", path: "/tst", createStorageBox: { type: "bx11" } }),
    ).cost;
    expect(
      cost.lines
        .filter((l) => l.kind === "storage-box" || l.kind === "object-storage")
        .map((l) => [l.resource, l.monthlyEur]),
    ).toEqual([["storage-box:backups", 3.2]]);
    expect(cost.monthlyEur).toBe(24.9);
  });
});
