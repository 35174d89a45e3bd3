// L3: the optional WAL receiver (service wal-receiver, options xiopro-infra:wal-receiver) on real PostgreSQL,
// pgBackRest and pg_receivewal. The database runs with its rendered settings (synchronous standby,
// slot, replication line in pg_hba pointed at loopback); the receiver is the shipped
// xiopro-walreceiver script with the rendered wal-receiver.env. The host of the database is then
// lost mid-load (kill -9, data directory destroyed), and xiopro-restore brings it back from the
// repository alone and with the receiver's copy: only the latter keeps every acknowledged commit.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lostCommits, startAckLoad } from "../../bench/ack-load.js";
import { pgHba, postgresqlConf } from "../../cloud-init/configs.js";
import { nodeFiles } from "../../cloud-init/render.js";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { RECEIVED_WAL_MINUTES, walFetchCommand } from "../../scripts/rebuild/steps.js";
import { planOf, ROOT } from "../support/helpers.js";
import { envFileValues, PG_NEEDS, TestCluster, type Run, type WalReceiver } from "../../lab/pg-cluster.js";
import { describeWithTools } from "../support/tools.js";
import { layoutIn } from "../../lab/layout.js";
import { WAL_RECEIVER } from "../../infra/catalog/layout.js";
import { walReceiver } from "../../infra/catalog/services/wal-receiver.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the WAL receiver in the plan", () => {
  const withReceiver = (synchronous: boolean) =>
    planOf("tst", (c) => {
      c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
      c["wal-receiver"] = { synchronous };
    });

  it("lets only the receiver's address replicate, as the replication role, with scram-sha-256", () => {
    const plan = withReceiver(false);
    const receiver = plan.nodes.find((n) => n.key === "nodeC")!;
    const replication = pgHba(plan, plan.nodes[0]!)
      .split("\n")
      .filter((l) => /\breplication\b/.test(l));
    expect(replication).toEqual([`host    replication xiopro_walreceiver ${receiver.privateIp}/32 scram-sha-256`]);
    expect(pgHba(planOf("tst"), planOf("tst").nodes[0]!)).not.toMatch(/\breplication\b/);
  });

  it("caps the WAL kept for the receiver, and waits for it on commit only when synchronous", () => {
    const db = (p: Plan) => p.nodes.find((n) => n.key === "nodeA")!;
    const async = postgresqlConf(withReceiver(false), db(withReceiver(false)));
    expect(async).toContain("max_slot_wal_keep_size = 4GB");
    expect(async).not.toContain("synchronous_standby_names");
    expect(postgresqlConf(withReceiver(true), db(withReceiver(true)))).toContain(
      "synchronous_standby_names = 'xiopro_walreceiver'",
    );
    expect(postgresqlConf(planOf("tst"), db(planOf("tst")))).not.toMatch(
      /max_slot_wal_keep_size|synchronous_standby_names/,
    );
  });

  it("shares one generated password between the database's role setup and the receiver's unit, and opens no port on the receiver", () => {
    const plan = withReceiver(true);
    const [a, c] = [plan.nodes.find((n) => n.key === "nodeA")!, plan.nodes.find((n) => n.key === "nodeC")!];
    const grant = (n: NodePlan) =>
      n.secrets.filter((s) => s.file === "pg-role-walreceiver").map((s) => [s.source, s.grants]);
    expect(grant(a)).toEqual([["generated", [{ unit: "xiopro-postgres-roles.service", id: "pg-role-walreceiver" }]]]);
    expect(grant(c)).toEqual([["generated", [{ unit: "xiopro-walreceiver.service", id: "pg-role-walreceiver" }]]]);
    expect(c.exposure.filter((r) => r.service === "wal-receiver")).toEqual([]);
    const env = nodeFiles(plan, c).find((f) => f.path === "/etc/xiopro/wal-receiver.env")!;
    expect(envFileValues(env.content)).toMatchObject({
      XIOPRO_DATABASE_HOST: a.privateIp,
      XIOPRO_DATABASE_PORT: "5432",
      XIOPRO_WAL_SYNCHRONOUS: "1",
      XIOPRO_WAL_RETENTION_HOURS: "48",
    });
    // The database node's firewall admits the receiver's node, and only it, to PostgreSQL (class C).
    expect(a.hostFirewall.filter((r) => r.from.kind === "peers")).toEqual([
      {
        protocol: "tcp",
        port: 5432,
        from: { kind: "peers", peers: [{ node: c.name, ip: c.privateIp, clients: ["wal-receiver"] }] },
        comment: "postgresql/postgres-private class C",
      },
    ]);
  });
});

describe("the receiver's files: what a rebuild copies, prune and rotate", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-received-"));
  const wal = path.join(dir, "wal");
  const old = new Date(Date.now() - 3 * 3600_000);
  const script = (cmd: string) =>
    spawnSync("bash", [path.join(ROOT, "cloud-init/files/xiopro-walreceiver"), cmd], {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        ...layoutIn(path.join(dir, "layout"), { XIOPRO_LIB: path.join(ROOT, "cloud-init/files") }),
        XIOPRO_WAL_DIR: wal,
        XIOPRO_WAL_SLOT: WAL_RECEIVER.slot,
        XIOPRO_WAL_RETENTION_HOURS: "2",
      },
    });
  const make = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(wal, { recursive: true });
    for (const [name, aged] of [
      ["000000010000000000000001", true],
      ["000000010000000000000002", false],
      ["000000010000000000000003.partial", true],
      ["00000002.history", true],
    ] as const) {
      fs.writeFileSync(path.join(wal, name), name);
      if (aged) fs.utimesSync(path.join(wal, name), old, old);
    }
  };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a rebuild copies the segment in progress, the histories and the last hour's segments, nothing older", () => {
    make();
    const copy = { ...walReceiver.rebuild!.walCopy!, dir: wal };
    const local = walFetchCommand(copy, RECEIVED_WAL_MINUTES).replace(
      /^sudo systemctl stop xiopro-walreceiver\.service && sudo /,
      "",
    );
    const r = spawnSync("bash", ["-c", local], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const listed = spawnSync("tar", ["-tzf", "-"], { input: Buffer.from(r.stdout, "base64"), encoding: "utf8" })
      .stdout.split("\n")
      .filter(Boolean)
      .map((f) => f.replace(/^\.\//, ""))
      .sort();
    expect(listed).toEqual(["000000010000000000000002", "000000010000000000000003.partial", "00000002.history"]);
  });

  it("prune deletes only complete segments older than the retention; rotate moves the directory aside", () => {
    make();
    const pruned = script("prune");
    expect(pruned.status, pruned.stderr).toBe(0);
    expect(pruned.stderr).toContain("pruned 1 segment(s) older than 2 h");
    expect(fs.readdirSync(wal).sort()).toEqual([
      "000000010000000000000002",
      "000000010000000000000003.partial",
      "00000002.history",
    ]);
    const rotated = script("rotate");
    expect(rotated.status, rotated.stderr).toBe(0);
    expect(fs.existsSync(wal)).toBe(false);
    const copies = fs.readdirSync(path.join(dir, "previous"));
    expect(copies).toHaveLength(1);
    expect(copies[0]).toMatch(/^\d{8}T\d{6}Z$/);
    expect(fs.readdirSync(path.join(dir, "previous", copies[0]!))).toHaveLength(3);
  });
});

describeWithTools("the WAL receiver against a real cluster", PG_NEEDS, () => {
  let c: TestCluster;
  let receiver: WalReceiver | undefined;
  const notes: string[] = [];
  const stopReceiver = async () => {
    await receiver?.stop();
    receiver = undefined;
  };
  const replication = () => c.replication();
  const restore = (args: string[]): Run => {
    const t0 = Date.now();
    const r = c.asPostgres(c.script("xiopro-restore"), args, {
      XIOPRO_PG_CONTROL: "pg_ctl",
      XIOPRO_PG_DATA: c.dir("data"),
    });
    notes.push(`xiopro-restore ${args.join(" ")}: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  };
  const loseHost = () => c.loseHost();

  beforeAll(async () => {
    c = new TestCluster("xiopro-walreceiver-");
    await c.create((x) => {
      x.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
      // A slow archive on purpose: everything after the last segment switch lives only in the
      // database's own WAL and, with the receiver, on the receiver's node.
      x.backup.archiveTimeoutSeconds = 60;
      x["wal-receiver"] = { synchronous: true };
    });
    // Synchronous from here on: every commit waits for the receiver.
    receiver = await c.startWalReceiver();
    c.sql("xiopro", "CREATE TABLE acks (id bigint PRIMARY KEY, payload text NOT NULL)");
    expect(c.job("pgbackrest-check", [c.script("xiopro-backup"), "pgbackrest-check"]).code).toBe(0);
    expect(c.job("pgbackrest-full", [c.script("xiopro-backup"), "pgbackrest-full"]).code).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await stopReceiver();
    if (notes.length) console.log(`WAL receiver test on this machine:\n  ${notes.join("\n  ")}`);
    c?.destroy();
  });

  it("setup-postgresql made a replication-only role and the slot, and the receiver streams synchronously through that slot", () => {
    expect(
      c.sql("postgres", "SELECT rolreplication || '/' || rolsuper FROM pg_roles WHERE rolname = 'xiopro_walreceiver'"),
    ).toBe("true/false");
    expect(
      c.sql(
        "postgres",
        "SELECT slot_type || '/' || active FROM pg_replication_slots WHERE slot_name = 'xiopro_walreceiver'",
      ),
    ).toBe("physical/true");
    expect(c.sql("postgres", "SHOW synchronous_standby_names")).toBe("xiopro_walreceiver");
    expect(replication()).toBe("streaming/sync");
  });

  it("the acceptance check the receiver lends the database reads it streaming in sync through a kept slot", () => {
    const db = c.plan.nodes.find((n) => n.services.some((s) => s.name === "postgresql"))!;
    const checks = db.services.find((s) => s.name === "postgresql")!.additions.sqlChecks ?? [];
    const check = checks.find((x) => x.name.startsWith("WAL receiver"))!;
    expect(check).toMatchObject({
      name: "WAL receiver streaming (synchronous)",
      database: "postgres",
      waitSeconds: 30,
    });
    expect(c.sql(check.database, check.sql)).toBe(check.expect);
    expect(check.expect).toBe("streaming sync, slot kept");
  });

  it("with the receiver away, a commit waits for it (synchronous), and completes once it is back", async () => {
    await stopReceiver();
    const [cmd, ...args] = c.psqlArgv("xiopro");
    const insert = spawn(cmd!, [...args, "-c", "INSERT INTO acks VALUES (0, 'while away')"], { stdio: "ignore" });
    const done = new Promise<number>((res) => insert.on("close", (code) => res(code ?? -1)));
    await sleep(3_000);
    expect(insert.exitCode).toBeNull();
    expect(
      c.sql("postgres", "SELECT wait_event FROM pg_stat_activity WHERE query LIKE 'INSERT INTO acks VALUES (0,%'"),
    ).toBe("SyncRep");
    receiver = await c.startWalReceiver();
    expect(await Promise.race([done, sleep(30_000).then(() => "still waiting")])).toBe(0);
  }, 120_000);

  it("after an absence longer than the WAL cap, the receiver drops its invalidated slot, moves its files aside and streams again", async () => {
    await stopReceiver();
    // Commits must not wait for the absent receiver here, and a tiny cap invalidates its slot fast.
    c.sql("postgres", "ALTER SYSTEM SET synchronous_standby_names = ''");
    c.sql("postgres", "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    c.sql("postgres", "SELECT pg_reload_conf()");
    for (let i = 0; i < 4; i++)
      c.sql(
        "xiopro",
        "INSERT INTO acks SELECT g, repeat('x', 200) FROM generate_series(1000000 + 100000 * " +
          i +
          ", 1000000 + 100000 * " +
          i +
          " + 49999) g; SELECT pg_switch_wal()",
      );
    c.sql("postgres", "CHECKPOINT");
    expect(
      c.sql("postgres", "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'xiopro_walreceiver'"),
    ).toBe("lost");
    c.sql("postgres", "ALTER SYSTEM RESET synchronous_standby_names");
    c.sql("postgres", "ALTER SYSTEM RESET max_slot_wal_keep_size");
    c.sql("postgres", "SELECT pg_reload_conf()");
    receiver = await c.startWalReceiver();
    expect(receiver.log()).toContain(
      "slot xiopro_walreceiver was invalidated (this receiver was away too long): dropping it and starting over",
    );
    expect(
      c.sql("postgres", "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'xiopro_walreceiver'"),
    ).toMatch(/^(reserved|extended)$/);
    expect(fs.readdirSync(c.dir("previous"))).toHaveLength(1);
    c.sql("xiopro", "DELETE FROM acks WHERE id >= 1000000");
  }, 180_000);

  it("after the database host is lost mid-load, the receiver's copy restores every acknowledged commit; the repository alone loses them all", async () => {
    // A fresh segment that is already in the repository: the load's WAL is not archived before the crash.
    expect(c.job("pgbackrest-check", [c.script("xiopro-backup"), "pgbackrest-check"]).code).toBe(0);
    const load = startAckLoad(c.psqlArgv("xiopro"), "acks", 1);
    await sleep(6_000);
    loseHost();
    await load.stop();
    await stopReceiver();
    const acks = load.acks;
    expect(acks.length).toBeGreaterThan(200);
    const restoredIds = () =>
      new Set(c.sql("xiopro", "SELECT id FROM acks WHERE id > 0").split("\n").filter(Boolean).map(Number));

    // The repository alone (a rehearsal that archives nothing, so it leaves no timeline behind).
    const alone = restore(["--no-archive"]);
    expect(alone.code, alone.stderr).toBe(0);
    const withoutReceiver = lostCommits(acks, restoredIds());
    expect(withoutReceiver.lost).toBe(acks.length);

    loseHost();
    const received = fs.readdirSync(c.dir("received"));
    expect(received.some((f) => f.endsWith(".partial"))).toBe(true);
    const full = restore(["--no-backup", "--wal-dir", c.dir("received")]);
    expect(full.code, full.stderr).toBe(0);
    const withReceiver = lostCommits(acks, restoredIds());
    expect(withReceiver).toEqual({ lost: 0, rpoSeconds: 0, holes: 0 });
    const result = JSON.parse(fs.readFileSync(c.dir("state/restore-result.json"), "utf8")) as {
      result: string;
      receivedWalSegments: number;
    };
    expect(result.result).toBe("pass");
    expect(result.receivedWalSegments).toBeGreaterThan(0);
    expect(fs.existsSync(c.dir("xiopro-received-wal"))).toBe(false);
    notes.push(
      `${acks.length} acknowledged commits in a 6 s load (synchronous): lost ${withoutReceiver.lost} from the repository alone, ${withReceiver.lost} with the receiver's ${received.length} file(s)`,
    );
  }, 300_000);

  it("refuses a --wal-dir without WAL segments, before touching anything", () => {
    fs.mkdirSync(c.dir("empty-wal"), { recursive: true });
    const r = restore(["--wal-dir", c.dir("empty-wal")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--wal-dir '${c.dir("empty-wal")}' holds no WAL segments`);
  });
});
