// npm run bench:recovery -- [--trials N] [--size-gb G] [--quick] [--only rpo|receiver|restore]
// Recovery you can measure: RPO of WAL archiving after a crash that loses the host, and the time to
// a usable database from a pgBackRest backup versus a pg_dump (restic) — on this machine, with real
// PostgreSQL, pgBackRest and restic, the settings the product renders for the tst plan and a local
// directory as the off-host repository. A benchmark, not a test: the figures are the last lines.
import { spawn, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { lostCommits, startAckLoad, type Ack } from "./ack-load.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { backupEnv, pgbackrestConf, pgHba, postgresqlConf } from "../cloud-init/configs.js";
import type { NodePlan, Plan } from "../infra/plan/index.js";
import { planOf } from "../lab/stacks.js";
import { envFileValues, TestCluster } from "../lab/pg-cluster.js";
import { s3OptionsIn, startS3Server, trustTestCa, type S3Server } from "../lab/s3.js";
import { layoutIn } from "../lab/layout.js";

export { lostCommits } from "./ack-load.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const FILES = path.join(ROOT, "cloud-init/files");
const BACKUP = path.join(FILES, "xiopro-backup");
const PG_ROOT = "/usr/lib/postgresql";
const CIPHER = "bench-pgbackrest-cipher-3c9e1f";
const RESTIC_PW = "bench-restic-password-8a2d4b";
const ROLE_PW = "bench-backup-role-pw-61f0";
const S3_KEY = "bench-s3-access-5e7a";
const S3_SECRET = "bench-s3-secret-0c4b9d71";
const PATH_ENV = "/usr/local/bin:/usr/bin:/bin";
const RUN_ID = randomUUID();
const T0 = Date.now();

const USAGE = `Usage: npm run bench:recovery -- [--trials N] [--size-gb G] [--quick] [--only rpo|receiver|restore]
         [--pgbackrest KEY=VALUE]... [--postgres KEY=VALUE]...

RPO: a steady load of acknowledged commits (~100 tx/s), then every process of the cluster is
killed (kill -9, postmaster first), the data directory and spool are destroyed, the cluster is
restored from the repository (pgbackrest restore to the end of archived WAL) and the acknowledged
commits that did not come back are counted. Compares the product's archive settings with a tuned set.
Restore: a database of --size-gb GB (random text, jsonb, several indexes), a pgBackRest full backup and
a pg_dump -Fc in restic (the product's jobs) into two repositories, a local directory and the S3
stand-in over TLS (backup.offsite); from each, time until a restored copy answers a query, both ways.

  --trials N     crash trials per setting (default 3)
  --size-gb G    size of the restore database (default 1.1)
  --quick        smoke run: 1 trial, short loads, a 0.05 GB database
  --only X       run only the rpo, receiver or restore part
  --pgbackrest K=V, --postgres K=V
                 the restore part with a setting of pgbackrest.conf or postgresql.conf changed
                 (repeatable): what another setting would give, on the same data

Receiver: the same crash with the optional WAL receiver (backup.walReceiver) streaming to a second
directory, asynchronous and synchronous: acknowledged commits lost when restoring from the repository
alone and with the receiver's copy (xiopro-restore --wal-dir), and the commit latency the client saw.`;

// ---------------------------------------------------------------------------------------------
// Plumbing

function stamp(): string {
  const s = Math.round((Date.now() - T0) / 1000);
  return `${new Date().toISOString().slice(11, 19)} +${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}
const progress = (msg: string) => console.log(`[${stamp()}] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => (ms / 1000).toFixed(1);
const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command as the postgres user with exactly PATH plus the given environment. */
function asPostgres(
  cmd: string,
  args: readonly string[],
  env: Record<string, string>,
  opts: SpawnSyncOptions = {},
): Run {
  const vars = { PATH: PATH_ENV, LANG: "C.UTF-8", ...env };
  const r = spawnSync(
    "runuser",
    ["-u", "postgres", "--", "env", "-i", ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), cmd, ...args],
    {
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
      ...opts,
    },
  );
  return { code: r.status ?? -1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? r.error ?? "") };
}

function must(r: Run, what: string): string {
  if (r.code !== 0)
    throw new Error(
      `${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split("\n").slice(-6).join("\n")}`,
    );
  return r.stdout;
}

function dirBytes(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let total = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) total += fs.statSync(path.join(e.parentPath, e.name)).size;
  return total;
}

const dirFiles = (dir: string) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length
    : 0;

/** Processes whose environment carries this run's marker for a cluster (postmaster, its children,
 * archive_command, pgBackRest's detached async workers). */
function markedPids(marker: string): number[] {
  const needle = Buffer.from(`XIOPRO_BENCH=${marker}\0`);
  const out: number[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/environ`).includes(needle)) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out.filter((p) => p !== process.pid);
}

const kill9 = (pid: number) => {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
};

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---------------------------------------------------------------------------------------------
// A cluster on loopback in a temp directory, set up like a node: product postgresql.conf,
// pg_hba and pgbackrest.conf (posix repository), the product's archive_command script.

let WORK = "";
const clusters: Cluster[] = [];
let nextPort = 20000 + Math.floor(Math.random() * 20000);

let s3: S3Server | undefined;

function cleanup(): void {
  for (const c of clusters) c.killAll();
  void s3?.close();
  if (WORK) fs.rmSync(WORK, { recursive: true, force: true });
}

class Cluster {
  readonly dir: string;
  readonly port = nextPort++;
  readonly bin: string;
  readonly plan: Plan;
  readonly node: NodePlan;
  readonly marker: string;

  /** `edit` changes the stack config after the posix repository is set (an off-site repository);
   * `extraEnv` joins the environment of everything the cluster runs (a test CA). */
  constructor(
    readonly name: string,
    readonly settings: Record<string, string> = {},
    readonly pgbackrestOptions: Record<string, string> = {},
    edit?: Parameters<typeof planOf>[1],
    readonly extraEnv: Record<string, string> = {},
  ) {
    this.dir = path.join(WORK, name);
    this.marker = `${RUN_ID}:${name}`;
    const version = fs
      .readdirSync(PG_ROOT)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(a) - Number(b))
      .pop()!;
    this.bin = `${PG_ROOT}/${version}/bin`;
    this.plan = planOf("tst", (c) => {
      c.backup.repository = { kind: "posix", path: this.p("repo") };
      edit?.(c);
    });
    this.node = this.plan.nodes.find((n) => n.services.some((s) => s.name === "postgresql"))!;
    clusters.push(this);
  }

  p(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Environment of the xiopro scripts and pgBackRest (what backup.env and the unit's credentials give). */
  get env(): Record<string, string> {
    return {
      ...layoutIn(this.p("layout"), {
        XIOPRO_LIB: FILES,
        XIOPRO_STATE_DIR: this.p("state"),
        XIOPRO_METRICS_DIR: this.p("state"),
      }),
      // Every repository's settings as backup.env has them (XIOPRO_REPOS, XIOPRO_REPO2_*, ...).
      ...Object.fromEntries(
        Object.entries(envFileValues(backupEnv(this.plan, this.node))).filter(([k]) =>
          /^(XIOPRO_REPO|RESTIC_REPOSITORY$|AWS_)/.test(k),
        ),
      ),
      PGBACKREST_STANZA: "xiopro",
      RESTIC_CACHE_DIR: this.p("cache"),
      XIOPRO_BACKUP_PATHS: this.p("state"),
      CREDENTIALS_DIRECTORY: this.p("creds"),
      PGBACKREST_CONFIG_PATH: this.p("etc"),
      PGHOST: this.p("run"),
      PGPORT: String(this.port),
      // What the services add to their settings (/etc/xiopro/<service>.env): the database's roles.
      ...Object.assign({}, ...this.node.services.map((s) => s.additions.env ?? {})),
      ...this.extraEnv,
    };
  }

  /** The server's environment: as the scripts', plus the marker that finds every process of this "host". */
  get serverEnv(): Record<string, string> {
    return { ...this.env, PGBACKREST_REPO1_CIPHER_PASS: CIPHER, XIOPRO_BENCH: this.marker };
  }

  /** initdb, product configuration with paths/port and the settings under test, start. */
  create(): void {
    for (const d of ["run", "state", "creds", "repo", "spool", "log", "lock", "etc/conf.d", "conf", "cache"])
      fs.mkdirSync(this.p(d), { recursive: true });
    fs.writeFileSync(this.p("creds/pgbackrest-cipher-pass"), CIPHER);
    fs.writeFileSync(this.p("creds/restic-password"), RESTIC_PW);
    fs.writeFileSync(this.p("creds/pg-role-backup"), ROLE_PW);
    fs.writeFileSync(this.p("creds/repo2-s3-access-key"), S3_KEY);
    fs.writeFileSync(this.p("creds/repo2-s3-secret-key"), S3_SECRET);
    let pgbr = pgbackrestConf(this.plan)
      .replace(/^spool-path=.*$/m, `spool-path=${this.p("spool")}`)
      .replace(/^log-path=.*$/m, `log-path=${this.p("log")}\nlock-path=${this.p("lock")}`)
      .replace(/^log-level-console=.*$/m, "log-level-console=warn");
    for (const [k, v] of Object.entries(this.pgbackrestOptions))
      pgbr = new RegExp(`^${k}=`, "m").test(pgbr)
        ? pgbr.replace(new RegExp(`^${k}=.*$`, "m"), `${k}=${v}`)
        : pgbr.replace("[global]\n", `[global]\n${k}=${v}\n`);
    fs.writeFileSync(this.p("etc/pgbackrest.conf"), pgbr);
    fs.writeFileSync(
      this.p("etc/conf.d/stanza.conf"),
      `[xiopro]\npg1-path=${this.p("data")}\npg1-socket-path=${this.p("run")}\npg1-port=${this.port}\n`,
    );
    // The rendered archive_command with only the script directory moved to this checkout.
    let conf = postgresqlConf(this.plan, this.node)
      .replace(/^listen_addresses = .*$/m, "listen_addresses = '127.0.0.1'")
      .replace(/^(archive_command = ')\/usr\/local\/lib\/xiopro\//m, `$1${FILES}/`);
    if (!conf.includes(`archive_command = '${BACKUP} `))
      throw new Error("the rendered archive_command no longer runs /usr/local/lib/xiopro/xiopro-backup");
    for (const [k, v] of Object.entries(this.settings))
      conf = new RegExp(`^${k} = `, "m").test(conf)
        ? conf.replace(new RegExp(`^${k} = .*$`, "m"), `${k} = ${v}`)
        : `${conf}${k} = ${v}\n`;
    fs.writeFileSync(
      this.p("conf/90-xiopro.conf"),
      `${conf}port = ${this.port}\nunix_socket_directories = '${this.p("run")}'\n`,
    );
    spawnSync("chown", ["-R", "postgres:postgres", this.dir]);
    must(
      asPostgres(
        `${this.bin}/initdb`,
        ["-D", this.p("data"), "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "-N"],
        {},
      ),
      "initdb",
    );
    fs.appendFileSync(this.p("data/postgresql.conf"), `include '${this.p("conf/90-xiopro.conf")}'\n`);
    fs.writeFileSync(this.p("data/pg_hba.conf"), pgHba(this.plan, this.node));
    spawnSync("chown", ["-R", "postgres:postgres", this.p("data")]);
    this.start();
  }

  start(extra: string[] = [], env: Record<string, string> = this.serverEnv): void {
    const r = asPostgres(
      `${this.bin}/pg_ctl`,
      ["-D", this.p("data"), "-w", "-t", "900", "-l", this.p("log/postgresql.log"), ...extra, "start"],
      { ...env, XIOPRO_BENCH: this.marker },
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    if (r.code !== 0)
      throw new Error(
        `start ${this.name} failed: ${fs.readFileSync(this.p("log/postgresql.log"), "utf8").trim().split("\n").slice(-30).join("\n")}`,
      );
  }

  /** Waits until recovery has ended (promoted) and a query answers; returns when it did. */
  async waitReady(db = "postgres", query = "SELECT 1"): Promise<number> {
    for (;;) {
      const r = asPostgres(
        `${this.bin}/psql`,
        ["-XAtq", "-h", this.p("run"), "-p", String(this.port), "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"],
        {},
      );
      if (r.stdout.trim() === "f") break;
      if (!fs.existsSync(this.p("data/postmaster.pid")))
        throw new Error(
          `${this.name} stopped during recovery: ${fs.readFileSync(this.p("log/postgresql.log"), "utf8").split("\n").slice(-8).join("\n")}`,
        );
      await sleep(100);
    }
    this.sql(db, query);
    return Date.now();
  }

  stop(mode: "fast" | "immediate" = "fast"): void {
    asPostgres(`${this.bin}/pg_ctl`, ["-D", this.p("data"), "-m", mode, "-w", "-t", "300", "stop"], {});
  }

  sql(db: string, q: string): string {
    return must(
      asPostgres(
        `${this.bin}/psql`,
        ["-XAtq", "-v", "ON_ERROR_STOP=1", "-h", this.p("run"), "-p", String(this.port), "-d", db, "-c", q],
        {},
      ),
      `psql ${q.slice(0, 60)}`,
    ).trim();
  }

  /** A product job through xiopro-job (state file and metrics in the cluster's state directory). */
  job(name: string, args: string[], extra: Record<string, string> = {}): void {
    must(asPostgres(path.join(FILES, "xiopro-job"), [name, ...args], { ...this.env, ...extra }), `xiopro-job ${name}`);
  }

  pgbackrest(args: string[], extra: Record<string, string> = {}): string {
    return must(
      asPostgres("pgbackrest", ["--stanza=xiopro", ...args], {
        ...this.env,
        PGBACKREST_REPO1_CIPHER_PASS: CIPHER,
        ...extra,
      }),
      `pgbackrest ${args.join(" ")}`,
    );
  }

  /** The host is lost: SIGKILL the postmaster, then every other process of this cluster at once. */
  crash(): void {
    const pidFile = this.p("data/postmaster.pid");
    const postmaster = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]) : 0;
    if (postmaster > 0) kill9(postmaster);
    this.killAll();
  }

  killAll(): void {
    for (let round = 0; round < 50; round++) {
      const pids = markedPids(this.marker);
      if (pids.length === 0) return;
      pids.forEach(kill9);
      spawnSync("sleep", ["0.05"]);
    }
  }

  /** Deletes what the lost host held: data directory, pgBackRest spool and locks, the socket directory (a tmpfs). */
  destroyHost(): void {
    for (const d of ["data", "spool", "lock", "run"]) {
      fs.rmSync(this.p(d), { recursive: true, force: true });
      fs.mkdirSync(this.p(d), { recursive: true });
    }
    spawnSync("chown", ["-R", "postgres:postgres", this.dir]);
    fs.chmodSync(this.p("data"), 0o700);
  }

  remove(): void {
    this.stop("immediate");
    this.killAll();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// RPO

interface LoadResult {
  acks: Ack[];
  startMs: number;
  crashMs: number;
  sent: number;
}

/** ~100 tx/s of single-row commits through psql; every acknowledgement is recorded with its time.
 * After `seconds`, the cluster's host is "lost" (crash) — the load stops with it. */
async function loadThenCrash(c: Cluster, firstId: number, seconds: number): Promise<LoadResult> {
  const vars = { PATH: PATH_ENV, LANG: "C.UTF-8" };
  const load = startAckLoad(
    [
      "runuser",
      "-u",
      "postgres",
      "--",
      "env",
      "-i",
      ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
      `${c.bin}/psql`,
      "-XAtq",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      c.p("run"),
      "-p",
      String(c.port),
      "-d",
      "postgres",
    ],
    "bench_acks",
    firstId,
  );
  await sleep(seconds * 1000);
  const crashMs = Date.now();
  c.crash();
  await load.stop();
  return { acks: load.acks, startMs: load.startMs, crashMs, sent: load.sent() };
}

interface Trial {
  rpo: number;
  lost: number;
  acked: number;
  holes: number;
  loadSeconds: number;
  /** WAL archive bytes that reached the repository during the load, and over which span: from the
   * load's start (just after the backup's WAL switch) to the last arrival. 0 s: nothing arrived. */
  archivedBytes: number;
  archivedFiles: number;
  archivedSpanSeconds: number;
  restoreSeconds: number;
}

interface Setting {
  label: string;
  describe: string;
  settings: Record<string, string>;
  pgbackrest: Record<string, string>;
  cycleSeconds: number;
}

async function rpoSetting(s: Setting, trials: number, quick: boolean): Promise<Trial[]> {
  progress(`rpo ${s.label}: ${s.describe}`);
  const c = new Cluster(`rpo-${s.label}`, s.settings, s.pgbackrest);
  c.create();
  c.job("pgbackrest-check", [BACKUP, "pgbackrest-check"]);
  c.sql(
    "postgres",
    "CREATE TABLE bench_acks (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text NOT NULL)",
  );
  const out: Trial[] = [];
  let firstId = 1;
  for (let i = 0; i < trials; i++) {
    c.job("pgbackrest-full", [BACKUP, "pgbackrest-full"]);
    // Crash moments spread over the archive_timeout cycle: trial i falls in the i-th slice of it.
    const warmup = quick ? 8 : 20;
    const cycle = Math.min(s.cycleSeconds, quick ? 12 : 60);
    const seconds = warmup + ((i + Math.random()) / trials) * cycle;
    const archive = c.p("repo/pgbackrest/archive");
    const before = dirBytes(archive);
    const filesBefore = dirFiles(archive);
    let arrived = { bytes: before, at: 0 };
    const loadStart = Date.now();
    const sampler = setInterval(() => {
      const b = dirBytes(archive);
      if (b !== arrived.bytes) arrived = { bytes: b, at: Date.now() };
    }, 250);
    progress(
      `rpo ${s.label} trial ${i + 1}/${trials}: ~100 tx/s for ${secs(seconds * 1000)} s, then kill -9 of every cluster process`,
    );
    const load = await loadThenCrash(c, firstId, seconds);
    clearInterval(sampler);
    const after = dirBytes(archive);
    if (after !== arrived.bytes) arrived = { bytes: after, at: load.crashMs };
    const span = arrived.at ? (arrived.at - loadStart) / 1000 : 0;
    const growth = span ? ((arrived.bytes - before) / span) * 60 : 0;
    firstId += load.sent + 1;
    c.destroyHost();
    const t0 = Date.now();
    c.pgbackrest(["restore", "--log-level-console=warn"]);
    c.start();
    const ready = await c.waitReady();
    const restored = new Set(
      c
        .sql("postgres", `SELECT id FROM bench_acks WHERE id >= ${load.acks[0]?.id ?? firstId}`)
        .split("\n")
        .filter(Boolean)
        .map(Number),
    );
    const r = lostCommits(load.acks, restored);
    const rate = load.acks.length / ((load.crashMs - load.startMs) / 1000);
    out.push({
      rpo: r.rpoSeconds,
      lost: r.lost,
      acked: load.acks.length,
      holes: r.holes,
      loadSeconds: (load.crashMs - load.startMs) / 1000,
      archivedBytes: arrived.bytes - before,
      archivedFiles: dirFiles(archive) - filesBefore,
      archivedSpanSeconds: span,
      restoreSeconds: (ready - t0) / 1000,
    });
    progress(
      `rpo ${s.label} trial ${i + 1}/${trials}: ${load.acks.length} acknowledged (${rate.toFixed(0)} tx/s), ${r.lost} lost → RPO ${r.rpoSeconds.toFixed(2)} s` +
        `${r.holes ? `, ${r.holes} HOLES` : ""}; archive ${span ? `grew ${mb(growth)} MB/min` : "received nothing during the load"}; restored and promoted in ${secs(ready - t0)} s`,
    );
  }
  c.remove();
  return out;
}

// ---------------------------------------------------------------------------------------------
// RPO with the WAL receiver

interface ReceiverTrial {
  acked: number;
  alone: ReturnType<typeof lostCommits>;
  withReceiver: ReturnType<typeof lostCommits>;
  p50: number;
  p99: number;
}

const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** The product's cluster (lab/pg-cluster.ts) with a WAL receiver, a load, the host lost, then two
 * restores of the same crash: from the repository alone (a rehearsal: --no-archive) and with the
 * receiver's copy. */
async function receiverTrials(mode: "async" | "sync", trials: number, quick: boolean): Promise<ReceiverTrial[]> {
  const out: ReceiverTrial[] = [];
  for (let i = 0; i < trials; i++) {
    const c = new TestCluster("xiopro-bench-receiver-");
    try {
      await c.create((x) => {
        x.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
        x.backup.walReceiver = { synchronous: mode === "sync" };
      });
      const receiver = await c.startWalReceiver();
      c.sql("xiopro", "CREATE TABLE acks (id bigint PRIMARY KEY, payload text NOT NULL)");
      for (const job of ["pgbackrest-check", "pgbackrest-full"])
        must(c.job(job, [c.script("xiopro-backup"), job]), job);
      const seconds = (quick ? 6 : 15) + Math.random() * 2;
      progress(
        `receiver ${mode} trial ${i + 1}/${trials}: ~100 tx/s for ${seconds.toFixed(1)} s, then the database host is lost`,
      );
      const load = startAckLoad(c.psqlArgv("xiopro"), "acks", 1);
      await sleep(seconds * 1000);
      // Latencies only from acknowledgements read before the crash blocks the event loop.
      const latencies = load.acks.filter((a) => a.sentMs !== undefined).map((a) => a.ackMs - a.sentMs!);
      c.loseHost();
      await load.stop();
      await receiver.stop();
      const restoredIds = () => new Set(c.sql("xiopro", "SELECT id FROM acks").split("\n").filter(Boolean).map(Number));
      const restore = (args: string[]) =>
        must(
          c.asPostgres(c.script("xiopro-restore"), args, {
            XIOPRO_PG_CONTROL: "pg_ctl",
            XIOPRO_PG_DATA: c.dir("data"),
          }),
          `xiopro-restore ${args.join(" ")}`,
        );
      restore(["--no-archive"]);
      const alone = lostCommits(load.acks, restoredIds());
      c.loseHost();
      restore(["--no-backup", "--wal-dir", c.dir("received")]);
      const withReceiver = lostCommits(load.acks, restoredIds());
      out.push({
        acked: load.acks.length,
        alone,
        withReceiver,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      });
      progress(
        `receiver ${mode} trial ${i + 1}/${trials}: ${load.acks.length} acknowledged; lost ${alone.lost} (RPO ${alone.rpoSeconds.toFixed(2)} s) from the repository alone, ` +
          `${withReceiver.lost} (RPO ${withReceiver.rpoSeconds.toFixed(2)} s) with the receiver; commit latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
      );
    } finally {
      c.destroy();
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Restore time

const WORDS = (() => {
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  const words: string[] = [];
  for (let i = 0; i < 6000; i++) {
    const len = 2 + Math.floor(Math.random() ** 1.5 * 10);
    let w = "";
    for (let j = 0; j < len; j++) w += letters[Math.floor(Math.random() ** 2 * letters.length)];
    words.push(w);
  }
  return words;
})();
const word = () => WORDS[Math.floor(Math.random() ** 3 * WORDS.length)]!;
const words = (n: number) => Array.from({ length: n }, word).join(" ");
const STATUSES = ["new", "paid", "shipped", "returned", "cancelled"];

function docRow(id: number): string {
  const created = new Date(Date.UTC(2024, 0, 1) + Math.floor(Math.random() * 7e10)).toISOString();
  const attrs = {
    sku: `${word().slice(0, 3).toUpperCase()}-${Math.floor(Math.random() * 1e6)}`,
    price: Math.round(Math.random() * 1e6) / 100,
    qty: 1 + Math.floor(Math.random() * 20),
    status: STATUSES[Math.floor(Math.random() * STATUSES.length)],
    ship: { city: word(), zip: String(Math.floor(Math.random() * 1e5)).padStart(5, "0"), express: Math.random() < 0.2 },
    notes: words(3 + Math.floor(Math.random() * 12)),
    ref: randomBytes(8).toString("hex"),
  };
  const tags = `{${Array.from({ length: 1 + Math.floor(Math.random() * 4) }, word).join(",")}}`;
  return `${id}\t${1 + Math.floor(Math.random() * 50_000)}\t${created}\t${words(4 + Math.floor(Math.random() * 6))}\t${words(20 + Math.floor(Math.random() * 100))}\t${JSON.stringify(attrs)}\t${tags}\n`;
}

async function copyRows(c: Cluster, from: number, count: number): Promise<void> {
  const vars = { PATH: PATH_ENV, LANG: "C.UTF-8" };
  const psql = spawn(
    "runuser",
    [
      "-u",
      "postgres",
      "--",
      "env",
      "-i",
      ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
      `${c.bin}/psql`,
      "-XAtq",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      c.p("run"),
      "-p",
      String(c.port),
      "-d",
      "xiopro",
      "-c",
      "COPY docs FROM STDIN",
    ],
    { stdio: ["pipe", "ignore", "pipe"] },
  );
  let err = "";
  psql.stderr.setEncoding("utf8");
  psql.stderr.on("data", (d: string) => (err += d));
  const done = new Promise<number>((resolve) => psql.on("close", (code) => resolve(code ?? -1)));
  for (let id = from; id < from + count;) {
    let chunk = "";
    for (let k = 0; k < 500 && id < from + count; k++) chunk += docRow(id++);
    if (!psql.stdin.write(chunk)) await new Promise((r) => psql.stdin.once("drain", r));
  }
  psql.stdin.end();
  const code = await done;
  if (code !== 0) throw new Error(`COPY failed: ${err}`);
}

/** One way back from one repository: pgBackRest's restore and the pg_dump baseline, to the first query. */
/**
 * Where a restored cluster's start went, from its log (log_line_prefix %m: millisecond stamps): to
 * the start of redo, redo with the WAL files restore_command brought, and from the end of redo to
 * ready (the timeline switch and the end-of-recovery checkpoint).
 */
function recoveryPhases(log: string): string {
  const lines = log.split("\n");
  const stamp = (l: string | undefined) => (l ? Date.parse(l.slice(0, 23).replace(" ", "T") + "Z") : NaN);
  const first = (re: RegExp, from = 0) => lines.slice(from).find((l) => re.test(l));
  const t0 = stamp(first(/starting PostgreSQL/));
  const redo = stamp(first(/redo starts at/));
  const done = stamp(first(/redo done at/));
  const ready = stamp(first(/database system is ready to accept connections/));
  const ckptAt = lines.findIndex((l) => /checkpoint starting: end-of-recovery/.test(l));
  const ckpt = ckptAt < 0 ? NaN : stamp(first(/checkpoint complete/, ckptAt)) - stamp(lines[ckptAt]);
  const wal = lines.filter((l) => /restored log file ".*" from archive/.test(l)).length;
  const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : "?");
  return `start to redo ${s(redo - t0)} s, redo with ${wal} WAL files from the archive ${s(done - redo)} s, end of redo to ready ${s(ready - done)} s (end-of-recovery checkpoint ${s(ckpt)} s)`;
}

interface RestorePath {
  repository: string;
  pgbr: { total: number; restore: number; recovery: number; phases: string };
  dump: { total: number; resticDump: number; cluster: number; pgRestore: number };
}
interface RestoreResult {
  dbBytes: number;
  rows: number;
  /** Per repository (1: a local directory, 2: the S3 stand-in over TLS). */
  backupSeconds: number[];
  dumpSeconds: number[];
  repoBytes: number[];
  dumpBytes: number;
  paths: RestorePath[];
}

const S3_REGION = "fsn1";
const S3_BUCKET = "xiopro-bench-offsite";

/** Runs `script` (bash) as postgres with the product's repository helpers loaded (xiopro-repository.sh). */
const withRepositoryHelpers = (script: string, args: string[], env: Record<string, string>) =>
  asPostgres("bash", ["-c", `. ${FILES}/xiopro-repository.sh && ${script}`, "bench", ...args], env);

/**
 * Repository `repo` of `src` back to a first query, both ways, with the product's commands: pgBackRest
 * restore as xiopro-restore runs it (the configured process-max, WAL through xiopro-backup's
 * archive-get from the same repository) into a fresh directory, then start and recovery; and restic
 * dump of the pg_dump, a new cluster with the roles, pg_restore -j2.
 */
async function restorePath(src: Cluster, repo: number, repository: string, rows: number): Promise<RestorePath> {
  const a = new Cluster(`restore-pgbackrest-${repo}`);
  for (const d of ["data", "run", "log"]) fs.mkdirSync(a.p(d), { recursive: true, mode: 0o700 });
  spawnSync("chown", ["-R", "postgres:postgres", a.dir]);
  progress(`restore from ${repository}: pgbackrest restore into a fresh directory, start, first query`);
  const p0 = Date.now();
  must(
    withRepositoryHelpers(
      'load_pgbackrest_credentials && exec pgbackrest "$@"',
      [
        "--stanza=xiopro",
        `--repo=${repo}`,
        `--pg1-path=${a.p("data")}`,
        "--type=default",
        `--recovery-option=restore_command=${BACKUP} pgbackrest-archive-get %f "%p" ${repo}`,
        "--archive-mode=off",
        "--log-level-console=warn",
        "restore",
      ],
      src.env,
    ),
    `pgbackrest --repo=${repo} restore`,
  );
  const p1 = Date.now();
  // The restored configuration is the source's (its port, its pgBackRest settings for archive-get,
  // which must know the data directory moved).
  a.start(["-o", `-c port=${a.port} -c unix_socket_directories=${a.p("run")}`], {
    ...src.serverEnv,
    PGBACKREST_PG1_PATH: a.p("data"),
  });
  const p2 = await a.waitReady("xiopro", "SELECT max(id) FROM docs");
  const pgbrRows = Number(a.sql("xiopro", "SELECT count(*) FROM docs"));
  const phases = recoveryPhases(fs.readFileSync(a.p("log/postgresql.log"), "utf8"));
  a.remove();
  progress(`restore from ${repository}: pgBackRest ready after ${secs(p2 - p0)} s (${pgbrRows} rows)`);

  const b = new Cluster(`restore-pgdump-${repo}`);
  fs.mkdirSync(b.p("dump"), { recursive: true });
  spawnSync("chown", ["-R", "postgres:postgres", b.dir]);
  progress(`restore from ${repository}: restic dump, initdb + roles, pg_restore -j2, first query`);
  const d0 = Date.now();
  must(
    withRepositoryHelpers(
      'restic_repository "$1" && restic_cmd dump --quiet --tag db:xiopro latest xiopro.dump >"$2"',
      [String(repo), b.p("dump/xiopro.dump")],
      src.env,
    ),
    `restic dump from repository ${repo}`,
  );
  const d1 = Date.now();
  b.create();
  must(asPostgres(path.join(FILES, "setup-postgresql"), ["roles"], b.env), "setup-postgresql roles");
  const d2 = Date.now();
  must(
    asPostgres(
      `${b.bin}/pg_restore`,
      ["-j2", "-h", b.p("run"), "-p", String(b.port), "-d", "xiopro", b.p("dump/xiopro.dump")],
      {},
    ),
    "pg_restore",
  );
  const d3 = await b.waitReady("xiopro", "SELECT max(id) FROM docs");
  const dumpRows = Number(b.sql("xiopro", "SELECT count(*) FROM docs"));
  b.remove();
  progress(`restore from ${repository}: pg_restore ready after ${secs(d3 - d0)} s (${dumpRows} rows)`);
  if (pgbrRows !== rows || dumpRows !== rows)
    throw new Error(`restored row counts differ: source ${rows}, pgBackRest ${pgbrRows}, pg_restore ${dumpRows}`);
  return {
    repository,
    pgbr: { total: (p2 - p0) / 1000, restore: (p1 - p0) / 1000, recovery: (p2 - p1) / 1000, phases },
    dump: {
      total: (d3 - d0) / 1000,
      resticDump: (d1 - d0) / 1000,
      cluster: (d2 - d1) / 1000,
      pgRestore: (d3 - d2) / 1000,
    },
  };
}

async function restoreBench(
  sizeGb: number,
  options: { pgbackrest: Record<string, string>; postgres: Record<string, string> },
): Promise<RestoreResult> {
  const target = sizeGb * 1e9;
  // Repository 1 is a local directory; repository 2 (backup.offsite) the S3 stand-in over TLS: the
  // same backups of the same database, read back over the network path.
  const s3Work = path.join(WORK, "s3");
  fs.mkdirSync(s3Work);
  const s3Options = s3OptionsIn(s3Work, { region: S3_REGION, bucket: S3_BUCKET, keys: { [S3_KEY]: S3_SECRET } });
  s3 = await startS3Server(s3Options);
  const src = new Cluster(
    "restore-src",
    options.postgres,
    options.pgbackrest,
    (c) =>
      (c.backup.offsite = {
        kind: "s3",
        endpoint: s3!.endpoint,
        region: S3_REGION,
        bucket: S3_BUCKET,
        path: "/xiopro",
      }),
    trustTestCa(s3Options.tls, 2),
  );
  progress(
    `restore: source cluster (repository 1 a directory, 2 the S3 stand-in at ${s3.endpoint}), roles (setup-postgresql roles), then ${sizeGb} GB of random text and jsonb in database xiopro`,
  );
  src.create();
  must(asPostgres(path.join(FILES, "setup-postgresql"), ["roles"], src.env), "setup-postgresql roles");
  src.sql(
    "xiopro",
    `CREATE TABLE docs (id bigint NOT NULL, customer_id int NOT NULL, created_at timestamptz NOT NULL, title text NOT NULL, body text NOT NULL, attrs jsonb NOT NULL, tags text[] NOT NULL);
    ALTER TABLE docs OWNER TO xiopro_api`,
  );
  // Heap first, indexes after (as a bulk load would), then top up with the indexes in place.
  const heap = () => Number(src.sql("xiopro", "SELECT pg_table_size('docs')"));
  let rows = 0;
  const batch = 100_000;
  await copyRows(src, 1, 20_000);
  rows = 20_000;
  const perRow = heap() / rows;
  const heapTarget = target * 0.68;
  while (rows * perRow < heapTarget) {
    const n = Math.min(batch, Math.ceil((heapTarget - rows * perRow) / perRow));
    await copyRows(src, rows + 1, n);
    rows += n;
    progress(`restore: ${rows} rows, heap ${mb(heap())} MB`);
  }
  progress("restore: indexes (primary key, customer+time, title, GIN on attrs)");
  src.sql(
    "xiopro",
    `ALTER TABLE docs ADD PRIMARY KEY (id);
    CREATE INDEX docs_customer_created ON docs (customer_id, created_at);
    CREATE INDEX docs_title ON docs (title);
    CREATE INDEX docs_attrs ON docs USING gin (attrs jsonb_path_ops)`,
  );
  src.sql("xiopro", "VACUUM ANALYZE docs");
  const dbSize = () => Number(src.sql("xiopro", "SELECT pg_database_size('xiopro')"));
  while (dbSize() < target) {
    const n = Math.max(5000, Math.ceil((target - dbSize()) / (perRow * 1.4)));
    await copyRows(src, rows + 1, n);
    rows += n;
  }
  const dbBytes = dbSize();
  progress(`restore: database xiopro is ${mb(dbBytes)} MB (${rows} rows)`);

  src.job("pgbackrest-check", [BACKUP, "pgbackrest-check"]);
  const backupSeconds: number[] = [];
  const dumpSeconds: number[] = [];
  for (const repo of [1, 2]) {
    let t = Date.now();
    src.job("pgbackrest-full", [BACKUP, "pgbackrest-full", "--repo", String(repo)]);
    backupSeconds.push((Date.now() - t) / 1000);
    t = Date.now();
    src.job("pgdump", [BACKUP, "pgdump", "--repo", String(repo)]);
    dumpSeconds.push((Date.now() - t) / 1000);
  }
  const repoBytes = [
    dirBytes(src.p("repo/pgbackrest/backup")),
    dirBytes(path.join(s3Options.dir, S3_BUCKET, "xiopro/pgbackrest/backup")),
  ];
  const dumpBytes = dirBytes(src.p("repo/restic"));
  progress(
    `restore: pgBackRest full backup (xiopro-backup pgbackrest-full) in ${backupSeconds.map((x) => secs(x * 1000)).join(" s and ")} s, ${mb(repoBytes[0]!)} MB in the repository; ` +
      `pg_dump -Fc into restic (xiopro-backup pgdump) in ${dumpSeconds.map((x) => secs(x * 1000)).join(" s and ")} s, ${mb(dumpBytes)} MB (directory, then S3)`,
  );
  src.stop();
  const paths = [
    await restorePath(src, 1, "a local directory", rows),
    await restorePath(src, 2, "the S3 stand-in over TLS", rows),
  ];
  src.remove();
  return { dbBytes, rows, backupSeconds, dumpSeconds, repoBytes, dumpBytes, paths };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let v;
  try {
    v = parseArgs({
      options: {
        trials: { type: "string" },
        "size-gb": { type: "string" },
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        pgbackrest: { type: "string", multiple: true },
        postgres: { type: "string", multiple: true },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (v.help) return (console.log(USAGE), 0);
  const quick = v.quick!;
  const trials = Number(v.trials ?? (quick ? 1 : 3));
  const sizeGb = Number(v["size-gb"] ?? (quick ? 0.05 : 1.1));
  if (
    !Number.isInteger(trials) ||
    trials < 1 ||
    !(sizeGb > 0) ||
    (v.only && !["rpo", "receiver", "restore"].includes(v.only))
  ) {
    console.error(`bad option value\n\n${USAGE}`);
    return 2;
  }
  // KEY=VALUE overrides of the rendered pgbackrest.conf and postgresql.conf for the restore part: what
  // another setting would give, on the same data. The figures name them.
  const overrides = (what: string, pairs: string[] = []) => {
    const bad = pairs.filter((p) => !/^[a-z0-9_-]+=\S+$/.test(p));
    if (bad.length) throw new Error(`--${what} takes KEY=VALUE; got ${bad.map((b) => `'${b}'`).join(", ")}`);
    return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
  };
  let restoreOptions: { pgbackrest: Record<string, string>; postgres: Record<string, string> };
  try {
    restoreOptions = { pgbackrest: overrides("pgbackrest", v.pgbackrest), postgres: overrides("postgres", v.postgres) };
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  for (const tool of ["pgbackrest", "restic", "runuser"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return (console.error(`${tool} is not installed`), 1);
  if (!fs.existsSync(PG_ROOT)) return (console.error(`${PG_ROOT} is missing: install the distro's PostgreSQL`), 1);
  if (process.getuid?.() !== 0)
    return (console.error("run as root (clusters run as the postgres user via runuser)"), 1);
  WORK = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-bench-"));
  fs.chmodSync(WORK, 0o755);

  const product = planOf("tst");
  const productTimeout = postgresqlConf(product, product.nodes[0]!).match(/^archive_timeout = (\d+)$/m)![1]!;
  const settings: Setting[] = [
    {
      label: "product",
      describe: `as rendered: archive_timeout = ${productTimeout}, wal_recycle/wal_init_zero default (on), archive-async=y, archive-push process-max 2`,
      settings: {},
      pgbackrest: {},
      cycleSeconds: Number(productTimeout),
    },
    {
      label: "tuned",
      describe:
        "archive_timeout = 1, wal_recycle = off, wal_init_zero = on (+ the rendered archive-async=y, process-max 2)",
      settings: { archive_timeout: "1", wal_recycle: "off", wal_init_zero: "on" },
      pgbackrest: {},
      cycleSeconds: 1,
    },
    // The same timeout with recycled WAL files: what wal_recycle = off buys in repository size.
    {
      label: "recycle",
      describe: "archive_timeout = 1 only (wal_recycle on, the default): what wal_recycle = off changes",
      settings: { archive_timeout: "1" },
      pgbackrest: {},
      cycleSeconds: 1,
    },
  ];
  progress(
    `bench:recovery ${quick ? "--quick " : ""}trials ${trials}, size ${sizeGb} GB, work dir ${WORK}, ${os.cpus().length} cores`,
  );
  const archiveCommand = postgresqlConf(product, product.nodes[0]!).match(/^archive_command = '(.*)'$/m)![1]!;
  progress(
    `archive path: the product's script, as rendered: archive_command '${archiveCommand.replace("/usr/local/lib/xiopro/", `${path.relative(ROOT, FILES)}/`)}' (sources cloud-init/files/xiopro-lib.sh, cipher pass from a temporary CREDENTIALS_DIRECTORY)`,
  );

  const figures: string[] = [];
  if (!v.only || v.only === "rpo") {
    const verdicts: string[] = [];
    for (const s of settings) {
      const ts = await rpoSetting(s, trials, quick);
      const rpos = ts.map((t) => t.rpo);
      verdicts.push(
        `${s.label} ${Math.max(...rpos) <= 5 ? "≤" : ">"} 5 s (worst ${Math.max(...rpos).toFixed(2)} s, bound archive_timeout ${s.settings.archive_timeout ?? productTimeout} s + push latency)`,
      );
      const span = ts.reduce((a, t) => a + t.archivedSpanSeconds, 0);
      const perMin = span ? (ts.reduce((a, t) => a + t.archivedBytes, 0) / span) * 60 : 0;
      const filesPerMin = span ? (ts.reduce((a, t) => a + t.archivedFiles, 0) / span) * 60 : 0;
      figures.push(
        `RPO ${s.label.padEnd(7)} worst ${Math.max(...rpos).toFixed(2)} s, median ${median(rpos).toFixed(2)} s over ${ts.length} trial(s) ` +
          `(lost ${ts.map((t) => t.lost).join("/")} of ${ts.map((t) => t.acked).join("/")} acked${ts.some((t) => t.holes) ? ", HOLES" : ""}); ` +
          `WAL archive growth ${span ? `${Math.round(perMin)} bytes/min (${mb(perMin)} MB/min, ${filesPerMin.toFixed(0)} files/min)` : "n/a (no segment arrived during a load)"}; ` +
          `crash-to-promoted median ${secs(median(ts.map((t) => t.restoreSeconds)) * 1000)} s — ${s.describe}`,
      );
    }
    figures.push(
      `RPO verdict: a crash loses the WAL not yet in the repository; worst case per setting: ${verdicts.join("; ")}`,
    );
  }
  if (!v.only || v.only === "receiver") {
    for (const mode of ["async", "sync"] as const) {
      const ts = await receiverTrials(mode, trials, quick);
      const worst = (xs: number[]) => Math.max(...xs).toFixed(2);
      figures.push(
        `RPO receiver ${mode.padEnd(5)} worst ${worst(ts.map((t) => t.withReceiver.rpoSeconds))} s, lost ${ts.map((t) => t.withReceiver.lost).join("/")} of ${ts.map((t) => t.acked).join("/")} acked` +
          `${ts.some((t) => t.withReceiver.holes) ? ", HOLES" : ""}; the repository alone (archive_timeout ${productTimeout} s) on the same crashes: worst ${worst(ts.map((t) => t.alone.rpoSeconds))} s, lost ${ts.map((t) => t.alone.lost).join("/")}; ` +
          `commit latency p50 ${median(ts.map((t) => t.p50)).toFixed(1)} ms, p99 ${Math.max(...ts.map((t) => t.p99)).toFixed(1)} ms`,
      );
    }
  }
  if (!v.only || v.only === "restore") {
    const r = await restoreBench(sizeGb, restoreOptions);
    const changed = [
      ...Object.entries(restoreOptions.pgbackrest).map(([k, x]) => `pgbackrest ${k}=${x}`),
      ...Object.entries(restoreOptions.postgres).map(([k, x]) => `postgres ${k} = ${x}`),
    ];
    figures.push(`restore settings: ${changed.length ? `as rendered except ${changed.join(", ")}` : "as rendered"}`);
    figures.push(
      `restore ${mb(r.dbBytes)} MB db (${r.rows} rows; pgBackRest ${mb(r.repoBytes[0]!)} MB in the repository, full backup ${r.backupSeconds.map((x) => x.toFixed(1)).join(" s / ")} s; ` +
        `pg_dump+restic ${mb(r.dumpBytes)} MB in ${r.dumpSeconds.map((x) => x.toFixed(1)).join(" s / ")} s; directory / S3)`,
    );
    for (const p of r.paths)
      figures.push(
        `restore from ${p.repository}: pgBackRest ${p.pgbr.total.toFixed(1)} s to first query (restore ${p.pgbr.restore.toFixed(1)} + start/recovery ${p.pgbr.recovery.toFixed(1)}: ${p.pgbr.phases}); ` +
          `pg_restore -j2 ${p.dump.total.toFixed(1)} s (restic dump ${p.dump.resticDump.toFixed(1)} + initdb/roles ${p.dump.cluster.toFixed(1)} + pg_restore ${p.dump.pgRestore.toFixed(1)}; no planner statistics yet); ` +
          `ratio ${(p.dump.total / p.pgbr.total).toFixed(2)}x`,
      );
  }
  progress(`done in ${secs(Date.now() - T0)} s`);
  console.log("== figures");
  for (const f of figures) console.log(f);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  process.on("SIGINT", () => process.exit(130));
  process.on("SIGTERM", () => process.exit(143));
  process.on("exit", cleanup);
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`bench:recovery failed: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
