// L3: two repositories (backup.repository at Hetzner, backup.offsite elsewhere) for real: the
// product's rendered pgbackrest.conf and backup.env, its node scripts, a real PostgreSQL cluster,
// pgBackRest and restic. Repository 1 is an S3-compatible server over TLS (s3rver) standing in for
// Hetzner's Object Storage, repository 2 a directory standing in for the off-site one. Repository 1
// goes away (the Hetzner account lost) and comes back. Proven: WAL reaches both; each job writes
// each repository and reports each; with repository 1 away, WAL still reaches repository 2 and a
// job fails only repository 1's run; on a lost node xiopro-restore --repo 2 brings every commit back
// from the off-site copy alone; repository 1 catches up once it answers; the drill restores each.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TEST_SECRETS } from "../support/helpers.js";
import { freePort, PG_NEEDS, TestCluster, type Run } from "../../lab/pg-cluster.js";
import { s3OptionsIn, startS3Server, trustTestCa, type S3Options, type S3Server } from "../../lab/s3.js";
import { describeWithTools } from "../support/tools.js";

const REGION = "fsn1";
const BUCKET = "xiopro-hetzner-test";

interface Backup {
  label: string;
  type: string;
  database: { "repo-key": number };
  timestamp: { stop: number };
  annotation?: Record<string, string>;
}
interface Info {
  archive: { database: { "repo-key": number }; max: string | null }[];
  backup: Backup[];
}

describeWithTools(
  "two repositories: Hetzner's (S3) goes away and comes back, the off-site one carries on, with a real cluster",
  { ...PG_NEEDS, commands: [...PG_NEEDS.commands!, "openssl"] },
  () => {
    let work = "";
    let s3: S3Server;
    let c: TestCluster;
    const timings: string[] = [];
    let s3Options: S3Options;
    const secrets = {
      PGBACKREST_REPO1_CIPHER_PASS: TEST_SECRETS.pgbackrestCipherPass!,
      PGBACKREST_REPO1_S3_KEY: TEST_SECRETS.backupS3AccessKey!,
      PGBACKREST_REPO1_S3_KEY_SECRET: TEST_SECRETS.backupS3SecretKey!,
      PGBACKREST_REPO2_CIPHER_PASS: TEST_SECRETS.pgbackrestCipherPass!,
    };
    const job = (name: string, extra: Record<string, string> = {}): Run => {
      const t0 = Date.now();
      const r = c.job(name, [c.script("xiopro-backup"), name], extra);
      timings.push(`${name}: exit ${r.code}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return r;
    };
    // Inspection only, one repository at a time: pgBackRest waits out its I/O timeout for one that is away.
    const info = (repo: number): Info =>
      (
        JSON.parse(
          c.ok("pgbackrest", ["--stanza=xiopro", `--repo=${repo}`, "info", "--output=json"], secrets),
        ) as Info[]
      )[0]!;
    const backupsOf = (repo: number) => info(repo).backup.filter((b) => b.database["repo-key"] === repo);
    const newestWal = (repo: number) => info(repo).archive.find((a) => a.database["repo-key"] === repo)?.max ?? "";
    const metrics = (file: string) => fs.readFileSync(c.dir("metrics", file), "utf8");
    const orders = () => Number(c.sql("xiopro", "SELECT count(*) FROM orders"));
    /** Switches WAL; returns the segment that now holds the newest commits. */
    const switchWal = () => c.sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    const waitFor = async (what: string, done: () => boolean, seconds: number) => {
      const t0 = Date.now();
      while (!done()) {
        if (Date.now() - t0 > seconds * 1000) throw new Error(`${what}: not within ${seconds} s`);
        await new Promise((r) => setTimeout(r, 500));
      }
      timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    };
    const drill = async (repo: number) => {
      const t0 = Date.now();
      const r = c.job("restore-drill", [c.script("xiopro-restore-drill")], {
        XIOPRO_DRILL_REPO: String(repo),
        XIOPRO_DRILL_DIR: c.dir("drill"),
        XIOPRO_DRILL_PORT: String(await freePort()),
      });
      timings.push(`restore-drill of repository ${repo}: exit ${r.code}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(fs.readFileSync(c.dir("state/restore-drill-result.json"), "utf8")) as {
        repository: number;
        backupId: string;
        result: string;
        tablesVerified: number;
      };
    };

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-two-repos-"));
      s3Options = s3OptionsIn(work, {
        region: REGION,
        bucket: BUCKET,
        keys: { [TEST_SECRETS.backupS3AccessKey!]: TEST_SECRETS.backupS3SecretKey! },
      });
      s3 = await startS3Server(s3Options);
      c = new TestCluster("xiopro-two-repos-");
      await c.create((x) => {
        // TestCluster's own directory becomes the off-site repository; Hetzner's is the S3 server.
        x.backup.offsite = x.backup.repository;
        x.backup.repository = { kind: "s3", endpoint: s3.endpoint, region: REGION, bucket: BUCKET, path: "/xiopro" };
      }, trustTestCa(s3Options.tls));
      c.sql(
        "xiopro",
        "CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL); " +
          "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 3000) g",
      );
      fs.writeFileSync(c.dir("files/data/app.db"), "artifact v1\n");
    });

    afterAll(async () => {
      console.log(`two repositories, timings:\n  ${timings.join("\n  ")}`);
      c?.destroy();
      await s3?.close();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it("renders both repositories and sends WAL to each", async () => {
      const conf = fs.readFileSync(c.dir("etc/pgbackrest.conf"), "utf8");
      expect(conf).toContain(
        `repo1-type=s3\nrepo1-path=/xiopro/pgbackrest\nrepo1-s3-endpoint=localhost:${s3.port}\nrepo1-s3-bucket=${BUCKET}\n`,
      );
      expect(conf).toContain(`repo2-type=posix\nrepo2-path=${c.dir("repo")}/pgbackrest\n`);
      const check = job("pgbackrest-check");
      expect(check.code, check.stderr).toBe(0);
      // pgBackRest's own status per repository: both answer, neither holds a backup yet.
      expect(metrics("xiopro_backup_repository_pgbackrest.prom")).toContain(
        'xiopro_backup_repository_status{tool="pgbackrest",repo="1"} 2\n' +
          'xiopro_backup_repository_status{tool="pgbackrest",repo="2"} 2\n',
      );
      const wal = switchWal();
      await waitFor("a switched segment in both repositories", () => newestWal(1) >= wal && newestWal(2) >= wal, 60);
    });

    it("backs up into each repository, each backup with its own manifest, and reports each", () => {
      const full = job("pgbackrest-full");
      expect(full.code, full.stderr).toBe(0);
      for (const repo of [1, 2]) {
        const [b, ...more] = backupsOf(repo);
        expect(more).toEqual([]);
        expect(b!.type).toBe("full");
        const manifest = JSON.parse(b!.annotation!["xiopro-manifest"]!) as { label: string; databases: object };
        expect(manifest.label).toBe(b!.label);
        expect(manifest.databases).toMatchObject({ xiopro: { "public.orders": 3000 } });
        expect(metrics("xiopro_backup_repository_pgbackrest.prom")).toContain(
          `xiopro_backup_repository_newest_timestamp_seconds{tool="pgbackrest",repo="${repo}"} ${b!.timestamp.stop}\n`,
        );
      }
      const files = job("files");
      expect(files.code, files.stderr).toBe(0);
      for (const repo of [1, 2]) {
        const m = /xiopro_backup_repository_newest_timestamp_seconds\{tool="restic",repo="(\d)"\} (\d+)/.exec(
          metrics(`xiopro_backup_repository_restic_${repo}.prom`),
        );
        expect(m?.[1]).toBe(String(repo));
        expect(Math.abs(Number(m![2]) - Date.now() / 1000)).toBeLessThan(300);
      }
      expect(s3.objects(BUCKET, "xiopro/restic/").some((k) => k.includes("/snapshots/"))).toBe(true);
      expect(fs.readdirSync(c.dir("repo/restic/snapshots")).length).toBeGreaterThan(0);
    });

    it("with repository 1 away, WAL still reaches repository 2, and a job fails only repository 1's run", async () => {
      await s3.close();
      c.sql("xiopro", "INSERT INTO orders SELECT g, 'while away' FROM generate_series(3001, 4000) g");
      const wal = switchWal();
      await waitFor("WAL reaching repository 2 with repository 1 away", () => newestWal(2) >= wal, 180);
      // Repository 1 first and failing, repository 2 still read back. pgBackRest gives up on a
      // repository that is away after ~4 × io-timeout per operation: minutes with the default 60 s,
      // seconds with 2 here (archiving's own 5 s is the product's setting).
      const verify = job("pgbackrest-verify", { PGBACKREST_IO_TIMEOUT: "2" });
      expect(verify.code).not.toBe(0);
      expect(verify.stderr).toContain("pgbackrest-verify failed for repository 1 of 1 2");
      expect(verify.stderr).toMatch(/verify command begin[^\n]*--repo=2[\s\S]*status: ok/);
    });

    it("xiopro-restore --repo 2 brings back every commit on a lost node from the off-site repository alone", () => {
      c.sql("xiopro", "INSERT INTO orders SELECT g, 'last' FROM generate_series(4001, 4100) g");
      const wal = switchWal();
      const t0 = Date.now();
      while (newestWal(2) < wal && Date.now() - t0 < 180_000) spawnSync("sleep", ["0.5"]);
      // The node is lost with its disk: no clean shutdown, no WAL left to archive.
      c.asPostgres(`${c.bin}/pg_ctl`, ["-D", c.dir("data"), "-m", "immediate", "-w", "stop"]);
      const r = c.asPostgres(c.script("xiopro-restore"), ["--repo", "2", "--force", "--no-backup"], {
        XIOPRO_PG_CONTROL: "pg_ctl",
        XIOPRO_PG_DATA: c.dir("data"),
      });
      timings.push(
        `xiopro-restore --repo 2 with repository 1 away: exit ${r.code}, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/backup set \d{8}-\d{6}F of repository 2 /);
      expect(orders()).toBe(4100);
      // An operator's typo is refused before anything is touched.
      const bad = c.asPostgres(c.script("xiopro-restore"), ["--repo", "3"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("--repo 3 is not one of this node's repositories (1 2, backup.env)");
    });

    it("catches repository 1 up once it answers again: the WAL it missed and the next backup", async () => {
      s3 = await startS3Server({ ...s3Options, port: s3.port });
      c.sql("xiopro", "INSERT INTO orders SELECT g, 'after return' FROM generate_series(4101, 4200) g");
      const wal = switchWal();
      await waitFor("repository 1 catching up on the WAL it missed", () => newestWal(1) >= wal, 180);
      const check = job("pgbackrest-check");
      expect(check.code, check.stderr).toBe(0);
      const full = job("pgbackrest-full");
      expect(full.code, full.stderr).toBe(0);
      expect(backupsOf(1).map((b) => b.type)).toEqual(["full", "full"]);
      expect(backupsOf(2).map((b) => b.type)).toEqual(["full", "full"]);
    });

    it("the drill restores each repository in turn and finds every table", async () => {
      for (const repo of [1, 2]) {
        const result = await drill(repo);
        expect(result).toMatchObject({ repository: repo, result: "pass", backupId: backupsOf(repo).at(-1)!.label });
        expect(result.tablesVerified).toBeGreaterThan(0);
      }
    });
  },
);
