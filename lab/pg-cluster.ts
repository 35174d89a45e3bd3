// A real PostgreSQL cluster with the product's backup settings for the tst plan, a local directory as
// the repository (kind posix) unless the test gives another (an S3 bucket), in a temporary directory
// on its own port. The node scripts run as the postgres user from a copy every user can read (CI
// clones into a private directory).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { backupEnv, pgbackrestConf, pgHba, postgresqlConf } from "../cloud-init/configs.js";
import { WAL_RECEIVER } from "../infra/catalog/layout.js";
import type { Plan } from "../infra/plan/index.js";
import { planOf, ROOT, TEST_SECRETS } from "./stacks.js";
import type { Needs } from "./needs.js";
import { layoutIn } from "./layout.js";

export const PG_ROOT = "/usr/lib/postgresql";
/** What a real-cluster test needs on this machine. */
export const PG_NEEDS: Needs = { paths: [PG_ROOT], commands: ["pgbackrest", "restic"] };

/** The replication role's password in test clusters (fake, like every value in test/). */
export const WAL_RECEIVER_TEST_PASSWORD = "fake-walreceiver-role-pw-7b2e";

export interface WalReceiver {
  log(): string;
  /** SIGINT, as systemd stops it; resolves once it has exited. */
  stop(): Promise<void>;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** KEY=value lines of a rendered environment file (quotes stripped), as systemd reads them. */
export function envFileValues(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).replace(/^"|"$/g, "")]),
  );
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The node of the plan that runs the WAL receiver, if any. */
const receiverNode = (plan: Plan) => plan.nodes.find((n) => n.services.some((s) => s.name === "wal-receiver"));

export class TestCluster {
  readonly tmp: string;
  readonly files: string;
  readonly bin: string;
  port = 0;
  plan!: Plan;
  env: Record<string, string> = {};
  /** The rendered postgresql.conf (adapted to this directory) and pg_hba.conf, for every initdb. */
  private conf = "";
  private hba = "";

  constructor(prefix: string) {
    const version = fs
      .readdirSync(PG_ROOT)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(a) - Number(b))
      .pop()!;
    this.bin = `${PG_ROOT}/${version}/bin`;
    this.files = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-scripts-"));
    fs.chmodSync(this.files, 0o755);
    fs.cpSync(path.join(ROOT, "cloud-init/files"), this.files, { recursive: true });
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  dir(...p: string[]): string {
    return path.join(this.tmp, ...p);
  }

  script(name: string): string {
    return path.join(this.files, name);
  }

  /** Runs a command as the postgres user with exactly the cluster's environment, plus `extra`. */
  asPostgres(cmd: string, args: string[], extra: Record<string, string> = {}, timeout = 240_000): Run {
    const vars = { PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8", ...this.env, ...extra };
    const r = spawnSync(
      "runuser",
      ["-u", "postgres", "--", "env", "-i", ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), cmd, ...args],
      { encoding: "utf8", cwd: this.tmp, timeout },
    );
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
  }

  ok(cmd: string, args: string[], extra: Record<string, string> = {}): string {
    const r = this.asPostgres(cmd, args, extra);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** psql as the postgres user against this cluster, for a client that feeds its own statements. */
  psqlArgv(db: string): string[] {
    return [
      "runuser",
      ...["-u", "postgres", "--", `${this.bin}/psql`, "-XAtq", "-v", "ON_ERROR_STOP=1"],
      ...["-h", this.dir("run"), "-p", String(this.port), "-d", db],
    ];
  }

  sql(db: string, q: string): string {
    return this.ok(`${this.bin}/psql`, [
      "-XAtq",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      this.dir("run"),
      "-p",
      String(this.port),
      "-d",
      db,
      "-c",
      q,
    ]).trim();
  }

  /** The repository settings as for tst with a posix path (and `edit` of the stack config, which may
   * set another repository), then a new cluster. `extraEnv` joins the environment of everything the
   * cluster runs, PostgreSQL's archive_command included (a test CA for an S3 endpoint). A WAL
   * receiver node's rendered pg_hba line is pointed at loopback. */
  async create(edit?: (c: Record<string, any>) => void, extraEnv: Record<string, string> = {}): Promise<void> {
    for (const d of [
      "run",
      "state",
      "metrics",
      "creds",
      "repo",
      "spool",
      "log",
      "lock",
      "etc/conf.d",
      "cache",
      "files/etc",
      "files/data",
    ])
      fs.mkdirSync(this.dir(d), { recursive: true });
    fs.writeFileSync(this.dir("creds/pgbackrest-cipher-pass"), TEST_SECRETS.pgbackrestCipherPass!);
    fs.writeFileSync(this.dir("creds/restic-password"), TEST_SECRETS.resticPassword!);
    fs.writeFileSync(this.dir("creds/pg-role-backup"), "test-backup-role-pw-5d1c");
    fs.writeFileSync(this.dir("creds/pg-role-walreceiver"), WAL_RECEIVER_TEST_PASSWORD);
    // What xiopro-credentials delivers for an s3 repository (unused by the other kinds).
    fs.writeFileSync(this.dir("creds/repo-s3-access-key"), TEST_SECRETS.backupS3AccessKey!);
    fs.writeFileSync(this.dir("creds/repo-s3-secret-key"), TEST_SECRETS.backupS3SecretKey!);
    fs.writeFileSync(this.dir("creds/repo2-s3-access-key"), TEST_SECRETS.backupOffsiteS3AccessKey!);
    fs.writeFileSync(this.dir("creds/repo2-s3-secret-key"), TEST_SECRETS.backupOffsiteS3SecretKey!);
    spawnSync("chown", ["-R", "postgres:postgres", this.tmp]);
    this.port = await freePort();
    const plan = planOf("tst", (c) => {
      c.backup.repository = { kind: "posix", path: this.dir("repo") };
      edit?.(c);
    });
    this.plan = plan;
    const node = plan.nodes.find((n) => n.services.some((s) => s.name === "postgresql"))!;
    const envFile = envFileValues(backupEnv(plan, node));
    this.env = {
      ...layoutIn(this.dir("layout"), {
        XIOPRO_LIB: this.files,
        XIOPRO_STATE_DIR: this.dir("state"),
        XIOPRO_METRICS_DIR: this.dir("metrics"),
      }),
      // Every repository's settings (XIOPRO_REPOS, XIOPRO_REPO_KIND, XIOPRO_REPO2_*).
      ...Object.fromEntries(Object.entries(envFile).filter(([k]) => k.startsWith("XIOPRO_REPO"))),
      PGBACKREST_STANZA: envFile.PGBACKREST_STANZA!,
      RESTIC_REPOSITORY: envFile.RESTIC_REPOSITORY!,
      XIOPRO_BACKUP_PATHS: this.dir("files"),
      XIOPRO_DRILL_BOUND_SECONDS: envFile.XIOPRO_DRILL_BOUND_SECONDS!,
      CREDENTIALS_DIRECTORY: this.dir("creds"),
      PGBACKREST_CONFIG_PATH: this.dir("etc"),
      RESTIC_CACHE_DIR: this.dir("cache"),
      PGHOST: this.dir("run"),
      PGPORT: String(this.port),
      // An s3 repository's region (AWS_DEFAULT_REGION, for restic).
      ...Object.fromEntries(Object.entries(envFile).filter(([k]) => k.startsWith("AWS_"))),
      // What the services' options add to their settings (/etc/xiopro/<service>.env on a node),
      // such as the receiver's role and slot that setup-postgresql creates.
      ...Object.assign({}, ...node.services.map((s) => s.additions.env ?? {})),
      ...extraEnv,
    };
    fs.writeFileSync(
      this.dir("etc/pgbackrest.conf"),
      pgbackrestConf(plan)
        .replace(/^spool-path=.*$/m, `spool-path=${this.dir("spool")}`)
        .replace(/^log-path=.*$/m, `log-path=${this.dir("log")}\nlock-path=${this.dir("lock")}`),
    );
    fs.writeFileSync(
      this.dir("etc/conf.d/stanza.conf"),
      `[xiopro]\npg1-path=${this.dir("data")}\npg1-socket-path=${this.dir("run")}\npg1-port=${this.port}\n`,
    );
    spawnSync("chown", ["-R", "postgres:postgres", this.tmp]);
    this.conf = postgresqlConf(plan, node)
      .replace(/^listen_addresses = .*$/m, "listen_addresses = '127.0.0.1'")
      .replace(/^(archive_command = ')\/usr\/local\/lib\/xiopro\//m, `$1${this.files}/`);
    const receiver = receiverNode(plan);
    this.hba = receiver ? pgHba(plan, node).replace(`${receiver.privateIp}/32`, "127.0.0.1/32") : pgHba(plan, node);
    this.initData();
  }

  /** initdb with the rendered settings, start, roles: what setup-postgresql does on a new server. */
  initData(): void {
    this.ok(`${this.bin}/initdb`, ["-D", this.dir("data"), "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "-N"]);
    // Inside the data directory, so a restored copy carries it (Debian keeps it in /etc instead).
    fs.writeFileSync(
      this.dir("data/conf.d-90-xiopro.conf"),
      `${this.conf}port = ${this.port}\nunix_socket_directories = '${this.dir("run")}'\n`,
    );
    fs.appendFileSync(this.dir("data/postgresql.conf"), `include '${this.dir("data/conf.d-90-xiopro.conf")}'\n`);
    fs.writeFileSync(this.dir("data/pg_hba.conf"), this.hba);
    spawnSync("chown", ["-R", "postgres:postgres", this.dir("data")]);
    this.start();
    this.ok(this.script("setup-postgresql"), ["roles"]);
  }

  start(): void {
    this.ok(`${this.bin}/pg_ctl`, [
      "-D",
      this.dir("data"),
      "-w",
      "-t",
      "60",
      "-l",
      this.dir("log/postgresql.log"),
      "start",
    ]);
  }

  /** A crash: SIGKILL to the postmaster and every one of its processes, by id. */
  crash(): void {
    const pid = Number(fs.readFileSync(this.dir("data/postmaster.pid"), "utf8").split("\n")[0]);
    const children = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .stdout.split("\n")
      .map(Number)
      .filter((n) => n > 0);
    for (const p of [pid, ...children]) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && [pid, ...children].some((p) => spawnSync("kill", ["-0", String(p)]).status === 0))
      spawnSync("sleep", ["0.1"]);
  }

  /** The database host is gone: every process killed, data directory and pgBackRest spool deleted. */
  loseHost(): void {
    this.crash();
    fs.rmSync(this.dir("data"), { recursive: true, force: true });
    fs.rmSync(this.dir("spool"), { recursive: true, force: true });
    fs.mkdirSync(this.dir("spool"));
    spawnSync("chown", ["postgres:postgres", this.dir("spool")]);
  }

  /** The WAL receiver's state as the database sees it ("streaming/sync", "streaming/async" or ""). */
  replication(): string {
    return this.sql(
      "postgres",
      `SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '${WAL_RECEIVER.slot}'`,
    );
  }

  /**
   * Starts the shipped xiopro-walreceiver (as on the receiver's node, with its rendered
   * walreceiver.env; only the database's address, the directory and the binaries differ) and waits
   * until the database reports it streaming in the mode the plan asks for.
   */
  async startWalReceiver(dir = this.dir("received")): Promise<WalReceiver> {
    // What the plan renders as the receiver node's /etc/xiopro/wal-receiver.env.
    const rendered = receiverNode(this.plan)!.services.find((s) => s.name === "wal-receiver")!.additions.env ?? {};
    const env = {
      ...rendered,
      XIOPRO_DATABASE_HOST: "127.0.0.1",
      XIOPRO_DATABASE_PORT: String(this.port),
      XIOPRO_WAL_DIR: dir,
      XIOPRO_PG_BIN: this.bin,
      ...layoutIn(this.dir("receiver-layout"), { XIOPRO_LIB: this.files }),
      CREDENTIALS_DIRECTORY: this.dir("creds"),
      PATH: "/usr/bin:/bin",
    };
    const child = spawn(
      "runuser",
      [
        "-u",
        "postgres",
        "--",
        "env",
        "-i",
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        this.script("xiopro-walreceiver"),
        "run",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (log += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (log += d));
    const closed = new Promise<void>((res) => child.on("close", () => res()));
    const want = rendered.XIOPRO_WAL_SYNCHRONOUS === "1" ? "streaming/sync" : "streaming/async";
    const deadline = Date.now() + 60_000;
    while (this.replication() !== want) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(
          `the receiver is not ${want} after 60 s (database says "${this.replication()}"); its log:\n${log}`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
    return {
      log: () => log,
      stop: async () => {
        if (child.exitCode !== null) return;
        // pg_receivewal flushes and exits on SIGINT (the unit's KillSignal=); runuser passes on its exit.
        spawnSync("pkill", ["-INT", "-f", `pg_receivewal -D ${dir} `]);
        await Promise.race([closed, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null) throw new Error(`the receiver did not stop on SIGINT; its log:\n${log}`);
      },
    };
  }

  /**
   * A point-in-time scenario: row 'before' in table marks, then the returned target time (UTC, with
   * its offset), then row 'after' and order 9999. A restore to the target has the first, not the rest.
   */
  marksAroundTarget(): string {
    this.sql("xiopro", "CREATE TABLE marks (phase text NOT NULL); INSERT INTO marks VALUES ('before')");
    const target = this.sql(
      "postgres",
      "SELECT pg_sleep(0.3), to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'",
    ).replace(/^\|/, "");
    this.sql(
      "xiopro",
      "SELECT pg_sleep(0.3); INSERT INTO marks VALUES ('after'); INSERT INTO orders VALUES (9999, 'late')",
    );
    return target;
  }

  job(name: string, args: string[], extra: Record<string, string> = {}): Run {
    return this.asPostgres(this.script("xiopro-job"), [name, ...args], extra);
  }

  destroy(): void {
    if (fs.existsSync(this.dir("data", "postmaster.pid")))
      this.asPostgres(`${this.bin}/pg_ctl`, ["-D", this.dir("data"), "-m", "immediate", "-w", "stop"]);
    fs.rmSync(this.tmp, { recursive: true, force: true });
    fs.rmSync(this.files, { recursive: true, force: true });
  }
}
