// The node's backup and recovery scripts against a real PostgreSQL cluster, pgBackRest and restic,
// with a local directory as the repository (kind posix) and the settings the product renders for
// the tst plan. Everything runs as the postgres user in a temporary directory on its own port.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lostCommits } from "../../bench/recovery.js";
import { freePort, PG_NEEDS, TestCluster, type Run } from "../../lab/pg-cluster.js";
import { TEST_SECRETS } from "../../lab/stacks.js";
import { describeWithTools } from "../support/tools.js";

const CIPHER = TEST_SECRETS.pgbackrestCipherPass!;

interface JobState {
  job: string;
  host: string;
  started: number;
  finished: number;
  durationSeconds: number;
  result: string;
  exitCode: number;
  lastSuccess: number;
  detail: string;
}

// The product's settings for tst with a posix repository: the lab's cluster (lab/pg-cluster.ts).
let c: TestCluster;
let BACKUP = "";
let DRILL = "";
const dir = (...p: string[]) => c.dir(...p);
const asPostgres = (cmd: string, args: string[], extra: Record<string, string> = {}): Run =>
  c.asPostgres(cmd, args, extra);
const ok = (cmd: string, args: string[], extra: Record<string, string> = {}) => c.ok(cmd, args, extra);
const sql = (db: string, q: string) => c.sql(db, q);
const job = (name: string, args: string[], extra: Record<string, string> = {}) => c.job(name, args, extra);
const state = (name: string) => JSON.parse(fs.readFileSync(dir("state", `${name}.json`), "utf8")) as JobState;
const restic = (args: string[], extra: Record<string, string> = {}) =>
  ok("restic", args, { RESTIC_PASSWORD_FILE: dir("creds/restic-password"), ...extra });
const snapshots = (tag: string) =>
  JSON.parse(restic(["snapshots", "--json", "--tag", tag])) as { id: string; tags: string[]; paths: string[] }[];
const pgbackrestInfo = () =>
  JSON.parse(
    ok("pgbackrest", ["--stanza=xiopro", "info", "--output=json"], { PGBACKREST_REPO1_CIPHER_PASS: CIPHER }),
  ) as { backup: { label: string; type: string }[] }[];

interface Manifest {
  label: string;
  restorePoint: string;
  lsn: string;
  canary: { id: number; at: string };
  exact: boolean;
  databases: Record<string, Record<string, number>>;
}

/** The manifest the backup job attached to backup LABEL (pgBackRest annotation xiopro-manifest). */
function manifestOf(label: string): Manifest {
  const info = JSON.parse(
    ok("pgbackrest", ["--stanza=xiopro", `--set=${label}`, "info", "--output=json"], {
      PGBACKREST_REPO1_CIPHER_PASS: CIPHER,
    }),
  ) as { backup: { label: string; annotation?: Record<string, string> }[] }[];
  return JSON.parse(info[0]!.backup.find((b) => b.label === label)!.annotation!["xiopro-manifest"]!) as Manifest;
}

function expectSuccess(name: string, r: Run): JobState {
  expect(r.stderr).toContain(`job ${name}: success (exit 0)`);
  expect(r.code).toBe(0);
  const s = state(name);
  expect(s).toMatchObject({ job: name, host: os.hostname(), result: "success", exitCode: 0 });
  expect(s.lastSuccess).toBe(s.finished);
  expect(s.durationSeconds).toBe(s.finished - s.started);
  const prom = fs.readFileSync(dir("metrics", `xiopro_job_${name.replace(/-/g, "_")}.prom`), "utf8");
  expect(prom).toContain(`xiopro_job_last_result{name="${name}"} 1\n`);
  expect(prom).toContain(`xiopro_job_last_success_timestamp_seconds{name="${name}"} ${s.finished}\n`);
  return s;
}

function expectFailure(name: string, r: Run, previousSuccess: number): JobState {
  expect(r.code).not.toBe(0);
  const s = state(name);
  expect(s).toMatchObject({ job: name, result: "failure", exitCode: r.code, lastSuccess: previousSuccess });
  const prom = fs.readFileSync(dir("metrics", `xiopro_job_${name.replace(/-/g, "_")}.prom`), "utf8");
  expect(prom).toContain(`xiopro_job_last_result{name="${name}"} 0\n`);
  expect(prom).toContain(`xiopro_job_last_success_timestamp_seconds{name="${name}"} ${previousSuccess}\n`);
  return s;
}

describeWithTools("backup jobs and the restore drill against a real cluster", PG_NEEDS, () => {
  beforeAll(async () => {
    c = new TestCluster("xiopro-recovery-");
    await c.create();
    BACKUP = c.script("xiopro-backup");
    DRILL = c.script("xiopro-restore-drill");
    fs.mkdirSync(dir("drill"));
    fs.writeFileSync(dir("files/etc/app.conf"), "answer = 42\n");
    spawnSync("chown", ["-R", "postgres:postgres", dir("drill"), dir("files")]);
    sql(
      "xiopro",
      "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, doc jsonb, created_at timestamptz NOT NULL DEFAULT now()); " +
        "INSERT INTO orders SELECT g, md5(g::text), jsonb_build_object('n', g, 'tag', md5((g * 7)::text)), now() FROM generate_series(1, 5000) g; " +
        "CREATE INDEX orders_customer ON orders (customer)",
    );
  });

  afterAll(() => {
    if (!c) return;
    if (fs.existsSync(dir("drill/scratch", "postmaster.pid")))
      asPostgres(`${c.bin}/pg_ctl`, ["-D", dir("drill/scratch"), "-m", "immediate", "-w", "stop"]);
    c.destroy();
  });

  it("pgbackrest-check creates the stanza and proves WAL archiving through the archive_command configs.ts renders", () => {
    // Rendered, with only the script directory moved here (pgBackRest insists on "pgbackrest" in it).
    expect(sql("postgres", "SHOW archive_command")).toBe(`${BACKUP} pgbackrest-archive-push %p`);
    expectSuccess("pgbackrest-check", job("pgbackrest-check", [BACKUP, "pgbackrest-check"]));
    expect(fs.existsSync(dir("repo/pgbackrest/archive/xiopro/archive.info"))).toBe(true);
    // check saw the segment in the repository; PostgreSQL counts it once archive-push returned.
    const deadline = Date.now() + 10_000;
    let stats = sql("postgres", "SELECT archived_count > 0, failed_count FROM pg_stat_archiver");
    while (stats !== "t|0" && Date.now() < deadline)
      stats = sql("postgres", "SELECT pg_sleep(0.2), archived_count > 0, failed_count FROM pg_stat_archiver").replace(
        /^\|/,
        "",
      );
    expect(stats).toBe("t|0");
  });

  it("pgbackrest-full writes an encrypted full backup to the repository", () => {
    expectSuccess("pgbackrest-full", job("pgbackrest-full", [BACKUP, "pgbackrest-full"]));
    const info = pgbackrestInfo();
    expect(info[0]!.backup.map((b) => b.type)).toEqual(["full"]);
    expect(info[0]!.backup[0]!.label).toMatch(/^\d{8}-\d{6}F$/);
    // Without the cipher pass the repository is unreadable.
    expect(asPostgres("pgbackrest", ["--stanza=xiopro", "info", "--output=json"]).code).not.toBe(0);
  });

  it("pgbackrest-full attaches a manifest to the backup: a canary row, a restore point and every table's row count", () => {
    const label = pgbackrestInfo()[0]!.backup.at(-1)!.label;
    const m = manifestOf(label);
    expect(m).toMatchObject({ label, restorePoint: `xiopro-${label}`, exact: true });
    expect(m.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    // Every permanent table of every database, counted in production after the backup.
    expect(m.databases).toEqual({
      postgres: { "public.xiopro_backup_canary": 1 },
      xiopro: { "public.orders": 5000 },
    });
    expect(sql("postgres", "SELECT id, label FROM xiopro_backup_canary")).toBe(`${m.canary.id}|${label}`);
  });

  it("pgbackrest-verify reads every file of an intact repository back against its checksum", () => {
    const r = job("pgbackrest-verify", [BACKUP, "pgbackrest-verify"]);
    expectSuccess("pgbackrest-verify", r);
    expect(r.stderr).toMatch(/status: ok/);
  });

  it("pgdump stores one restorable pg_dump per database in restic, as role xiopro_backup", () => {
    expectSuccess("pgdump", job("pgdump", [BACKUP, "pgdump"]));
    expect(
      snapshots("pgdump")
        .map((s) => s.tags.find((t) => t.startsWith("db:")))
        .sort(),
    ).toEqual(["db:postgres", "db:xiopro"]);
    const dump = dir("xiopro.dump");
    ok("bash", ["-c", `restic dump --quiet --tag db:xiopro latest xiopro.dump >${dump}`], {
      RESTIC_PASSWORD_FILE: dir("creds/restic-password"),
    });
    const list = ok(`${c.bin}/pg_restore`, ["-l", dump]);
    expect(list).toMatch(/TABLE DATA public orders /);
    expect(list).toMatch(/INDEX public orders_customer /);
  });

  it("files backs up the configured paths into restic", () => {
    expectSuccess("files", job("files", [BACKUP, "files"]));
    const snaps = snapshots("files");
    expect(snaps.length).toBe(1);
    expect(snaps[0]!.paths).toEqual([dir("files")]);
    expect(restic(["dump", "--quiet", "latest", dir("files/etc/app.conf"), "--tag", "files"])).toBe("answer = 42\n");
  });

  it("restic-check reads back this week's twelfth of the data packs", () => {
    const r = job("restic-check", [BACKUP, "restic-check"]);
    expectSuccess("restic-check", r);
    // The part rotates with the ISO week, so twelve weekly runs read every pack once.
    const week = Number(spawnSync("date", ["-u", "+%V"], { encoding: "utf8" }).stdout.trim());
    expect(`${r.stdout}\n${r.stderr}`).toMatch(
      new RegExp(`read group #${(week % 12) + 1} of \\d+ data packs \\(out of total \\d+ packs in 12 groups\\)`),
    );
    expect(`${r.stdout}\n${r.stderr}`).toContain("no errors were found");
  });

  it("pgbackrest-full against an unwritable repository fails with pgBackRest's message in the state file", () => {
    const before = state("pgbackrest-full").lastSuccess;
    fs.chmodSync(dir("repo/pgbackrest"), 0o000);
    let r: Run;
    try {
      r = job("pgbackrest-full", [BACKUP, "pgbackrest-full"]);
    } finally {
      fs.chmodSync(dir("repo/pgbackrest"), 0o750);
    }
    const s = expectFailure("pgbackrest-full", r, before);
    expect(s.detail).toMatch(
      new RegExp(
        `^ERROR: \\[\\d+\\]: unable to load info file '${dir("repo/pgbackrest/backup/xiopro/backup.info")}' .* for read: \\[13\\] Permission denied`,
      ),
    );
    expect(pgbackrestInfo()[0]!.backup.length).toBe(1);
  });

  it("files with a wrong restic password fails on the password and never tries to initialise the repository", () => {
    const before = state("files").lastSuccess;
    fs.writeFileSync(dir("creds/restic-password-wrong"), "not-the-password");
    fs.mkdirSync(dir("creds-wrong"));
    for (const f of ["pgbackrest-cipher-pass", "pg-role-backup"])
      fs.copyFileSync(dir("creds", f), dir("creds-wrong", f));
    fs.copyFileSync(dir("creds/restic-password-wrong"), dir("creds-wrong/restic-password"));
    spawnSync("chown", ["-R", "postgres:postgres", dir("creds-wrong")]);
    const r = job("files", [BACKUP, "files"], { CREDENTIALS_DIRECTORY: dir("creds-wrong") });
    const s = expectFailure("files", r, before);
    expect(s.detail).toMatch(/ERROR: cannot open restic repository .*: Fatal: wrong password or no key found$/);
    expect(r.stderr).not.toContain("initialising restic repository");
    expect(snapshots("files").length).toBe(1);
  });

  it("files whose upload fails runs no retention: every earlier snapshot is kept", () => {
    restic(["backup", "--quiet", "--tag", "files", dir("files")]);
    expect(snapshots("files").length).toBe(2);
    const keepOne = { XIOPRO_RETENTION_DAILY: "1", XIOPRO_RETENTION_WEEKLY: "0", XIOPRO_RETENTION_MONTHLY: "0" };
    const before = state("files").lastSuccess;
    const r = job("files", [BACKUP, "files"], { ...keepOne, XIOPRO_BACKUP_PATHS: dir("not-mounted") });
    const s = expectFailure("files", r, before);
    expect(s.detail).toBe("Fatal: all target directories/files do not exist");
    expect(snapshots("files").length).toBe(2);
    // The same retention after a good upload does prune: the count above is the absence of forget.
    expectSuccess("files", job("files", [BACKUP, "files"], keepOne));
    expect(snapshots("files").length).toBe(1);
  });

  it("pgdump whose pg_dump fails midway keeps no partial snapshot of that database", () => {
    const before = state("pgdump").lastSuccess;
    const xioproDumps = () => snapshots("db:xiopro").length;
    const n = xioproDumps();
    // pg_read_all_data does not bypass row-level security: pg_dump fails while copying this table,
    // after it has written the archive's header and table of contents to restic's stdin.
    sql(
      "xiopro",
      "CREATE TABLE zz_guarded (id int); INSERT INTO zz_guarded VALUES (1); ALTER TABLE zz_guarded ENABLE ROW LEVEL SECURITY",
    );
    let r: Run;
    try {
      r = job("pgdump", [BACKUP, "pgdump"]);
    } finally {
      sql("xiopro", "DROP TABLE zz_guarded");
    }
    const s = expectFailure("pgdump", r, before);
    expect(s.detail).toMatch(/ERROR: dump of xiopro failed; no snapshot kept for it$/);
    expect(r.stderr).toContain('query would be affected by row-level security policy for table "zz_guarded"');
    expect(xioproDumps()).toBe(n);
  });

  const drillEnv = () => ({ XIOPRO_DRILL_DIR: dir("drill") });
  const drillResult = () =>
    JSON.parse(fs.readFileSync(dir("state/restore-drill-result.json"), "utf8")) as Record<string, unknown>;
  const drillHistory = () =>
    fs
      .readFileSync(dir("state/restore-drill-history.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const drillMetric = (name: string) =>
    Number(
      new RegExp(`^xiopro_restore_drill_${name} (\\S+)$`, "m").exec(
        fs.readFileSync(dir("metrics/xiopro_restore_drill.prom"), "utf8"),
      )?.[1],
    );

  it("the restore drill restores the newest backup, verifies it and proves a point-in-time restore", async () => {
    const drillPort = await freePort();
    const backupId = pgbackrestInfo()[0]!.backup.at(-1)!.label;
    // Production's archive spool must survive the drill's restores: pgBackRest's restore deletes the
    // queues of the spool it is given, and production's archive-push waits on the .ok files in "out"
    // (sharing it stalled archiving, and every PostgreSQL shutdown, for the 60 s archive-timeout).
    // "in" is unused by production, so a file there must stay; "out" is pruned by production's own
    // archive-push, so the directory itself must stay (same inode).
    const queue = (q: string) => dir("spool/archive/xiopro", q);
    for (const q of ["in", "out"]) fs.mkdirSync(queue(q), { recursive: true });
    fs.writeFileSync(path.join(queue("in"), "xiopro-test-sentinel"), "");
    spawnSync("chown", ["-R", "postgres:postgres", dir("spool")]);
    const outInode = fs.statSync(queue("out")).ino;
    const r = job("restore-drill", [DRILL], { ...drillEnv(), XIOPRO_DRILL_PORT: String(drillPort) });
    expect(r.stderr, r.stderr).toContain("restore drill passed");
    expect(fs.existsSync(path.join(queue("in"), "xiopro-test-sentinel"))).toBe(true);
    expect(fs.statSync(queue("out")).ino).toBe(outInode);
    fs.rmSync(path.join(queue("in"), "xiopro-test-sentinel"));
    expect(r.stderr).toContain(`ok: restored ${backupId} to restore point xiopro-${backupId}`);
    expect(r.stderr).toContain("ok: 2 tables hold the rows the manifest counted (largest drift 0 %)");
    expect(r.stderr).toMatch(/ok: the canary row written at \S+ is in the restore/);
    expect(r.stderr).toMatch(
      /ok: point-in-time restore to \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00: the row committed before it is there, the one after it is not/,
    );
    expectSuccess("restore-drill", r);
    const result = drillResult();
    expect(Object.keys(result)).toEqual([
      "drillDate",
      "repository",
      "backupId",
      "backupAgeHours",
      "tablesVerified",
      "tableCountDriftPercent",
      "manifestExact",
      "dataFreshnessHours",
      "walPitrTested",
      "result",
      "durationSeconds",
      "boundSeconds",
      "failures",
      "executor",
    ]);
    expect(result).toMatchObject({
      repository: 1,
      backupId,
      backupAgeHours: 0,
      tablesVerified: 2,
      tableCountDriftPercent: 0,
      manifestExact: true,
      dataFreshnessHours: 0,
      walPitrTested: true,
      result: "pass",
      boundSeconds: 3600,
      failures: [],
      executor: os.hostname(),
    });
    expect(Math.abs(Date.parse(result.drillDate as string) - Date.now())).toBeLessThan(120_000);
    expect(result.durationSeconds).toBeTypeOf("number");
    // Appended to the history; its metrics come from there.
    expect(drillHistory()).toEqual([result]);
    expect(drillMetric("duration_seconds")).toBe(result.durationSeconds);
    expect(drillMetric("bound_seconds")).toBe(3600);
    expect(drillMetric("tables_verified")).toBe(2);
    expect(drillMetric("consecutive_failures")).toBe(0);
    // The scratch copy is gone and production keeps no marker rows.
    expect(fs.existsSync(dir("drill/scratch"))).toBe(false);
    expect(fs.existsSync(dir("drill/spool"))).toBe(false);
    expect(sql("postgres", "SELECT count(*) FROM xiopro_restore_drill_marker")).toBe("0");
  });

  it("the restore drill fails with a clear message and records the failure against a corrupted repository", async () => {
    const backupId = pgbackrestInfo()[0]!.backup.at(-1)!.label;
    const before = state("restore-drill").lastSuccess;
    // Truncate the largest file of the backup set (a relation of the database).
    const files = fs
      .readdirSync(dir("repo/pgbackrest/backup/xiopro", backupId, "pg_data/base"), {
        recursive: true,
        withFileTypes: true,
      })
      .filter((e) => e.isFile());
    const victim = files
      .map((e) => path.join(e.parentPath, e.name))
      .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
    fs.truncateSync(victim, Math.floor(fs.statSync(victim).size / 2));
    // No retries of the failing read (pgBackRest would wait 15 s before its second attempt).
    const r = job("restore-drill", [DRILL], {
      ...drillEnv(),
      XIOPRO_DRILL_PORT: String(await freePort()),
      PGBACKREST_JOB_RETRY: "0",
    });
    const s = expectFailure("restore-drill", r, before);
    expect(s.detail).toMatch(
      new RegExp(`ERROR: restore drill failed: pgbackrest restore of ${backupId} \\(to its restore point\\) failed$`),
    );
    const result = drillResult();
    expect(result).toMatchObject({
      backupId,
      result: "fail",
      tablesVerified: 0,
      walPitrTested: false,
      failures: [`pgbackrest restore of ${backupId} (to its restore point) failed`],
    });
    expect(drillHistory().map((h) => h.result)).toEqual(["pass", "fail"]);
    expect(drillMetric("consecutive_failures")).toBe(1);
    expect(fs.existsSync(dir("drill/scratch"))).toBe(false);
    // The weekly verify finds the same damage without restoring anything, and names the file.
    const verified = state("pgbackrest-verify").lastSuccess;
    const v = job("pgbackrest-verify", [BACKUP, "pgbackrest-verify"], { PGBACKREST_JOB_RETRY: "0" });
    // pgBackRest 2.45 exits 0 here; the job reads its summary ("status: error") and fails.
    const damaged = expectFailure("pgbackrest-verify", v, verified);
    const relative = path.relative(dir("repo/pgbackrest/backup/xiopro"), victim);
    expect(damaged.detail).toMatch(
      new RegExp(`Z ERROR: pgbackrest verify found damage: invalid checksum '${relative}'$`),
    );
  });

  it("the restore drill catches a table whose rows the backup lost while production's cache still served them", async () => {
    // Storage corruption the buffer cache hides: pages zeroed on disk after they were read. Production
    // (and so the manifest) still counts every row; pgBackRest copies the zeroed file, PostgreSQL
    // reads zeroed pages as empty ones, and only the count can tell. No autovacuum, so no page of
    // the table is written back over the damage.
    sql(
      "xiopro",
      "CREATE TABLE ledger (id bigint PRIMARY KEY, note text NOT NULL) WITH (autovacuum_enabled = false); " +
        "INSERT INTO ledger SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 20000) g",
    );
    // Hint bits set now and written by the checkpoint: the cached pages stay clean afterwards.
    expect(sql("xiopro", "SELECT count(*) FROM ledger")).toBe("20000");
    sql("postgres", "CHECKPOINT");
    const file = dir("data", sql("xiopro", "SELECT pg_relation_filepath('ledger')"));
    const pages = fs.statSync(file).size / 8192;
    expect(pages).toBeGreaterThan(100);
    const fd = fs.openSync(file, "r+");
    try {
      fs.writeSync(fd, Buffer.alloc(8192 * Math.floor(pages / 2)), 0, undefined, 8192);
    } finally {
      fs.closeSync(fd);
    }
    try {
      expect(sql("xiopro", "SELECT count(*) FROM ledger")).toBe("20000");
      expectSuccess("pgbackrest-full", job("pgbackrest-full", [BACKUP, "pgbackrest-full"]));
      const label = pgbackrestInfo()[0]!.backup.at(-1)!.label;
      expect(manifestOf(label).databases.xiopro).toEqual({ "public.ledger": 20000, "public.orders": 5000 });
      const before = state("restore-drill").lastSuccess;
      const r = job("restore-drill", [DRILL], { ...drillEnv(), XIOPRO_DRILL_PORT: String(await freePort()) });
      const s = expectFailure("restore-drill", r, before);
      const lost = /xiopro public\.ledger: (\d+) rows in the restore, 20000 in the manifest \(drift (\d+) %\)/.exec(
        r.stderr,
      );
      expect(lost, r.stderr).not.toBeNull();
      expect(Number(lost![1])).toBeLessThan(12000);
      expect(s.detail).toContain("restore drill failed: xiopro public.ledger:");
      expect(drillResult()).toMatchObject({ backupId: label, result: "fail", tablesVerified: 3 });
      // The other tables still compared, and the failure is the second in a row.
      expect(r.stderr).not.toContain("tables hold the rows the manifest counted");
      expect(drillHistory().map((h) => h.result)).toEqual(["pass", "fail", "fail"]);
      expect(drillMetric("consecutive_failures")).toBe(2);
    } finally {
      sql("xiopro", "DROP TABLE ledger");
    }
  });

  it("the restore drill fails on a backup without a manifest, with 0 tables verified", async () => {
    const label = pgbackrestInfo()[0]!.backup.at(-1)!.label;
    // An empty value removes the annotation: a backup its job did not finish recording.
    ok("pgbackrest", ["--stanza=xiopro", `--set=${label}`, "--annotation=xiopro-manifest=", "annotate"], {
      PGBACKREST_REPO1_CIPHER_PASS: CIPHER,
    });
    const before = state("restore-drill").lastSuccess;
    const r = job("restore-drill", [DRILL], { ...drillEnv(), XIOPRO_DRILL_PORT: String(await freePort()) });
    const s = expectFailure("restore-drill", r, before);
    expect(s.detail).toContain(`restore drill failed: backup ${label} has no manifest to compare with`);
    expect(drillResult()).toMatchObject({ backupId: label, result: "fail", tablesVerified: 0 });
    expect(drillMetric("consecutive_failures")).toBe(3);
  });
});

describe("RPO accounting of the recovery benchmark", () => {
  const acks = [1, 2, 3, 4, 5].map((id) => ({ id, ackMs: 1000 + id * 10 }));
  it("counts acknowledged commits missing after the restore and spans their acknowledgement times", () => {
    expect(lostCommits(acks, new Set([1, 2, 3]))).toEqual({ lost: 2, rpoSeconds: 0.02, holes: 0 });
  });
  it("reports zero loss when every acknowledged commit came back", () => {
    expect(lostCommits(acks, new Set([1, 2, 3, 4, 5, 6]))).toEqual({ lost: 0, rpoSeconds: 0, holes: 0 });
  });
  it("reports a missing commit older than a restored one as a hole", () => {
    expect(lostCommits(acks, new Set([1, 3, 4, 5]))).toEqual({ lost: 1, rpoSeconds: 0.01, holes: 1 });
  });
});
