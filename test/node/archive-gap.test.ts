// A repository that is away for long never stops the database (issue 19 item 8): a real cluster
// whose data directory is a small volume (a 400 MB tmpfs) archives into a repository that stops
// answering, while the load writes three times the volume in WAL. pgBackRest's queue bound (the
// rendered archive-push-queue-max, sized from that volume) drops the waiting WAL; the archive
// command records the gap; once the repository answers, the hourly check takes a full backup.
// Without the bound, the same load fills the volume and PostgreSQL stops.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { layoutIn } from "../../lab/layout.js";
import { PG_NEEDS, TestCluster } from "../../lab/pg-cluster.js";
import { TEST_SECRETS } from "../../lab/stacks.js";
import { describeWithTools } from "../support/tools.js";

const VOLUME_MB = 400;
/** Takes an exclusive flock on argv[1] as pgBackRest opens it, says "held", keeps it argv[2] seconds. */
const LOCK_HOLDER = `import fcntl, os, sys, time
while True:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o640)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        if os.fstat(fd).st_ino == os.stat(sys.argv[1]).st_ino:
            break
    except FileNotFoundError:
        pass
    os.close(fd)
print("held", flush=True)
time.sleep(float(sys.argv[2]))`;
const MB = 1024 * 1024;

let c: TestCluster;
let BACKUP = "";
let queueMb = 0;

const dir = (...p: string[]) => c.dir(...p);
const QUEUE_CONF = () => dir("etc/conf.d/archive-queue.conf");
const sql = (db: string, q: string) => c.sql(db, q);
const info = () =>
  JSON.parse(
    c.ok("pgbackrest", ["--stanza=xiopro", "info", "--output=json"], {
      PGBACKREST_REPO1_CIPHER_PASS: TEST_SECRETS.pgbackrestCipherPass!,
    }),
  ) as { backup: { label: string; type: string; annotation?: Record<string, string> }[] }[];
const volumeUsedMb = () => {
  const s = fs.statfsSync(dir("data"));
  return ((s.blocks - s.bfree) * s.bsize) / MB;
};
const walMb = () => Number(sql("postgres", "SELECT coalesce(sum(size), 0) FROM pg_ls_waldir()")) / MB;
const gapMetric = (name: string) =>
  Number(
    new RegExp(`^xiopro_archive_gap_${name} (\\S+)$`, "m").exec(
      fs.readFileSync(dir("metrics/xiopro_archive_gap.prom"), "utf8"),
    )?.[1],
  );
const postgresUp = () =>
  c.asPostgres(`${c.bin}/pg_isready`, ["-h", dir("run"), "-p", String(c.port), "-t", "5"]).code === 0;

/**
 * Writes about `mb` MB of WAL in 20 MB steps, 40 MB/s at most (the table is emptied each time, so
 * only WAL grows). pgBackRest drops WAL when PostgreSQL next calls the archive command, which it does
 * for every new segment: faster than that, the volume would need room for what one call takes.
 */
function writeWal(mb: number): { peakWalMb: number; peakUsedMb: number; stoppedAfterMb?: number; error?: string } {
  let peakWalMb = 0;
  let peakUsedMb = 0;
  for (let written = 0; written < mb; written += 20) {
    const r = c.asPostgres(`${c.bin}/psql`, [
      ...["-XAtq", "-v", "ON_ERROR_STOP=1", "-h", dir("run"), "-p", String(c.port), "-d", "postgres"],
      ...["-c", "INSERT INTO junk SELECT repeat(md5(g::text), 16) FROM generate_series(1, 30000) g"],
      ...["-c", "TRUNCATE junk"],
    ]);
    if (r.code !== 0 || !postgresUp()) return { peakWalMb, peakUsedMb, stoppedAfterMb: written, error: r.stderr };
    peakWalMb = Math.max(peakWalMb, walMb());
    peakUsedMb = Math.max(peakUsedMb, volumeUsedMb());
    spawnSync("sleep", ["0.5"]);
  }
  return { peakWalMb, peakUsedMb };
}

describeWithTools("an unreachable repository and a small database volume", PG_NEEDS, () => {
  beforeAll(async () => {
    c = new TestCluster("xiopro-archive-gap-");
    fs.mkdirSync(dir("data"));
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${VOLUME_MB}m,mode=0700`, "tmpfs", dir("data")]);
    if (mount.status !== 0) throw new Error(`mount tmpfs: ${mount.stderr}`);
    await c.create();
    BACKUP = c.script("xiopro-backup");
    // The bound as the node sizes it: the shipped setup-postgresql, from this mounted volume
    // (a Hetzner Volume has 10 GB at least; the share is the stack's default).
    const sized = spawnSync(c.script("setup-postgresql"), ["archive-queue"], {
      encoding: "utf8",
      env: {
        ...process.env,
        ...layoutIn(dir("layout-volume"), { XIOPRO_LIB: c.files, XIOPRO_PG_VOLUME: dir("data") }),
        PGBACKREST_CONFIG_PATH: dir("etc"),
        XIOPRO_ARCHIVE_QUEUE_MAX_PERCENT: String(c.plan.backup.archiveQueueMaxPercent),
      },
    });
    expect(sized.status, sized.stderr).toBe(0);
    queueMb = Number(/^archive-push-queue-max=(\d+)MB$/m.exec(fs.readFileSync(QUEUE_CONF(), "utf8"))?.[1]);
    // PostgreSQL's own WAL between checkpoints, scaled with the volume as max_wal_size 1 GB is to
    // a real one: the queue bound is about the WAL that waits for the repository.
    sql("postgres", "ALTER SYSTEM SET max_wal_size = '64MB'");
    sql("postgres", "ALTER SYSTEM SET min_wal_size = '32MB'");
    sql("postgres", "SELECT pg_reload_conf()");
    sql("postgres", "CREATE TABLE junk (t text)");
    // The first check creates the stanza while an asynchronous archive-push holds the archive lock
    // (it happened in test:fresh, exit 50): held here for 8 s, the check must wait for it, not fail.
    // pgBackRest deletes its lock file when it lets go, so a lock taken on a path an archive-push
    // has just released may be on a deleted file: the holder locks until the path is still the file.
    const lock = dir("lock", "xiopro-archive.lock");
    const holder = spawn("runuser", ["-u", "postgres", "--", "python3", "-c", LOCK_HOLDER, lock, "8"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("the lock holder did not take the archive lock in 30 s")),
        30_000,
      );
      holder.stdout.on("data", (d: Buffer) => {
        if (!d.toString().includes("held")) return;
        clearTimeout(timer);
        resolve();
      });
    });
    const t0 = Date.now();
    const check = c.job("pgbackrest-check", [BACKUP, "pgbackrest-check"]);
    const log = fs.readFileSync(dir("log/xiopro-stanza-create.log"), "utf8");
    expect(check.code, check.stderr).toBe(0);
    expect(log, "stanza-create met the held lock").toContain("unable to acquire lock on file");
    expect(Date.now() - t0, "the check waited for the lock").toBeGreaterThanOrEqual(5000);
    holder.kill();
    c.ok(c.script("xiopro-job"), ["pgbackrest-full", BACKUP, "pgbackrest-full"]);
  }, 240_000);

  afterAll(() => {
    if (!c) return;
    // Also after a failed setup (no repository yet): the data volume is unmounted either way.
    if (fs.existsSync(dir("repo/pgbackrest"))) fs.chmodSync(dir("repo/pgbackrest"), 0o750);
    if (fs.existsSync(dir("data", "postmaster.pid")))
      c.asPostgres(`${c.bin}/pg_ctl`, ["-D", dir("data"), "-m", "immediate", "-w", "stop"]);
    spawnSync("umount", [dir("data")]);
    c.destroy();
  });

  it("drops WAL past the bound instead of filling the volume, records the gap, and closes it with a full backup", () => {
    expect(queueMb).toBe(100);
    const archivedBefore = Number(sql("postgres", "SELECT archived_count FROM pg_stat_archiver"));
    fs.chmodSync(dir("repo/pgbackrest"), 0o000);
    const t0 = Date.now();
    const load = writeWal(3 * VOLUME_MB);
    console.log(
      `bounded: wrote ${3 * VOLUME_MB} MB of WAL in ${((Date.now() - t0) / 1000).toFixed(1)} s; pg_wal peak ${load.peakWalMb.toFixed(0)} MB, volume peak ${load.peakUsedMb.toFixed(0)} of ${VOLUME_MB} MB (queue bound ${queueMb} MB)`,
    );
    expect(load.stoppedAfterMb).toBeUndefined();
    expect(postgresUp()).toBe(true);
    expect(load.peakUsedMb).toBeLessThan(VOLUME_MB * 0.9);

    // pgBackRest keeps dropping what waited when the load stopped: read the gap once it holds still
    // (the same for 5 s; with no new WAL and the repository away, nothing more is dropped).
    const gapText = () => fs.readFileSync(dir("state/archive-gap.json"), "utf8");
    let [seen, since, t] = [gapText(), Date.now(), Date.now()];
    while (Date.now() - since < 5000 && Date.now() - t < 120_000) {
      spawnSync("sleep", ["0.5"]);
      if (gapText() !== seen) [seen, since] = [gapText(), Date.now()];
    }
    const gap = JSON.parse(seen) as Record<string, unknown>;
    expect(gap).toMatchObject({ firstWal: expect.stringMatching(/^[0-9A-F]{24}$/) as unknown });
    expect(gap.dropped).toBeGreaterThan(0);
    expect(String(gap.lastWal) >= String(gap.firstWal)).toBe(true);
    expect(gapMetric("open")).toBe(1);
    expect(gapMetric("dropped_segments")).toBe(gap.dropped);
    expect(gapMetric("opened_timestamp_seconds")).toBe(gap.openedAt);
    // PostgreSQL counts the dropped segments as archived (once each archive command has returned):
    // without the gap record nothing would tell.
    const countedArchived = () =>
      Number(sql("postgres", "SELECT archived_count FROM pg_stat_archiver")) - archivedBefore;
    for (t = Date.now(); countedArchived() < (gap.dropped as number) && Date.now() - t < 10_000;)
      spawnSync("sleep", ["0.2"]);
    expect(countedArchived()).toBeGreaterThanOrEqual(gap.dropped as number);

    // The repository answers again: once a segment switched now is in it, everything queued
    // before was pushed or dropped (pg_stat_archiver cannot tell: a drop counts as archived).
    fs.chmodSync(dir("repo/pgbackrest"), 0o750);
    const reopened = Date.now();
    // A segment switched right away may still go with the last dropped queue: any later one counts.
    const switched = new Set<string>();
    const archived = () =>
      fs
        .readdirSync(dir("repo/pgbackrest/archive/xiopro"), { recursive: true })
        .map((f) => path.basename(String(f)).slice(0, 24))
        .find((name) => switched.has(name));
    while (!archived() && Date.now() - reopened < 180_000) {
      switched.add(sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())"));
      spawnSync("sleep", ["1"]);
    }
    const wal = archived();
    expect(
      wal,
      `${sql("postgres", "SELECT * FROM pg_stat_archiver")}\n${fs.readFileSync(dir("log/xiopro-archive-push-async.log"), "utf8").slice(-3000)}`,
    ).toBeDefined();
    console.log(
      `segment ${wal} reached the repository ${((Date.now() - reopened) / 1000).toFixed(0)} s after it came back`,
    );
    // What the gap holds now that nothing more is dropped.
    const closing = JSON.parse(fs.readFileSync(dir("state/archive-gap.json"), "utf8")) as Record<string, unknown>;
    expect(closing).toMatchObject({ firstWal: gap.firstWal, openedAt: gap.openedAt });
    const fulls = info()[0]!.backup.filter((b) => b.type === "full").length;
    const r = c.job("pgbackrest-check", [BACKUP, "pgbackrest-check"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("taking a full backup");
    const backups = info()[0]!.backup;
    expect(backups.filter((b) => b.type === "full").length).toBe(fulls + 1);
    const label = backups.at(-1)!.label;
    expect(r.stderr).toContain(`archive gap closed by full backup ${label}`);
    expect(backups.at(-1)!.annotation?.["xiopro-manifest"]).toBeDefined();
    expect(fs.existsSync(dir("state/archive-gap.json"))).toBe(false);
    expect(gapMetric("open")).toBe(0);
    const history = fs
      .readFileSync(dir("state/restore-drill-history.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(history.at(-1)).toMatchObject({ ...closing, event: "archive-gap", fullBackup: label });
    console.log(
      `gap: ${String(closing.dropped)} segments dropped (${String(closing.firstWal)} to ${String(closing.lastWal)}), closed by full backup ${label}`,
    );
  }, 600_000);

  it("without the bound, the same load fills the volume and the database stops taking writes", () => {
    fs.rmSync(QUEUE_CONF());
    fs.chmodSync(dir("repo/pgbackrest"), 0o000);
    const load = writeWal(3 * VOLUME_MB);
    console.log(
      `unbounded: writes failed after ${load.stoppedAfterMb} MB of WAL (server ${postgresUp() ? "up, refusing writes" : "down"}); volume peak ${load.peakUsedMb.toFixed(0)} of ${VOLUME_MB} MB`,
    );
    expect(load.stoppedAfterMb).toBeDefined();
    expect(load.stoppedAfterMb!).toBeLessThan(3 * VOLUME_MB);
    // The client's error or the server's log (a PANIC on WAL ends the server before it answers).
    expect(`${load.error}\n${fs.readFileSync(dir("log/postgresql.log"), "utf8")}`, load.error).toMatch(
      /No space left on device|Check free disk space/,
    );
    expect(load.peakUsedMb).toBeGreaterThan(VOLUME_MB * 0.85);
  }, 600_000);
});
