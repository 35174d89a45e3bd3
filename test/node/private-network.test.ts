// The private network's acceptance (scripts/accept/private.ts): what the plan admits from an address,
// and PostgreSQL's real answer to a role's startup. The database runs with the receiver stack's rendered
// pg_hba, its receiver line pointed at loopback and loopback's catch-all lines removed, so loopback
// stands where the receiver's node is: pg_hba must admit the replication role there and refuse the rest.
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PG_NEEDS, TestCluster } from "../../lab/pg-cluster.js";
import { describeWithTools } from "../support/tools.js";
import { planOf } from "../support/helpers.js";
import {
  AUTH_SASL,
  evaluatePrivateScan,
  evaluateRoleProbe,
  NO_HBA_ENTRY,
  parseStartupAnswer,
  pgStartup,
  privateExpectation,
} from "../../scripts/accept/private.js";
import { WAL_RECEIVER } from "../../infra/catalog/layout.js";

const withReceiver = () =>
  planOf("tst", (c) => {
    c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
    c["wal-receiver"] = { synchronous: false };
  });

describe("what the plan admits from an address in the private network", () => {
  const plan = withReceiver();
  const [a, c] = [plan.nodes.find((n) => n.key === "nodeA")!, plan.nodes.find((n) => n.key === "nodeC")!];

  it("from the receiver's node: PostgreSQL's port, and only the replication role as replication", () => {
    const e = privateExpectation(plan, a, c.privateIp);
    expect([e.owner, e.tcpOpen]).toEqual([c.name, [5432]]);
    expect(e.roles.filter((r) => r.admitted)).toEqual([{ role: WAL_RECEIVER.role, replication: true, admitted: true }]);
    // Every platform role is probed too, each refused, as a login and as replication.
    expect(e.roles.map((r) => r.role)).toEqual(
      expect.arrayContaining(["xiopro_api", "xiopro_worker", "xiopro_backup"]),
    );
    expect(e.roles.length).toBe(10);
  });

  it("from an address of no node, and to the receiver's node from the database's: nothing", () => {
    expect(privateExpectation(plan, a, "10.1.1.250")).toMatchObject({ owner: undefined, tcpOpen: [], roles: [] });
    // Node C runs no server the database's node is a client of (its exporter is scraped by monitoring on A).
    expect(privateExpectation(plan, c, a.privateIp).tcpOpen).toEqual([9100]);
  });

  it("fails a scan that finds a port open that is not admitted, or misses one that is, or lost answers", () => {
    const e = privateExpectation(plan, a, c.privateIp);
    const scan = { passes: 1, timeoutMs: 250, reliable: true };
    expect(evaluatePrivateScan(e, { ...scan, open: [5432] }, 1).result).toBe("pass");
    expect(evaluatePrivateScan(e, { ...scan, open: [5432, 9100] }, 1).detail).toMatch(/^open but not admitted: 9100/);
    expect(evaluatePrivateScan(e, { ...scan, open: [] }, 1).detail).toMatch(/^admitted but not answering: 5432/);
    expect(evaluatePrivateScan(e, { ...scan, open: [5432], reliable: false }, 1).result).toBe("fail");
  });

  it("reads PostgreSQL's answers only when the message is whole", () => {
    const auth = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, AUTH_SASL]);
    expect(parseStartupAnswer(auth.subarray(0, 6))).toBeUndefined();
    expect(parseStartupAnswer(auth)).toEqual({ kind: "auth", method: AUTH_SASL });
  });
});

describeWithTools("PostgreSQL's answer from an address, on a real cluster", PG_NEEDS, () => {
  let cl: TestCluster;
  const plan = withReceiver();
  const a = plan.nodes.find((n) => n.key === "nodeA")!;
  const c = plan.nodes.find((n) => n.key === "nodeC")!;

  beforeAll(async () => {
    cl = new TestCluster("xiopro-private-");
    await cl.create((s) => {
      s.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
      s["wal-receiver"] = { synchronous: false };
    });
    const hba = fs
      .readFileSync(cl.dir("data/pg_hba.conf"), "utf8")
      .split("\n")
      .filter((l) => !/^host\s+all\s+all\s/.test(l))
      .join("\n");
    fs.writeFileSync(cl.dir("data/pg_hba.conf"), hba);
    cl.sql("postgres", "SELECT pg_reload_conf()");
  });
  afterAll(() => cl?.destroy());

  it("offers SCRAM to exactly the roles the plan admits from the receiver's node, and refuses the rest with 28000", async () => {
    const e = privateExpectation(plan, a, c.privateIp);
    const verdicts = [];
    for (const p of e.roles) {
      const answer = await pgStartup("127.0.0.1", cl.port, p);
      expect(answer.kind === "auth" ? answer.method : answer.kind === "error" ? answer.sqlstate : answer.why).toBe(
        p.admitted ? AUTH_SASL : NO_HBA_ENTRY,
      );
      verdicts.push(evaluateRoleProbe(e, p, answer, 0).result);
    }
    expect(verdicts.every((v) => v === "pass")).toBe(true);
    // The same answers against the opposite expectation fail: the check can say no.
    const flipped = e.roles.map((p) => ({ ...p, admitted: !p.admitted }));
    for (const p of flipped)
      expect(evaluateRoleProbe(e, p, await pgStartup("127.0.0.1", cl.port, p), 0).result).toBe("fail");
  });

  it("reports a port that does not answer as no answer, not as a refusal", async () => {
    const answer = await pgStartup("127.0.0.1", 9, { role: "xiopro_api", replication: false }, { timeoutMs: 1000 });
    expect(answer.kind).toBe("none");
  });
});
