// The cost diff as a PR shows it: per-resource and total deltas, which servers a change replaces
// or rescales and what Hetzner bills for that new order, avoidable replacements, exposure changes.
import { describe, expect, it } from "vitest";
import { catalog } from "../../../infra/catalog/index.js";
import { userDataFingerprint } from "../../../infra/program.js";
import { topologyMermaid } from "../../../infra/plan/topology.js";
import { diffCost, serverChange } from "../../../scripts/lib/cost-diff.js";
import {
  COST_FORMAT,
  CostInputError,
  documentFromOutputs,
  emptyDocument,
  parseCostDocument,
  type CostDocument,
} from "../../../scripts/lib/cost-document.js";
import { diffMarkdown, diffText, documentText, exposureMarkdown, signed } from "../../../scripts/lib/cost-format.js";
import { planOf } from "../../support/helpers.js";

/** The cost document a stack's outputs give, for the stack file edited by `edit`. */
function docOf(stack: string, edit?: (c: Record<string, any>) => void): CostDocument {
  const plan = planOf(stack, edit);
  const nodes = Object.fromEntries(
    plan.nodes.map((n) => [
      n.key,
      {
        name: n.name,
        serverType: n.serverType,
        location: n.location,
        image: n.image,
        backups: n.backups,
        userDataChange: plan.userDataChange,
        userDataFingerprint: userDataFingerprint(plan, n),
      },
    ]),
  );
  return documentFromOutputs(
    stack,
    {
      environment: plan.environment,
      cost: plan.cost,
      nodes,
      exposureMatrix: plan.exposure,
      topology: topologyMermaid(plan),
    },
    "offline-plan",
    "test",
  );
}

const change = (base: CostDocument, head: CostDocument) => diffCost(base, head, { mode: "change", catalog });
const row = (d: ReturnType<typeof change>, resource: string) => d.rows.find((r) => r.resource === resource)!;

describe("cost diff of a change", () => {
  it("marks nothing when nothing changed: every row unchanged, totals equal, no warning", () => {
    const d = change(docOf("prd"), docOf("prd"));
    expect(d.rows.map((r) => r.status)).toEqual(d.rows.map(() => "unchanged"));
    expect([d.base.monthlyEur, d.head.monthlyEur, d.deltaMonthlyEur, d.head.yearlyEur]).toEqual([
      180.14, 180.14, 0, 2161.68,
    ]);
    expect(d.servers.map((s) => [s.name, s.action])).toEqual([["prd-node-a", "none"]]);
    expect(d.warnings).toEqual([]);
    expect(d.exposure).toEqual([]);
    expect(d.topologyChanged).toBe(false);
  });

  it("a server type change under userDataChange: replace is a replacement billed at the new type's new-order price", () => {
    // The user-data is tuned from the server's memory, so a type change changes it too.
    const d = change(
      docOf("tst"),
      docOf("tst", (c) => (c.nodeA.serverType = "cpx32")),
    );
    const s = d.servers[0]!;
    expect(s.action).toBe("replace");
    expect(s.reasons).toEqual(["server type cpx22 → cpx32", "user-data changed (userDataChange: replace)"]);
    expect(s.newOrderEur).toBe(35.49);
    expect(s.existingRateEur).toBe(7.99); // cpx22's rate for servers ordered before 2026-06-15
    expect(s.extraIfExistingEur).toBe(27.5); // 35.49 − 7.99, no backups on tst
    expect(s.avoidable).toMatch(
      /with `userDataChange: in-place` the user-data is pushed over the admin path and the type change is a rescale/,
    );
    expect(row(d, "server:tst-node-a")).toMatchObject({
      status: "changed",
      baseEur: 19.49,
      headEur: 35.49,
      deltaEur: 16,
    });
    expect([d.base.monthlyEur, d.head.monthlyEur, d.deltaMonthlyEur, d.deltaYearlyEur]).toEqual([
      28.19, 44.19, 16, 192,
    ]);
  });

  it("the same type change under userDataChange: in-place is a rescale, not avoidable", () => {
    const inPlace = (type?: string) => (c: Record<string, any>) => {
      c.userDataChange = "in-place";
      if (type) c.nodeA.serverType = type;
    };
    const d = change(docOf("tst", inPlace()), docOf("tst", inPlace("cpx32")));
    expect(d.servers[0]).toMatchObject({
      action: "rescale",
      reasons: ["server type cpx22 → cpx32"],
      newOrderEur: 35.49,
      existingRateEur: 7.99,
      extraIfExistingEur: 27.5,
    });
    expect(d.servers[0]!.avoidable).toBeUndefined();
    const md = diffMarkdown(d);
    expect(md).toContain(
      "| `server:tst-node-a` | RESCALED | 19.49 | 35.49 | +16.00 | ⚠️ RESCALE (server type cpx22 → cpx32): new order at 35.49 (a server ordered before 2026-06-15 pays 7.99) |",
    );
    expect(md).toContain(
      "> ⚠️ **Rescale of `tst-node-a`** (server type cpx22 → cpx32): Hetzner bills a rescale as a new order at **35.49 EUR/month**, not the rate of a server ordered before 2026-06-15 (7.99): +27.50 EUR/month if this server still pays that rate.",
    );
    expect(md).not.toContain("Avoidable");
  });

  it("warns that a user-data-only replacement is avoidable, even though the monthly total does not move", () => {
    const d = change(
      docOf("tst"),
      docOf("tst", (c) => (c.agentd.workers = 2)),
    );
    expect(d.servers[0]).toMatchObject({
      action: "replace",
      reasons: ["user-data changed (userDataChange: replace)"],
      newOrderEur: 19.49,
      existingRateEur: 7.99,
      extraIfExistingEur: 11.5,
    });
    expect(d.deltaMonthlyEur).toBe(0);
    expect(d.warnings).toContain(
      "avoidable replacement: only the user-data of tst-node-a changed: with `userDataChange: in-place` it is pushed over the admin path and the server, its addresses and its rate stay",
    );
    const md = diffMarkdown(d);
    expect(md).toMatch(/^#### Cost: 0\.00 EUR\/month \(0\.00 EUR\/year\)$/m);
    expect(md).toContain(
      "| `server:tst-node-a` | REPLACED | 19.49 | 19.49 |  | ⚠️ REPLACEMENT (user-data changed (userDataChange: replace)): new order at 19.49 (a server ordered before 2026-06-15 pays 7.99) |",
    );
    expect(md).toContain("> 💡 **Avoidable replacement**: only the user-data of tst-node-a changed");
  });

  it("the same user-data change under in-place is an update over the admin path: no replacement, no warning", () => {
    const d = change(
      docOf("prd"),
      docOf("prd", (c) => (c.agentd.workers = 6)),
    );
    expect(d.servers[0]!.action).toBe("update-in-place");
    expect(d.servers[0]!.newOrderEur).toBeUndefined();
    expect(d.warnings).toEqual([]);
    expect(diffMarkdown(d)).not.toContain("⚠️");
  });

  it("a location change replaces the server; the existing-rate comparison includes the 20 % backups", () => {
    const d = change(
      docOf("prd"),
      docOf("prd", (c) => (c.location = "nbg1")),
    );
    const s = d.servers[0]!;
    expect(s.action).toBe("replace");
    expect(s.reasons[0]).toBe("location fsn1 → nbg1");
    expect(s.avoidable).toBeUndefined();
    // new: 129.99 + 26.00 backups; existing: 50.49 + 10.10 (50.49 × 0.2 = 10.098)
    expect(s.extraIfExistingEur).toBe(95.4);
    expect(row(d, "backups:prd-node-a").notes).toEqual(["20 % of the server's new-order price"]);
  });

  it("an image change replaces the server", () => {
    const d = change(
      docOf("tst"),
      docOf("tst", (c) => (c.nodeA.image = "debian-12")),
    );
    expect(d.servers[0]!.action).toBe("replace");
    expect(d.servers[0]!.reasons).toContain("image debian-13 → debian-12");
  });

  it("baking a node adds its snapshots' line, marked as an estimate, and replaces no server", () => {
    const d = change(
      docOf("tst"),
      docOf("tst", (c) => (c.nodeA.baked = true)),
    );
    const added = d.rows.filter((r) => r.status !== "unchanged");
    expect(
      added.map((r) => [r.resource.replace(/[0-9a-f]{16}$/, "<hash>"), r.status, r.deltaEur, r.estimated]),
    ).toEqual([["snapshot:<hash>", "added", 0.06, true]]);
    expect(d.servers.map((s) => s.action)).toEqual(["none"]);
    expect(diffMarkdown(d)).toMatch(/`snapshot:[0-9a-f]{16}`.*\(estimate\)/);
  });

  it("a new node is a new order: its lines are added and its ports listed as opened by class", () => {
    const d = change(
      docOf("tst"),
      docOf("tst", (c) => (c.nodeC = { enabled: true, serverType: "ccx13", backups: true, volumes: [] })),
    );
    const s = d.servers.find((x) => x.name === "tst-node-c")!;
    expect(s).toMatchObject({ action: "create", newOrderEur: 42.99 });
    expect(row(d, "server:tst-node-c")).toMatchObject({
      status: "added",
      headEur: 42.99,
      deltaEur: 42.99,
      notes: ["new server: new order at 42.99"],
    });
    expect(row(d, "backups:tst-node-c")).toMatchObject({ status: "added", headEur: 8.6 });
    expect(d.exposure).toContainEqual(
      expect.objectContaining({
        change: "opened",
        class: "B",
        node: "tst-node-c",
        port: 22,
        protocol: "tcp",
        service: "sshd",
      }),
    );
    expect(d.exposure.every((e) => e.node === "tst-node-c" && e.change === "opened")).toBe(true);
    expect(d.topologyChanged).toBe(true);
    const text = diffText(d);
    expect(text).toMatch(/^server:tst-node-c\s+new\s+–\s+42\.99\s+\+42\.99\s+new server/m);
  });

  it("lists a public port opened by a change, with a warning, and a closed one", () => {
    // Class A TCP goes through the ingress (validation refuses other ports); UDP may be public.
    const custom = {
      name: "turn",
      interfaces: [
        { port: 3478, protocol: "udp", class: "A", owner: "platform", justification: "TURN relay for browser clients" },
      ],
    };
    const base = docOf("tst");
    const head = docOf("tst", (c) => c.nodeA.services.push(custom));
    const d = change(base, head);
    expect(d.exposure).toEqual([
      {
        change: "opened",
        class: "A",
        node: "tst-node-a",
        service: "turn",
        interface: "turn-1",
        port: 3478,
        protocol: "udp",
        justification: "TURN relay for browser clients",
      },
    ]);
    expect(d.warnings).toContain("public port 3478/udp (turn/turn-1) opens on tst-node-a");
    expect(exposureMarkdown(d)).toContain(
      "| ⚠️ A public | opened | tst-node-a | 3478/udp | turn/turn-1 | TURN relay for browser clients |",
    );
    const back = change(head, base);
    expect(back.exposure.map((e) => [e.change, e.port])).toEqual([["closed", 3478]]);
    expect(back.warnings.filter((w) => w.startsWith("public port"))).toEqual([]);
  });

  it("reports a port whose class changes as reclassified", () => {
    const svc = (cls: string) => ({
      name: "turn",
      interfaces: [
        {
          port: 3478,
          protocol: "udp",
          class: cls,
          owner: "platform",
          justification: "TURN relay",
          ...(cls === "C" ? { clients: ["agentd-worker"] } : {}),
        },
      ],
    });
    const d = change(
      docOf("tst", (c) => c.nodeA.services.push(svc("C"))),
      docOf("tst", (c) => c.nodeA.services.push(svc("A"))),
    );
    expect(d.exposure).toEqual([
      expect.objectContaining({ change: "reclassified", fromClass: "C", class: "A", port: 3478 }),
    ]);
    expect(d.warnings).toContain("public port 3478/udp (turn/turn-1) moves from class C to A on tst-node-a");
    expect(exposureMarkdown(d)).toContain("| ⚠️ C private network → A public | reclassified |");
  });

  it("warns about rescales Hetzner refuses: a smaller disk, another CPU architecture", () => {
    const facts = {
      node: "nodeA",
      name: "x",
      location: "fsn1",
      image: "ubuntu-24.04",
      userDataChange: "in-place" as const,
      userDataFingerprint: "f",
    };
    const down = serverChange(
      { ...facts, serverType: "cpx32" },
      { ...facts, serverType: "cpx22" },
      catalog,
      false,
      false,
    );
    expect(down.action).toBe("rescale");
    expect(down.warnings).toEqual([
      "Hetzner cannot shrink a server's disk: rescaling x from cpx32 (160 GB) to cpx22 (80 GB) is refused at pulumi up (the preview does not show it); replace the server instead",
    ]);
    const arm = serverChange(
      { ...facts, serverType: "cx33" },
      { ...facts, serverType: "cax21" },
      catalog,
      false,
      false,
    );
    expect(arm.warnings).toEqual([
      "x: Hetzner cannot rescale between x86 and arm; this needs a new server (and an image for arm)",
    ]);
  });

  it("says so when the base has no user-data fingerprint (outputs of an older deployment)", () => {
    const base = docOf("tst");
    delete base.servers[0]!.userDataFingerprint;
    const d = change(
      base,
      docOf("tst", (c) => (c.agentd.workers = 2)),
    );
    expect(d.servers[0]!.action).toBe("none");
    expect(d.warnings).toEqual([
      expect.stringMatching(
        /^user-data changes of tst-node-a cannot be detected \(the base has no user-data fingerprint/,
      ),
    ]);
  });

  it("flags a switch from in-place to replace, and a changed catalog date", () => {
    const base = docOf("tst", (c) => (c.userDataChange = "in-place"));
    base.cost.catalogDate = "2026-01-01";
    const d = change(base, docOf("tst"));
    expect(d.warnings).toContain(
      "the price catalog changed from 2026-01-01 to 2026-06-15: unchanged resources may show a price change",
    );
    expect(d.warnings.some((w) => w.startsWith("tst-node-a switches userDataChange from in-place to replace"))).toBe(
      true,
    );
  });

  it("diffs a new stack against an empty base: everything added, nothing replaced", () => {
    const head = docOf("tst");
    const d = change(emptyDocument("tst", "tst", head.cost.catalogDate), head);
    expect(d.rows.every((r) => r.status === "added")).toBe(true);
    expect(d.deltaMonthlyEur).toBe(28.19);
    expect(d.servers.map((s) => s.action)).toEqual(["create"]);
  });
});

describe("cost comparison of two stacks (--vs)", () => {
  it("matches resources without the environment prefix and totals both stacks", () => {
    const d = diffCost(docOf("tst"), docOf("prd"), { mode: "compare", catalog });
    expect(row(d, "server:prd-node-a")).toMatchObject({
      status: "changed",
      baseEur: 19.49,
      headEur: 129.99,
      deltaEur: 110.5,
    });
    expect(row(d, "backups:prd-node-a")).toMatchObject({ status: "added", headEur: 26 });
    expect(d.rows.filter((r) => r.status === "removed")).toEqual([]);
    expect(d.deltaMonthlyEur).toBe(151.95);
    expect(d.servers).toEqual([]);
    expect(d.exposure).toEqual([]);
    expect([d.base.label, d.head.label]).toEqual(["tst", "prd"]);
  });
});

describe("cost documents", () => {
  it("round-trip through JSON with the facts the diff needs", () => {
    const doc = docOf("prd");
    const back = parseCostDocument(JSON.stringify(doc), "base.json");
    expect(back.format).toBe(COST_FORMAT);
    expect(back.servers).toEqual([
      {
        node: "nodeA",
        name: "prd-node-a",
        serverType: "cpx62",
        location: "fsn1",
        image: "debian-13",
        backups: true,
        userDataChange: "in-place",
        userDataSha256: undefined,
        userDataFingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
    expect(back.exposure.length).toBeGreaterThan(0);
  });

  it("reject unreadable input with the file name and the fix", () => {
    expect(() => parseCostDocument("{nope", "base.json")).toThrow(
      /^base\.json is not JSON \(.+\); write it with: npm run --silent cost -- --stack <name> --json > FILE$/,
    );
    expect(() => parseCostDocument('{"format":"other"}', "b.json")).toThrow(
      'b.json has format "other", expected "xiopro-cost/1"',
    );
    expect(() =>
      parseCostDocument(
        JSON.stringify({
          format: COST_FORMAT,
          stack: "tst",
          cost: { lines: [{ resource: "x" }], catalogDate: "d" },
          servers: [],
        }),
        "b.json",
      ),
    ).toThrow(
      "b.json is not a valid cost document: cost.lines[0] needs a resource and a monthlyEur number; exposure is missing",
    );
    expect(() => documentFromOutputs("prd", { nodes: {} }, "stack-output", "x")).toThrow(CostInputError);
  });

  it("print the new-order rate and the rate an existing server keeps", () => {
    const text = documentText(docOf("prd"));
    expect(text).toMatch(/^total\s+per year 2161\.68\s+180\.14$/m);
    expect(text).toContain(
      "prd-node-a (cpx62, fsn1) is priced at the new-order rate 129.99; a server ordered before 2026-06-15 keeps 50.49 until it is rescaled or replaced.",
    );
    expect(text).toContain(
      "Not in the total: the off-site backup repository (s3, s3.eu-central-003.backblazeb2.com): billed by its provider.",
    );
    expect(documentText(docOf("tst"))).not.toContain("Not in the total");
  });

  it("sign amounts with a real minus and no sign on zero", () => {
    expect([signed(16), signed(-94.5), signed(0), signed(-0.001)]).toEqual(["+16.00", "−94.50", "0.00", "0.00"]);
  });
});
