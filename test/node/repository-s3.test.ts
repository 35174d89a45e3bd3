// L3: the s3 repository (backup.repository.kind "s3") for real: the product's rendered pgbackrest.conf
// and backup.env, its node scripts and a real PostgreSQL cluster, pgBackRest and restic against an
// S3-compatible server (s3rver) over TLS with a certificate from a test CA made for this run. The
// server refuses any request whose AWS Signature Version 4 is not made with the delivered secret key
// for the configured region (lab/s3.ts), so region and keys are proven, not only the path.
// The clients trust the test CA the way an operator would point them at a private one:
// PGBACKREST_REPO1_STORAGE_CA_FILE for pgBackRest, SSL_CERT_FILE for restic (Go's standard
// variable; restic 0.14 of Debian 12 has no RESTIC_CACERT). Hetzner Object Storage needs neither.
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { backupEnv, pgbackrestConf } from "../../cloud-init/configs.js";
import { readRepository } from "../../scripts/lib/backups.js";
import { TEST_SECRETS } from "../support/helpers.js";
import { envFileValues, PG_NEEDS, TestCluster, type Run } from "../../lab/pg-cluster.js";
import { s3OptionsIn, startS3Server, trustTestCa, type S3Server, type TestCa } from "../../lab/s3.js";
import { describeWithTools } from "../support/tools.js";

const REGION = "fsn1";
const BUCKET = "xiopro-backup-test";
const PGBR = "xiopro/pgbackrest/";
const RESTIC = "xiopro/restic/";

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface JobState {
  job: string;
  result: string;
  exitCode: number;
  lastSuccess: number;
  finished: number;
  detail: string;
}

describeWithTools(
  "an s3 repository over TLS (s3rver, test CA) with a real cluster, pgBackRest and restic",
  { ...PG_NEEDS, commands: [...PG_NEEDS.commands!, "openssl"] },
  () => {
    let work = "";
    let tls: TestCa;
    let s3: S3Server;
    let c: TestCluster;
    const state = (name: string) => JSON.parse(fs.readFileSync(c.dir("state", `${name}.json`), "utf8")) as JobState;
    const backupScript = () => c.script("xiopro-backup");
    const job = (name: string, extra: Record<string, string> = {}) => c.job(name, [backupScript(), name], extra);
    const repoSecrets = {
      PGBACKREST_REPO1_CIPHER_PASS: TEST_SECRETS.pgbackrestCipherPass!,
      PGBACKREST_REPO1_S3_KEY: TEST_SECRETS.backupS3AccessKey!,
      PGBACKREST_REPO1_S3_KEY_SECRET: TEST_SECRETS.backupS3SecretKey!,
    };
    const resticSecrets = () => ({
      RESTIC_PASSWORD_FILE: c.dir("creds/restic-password"),
      AWS_ACCESS_KEY_ID: TEST_SECRETS.backupS3AccessKey!,
      AWS_SECRET_ACCESS_KEY: TEST_SECRETS.backupS3SecretKey!,
    });
    // Inspection only: the jobs under test run the product's scripts.
    const backups = () =>
      (
        JSON.parse(c.ok("pgbackrest", ["--stanza=xiopro", "info", "--output=json"], repoSecrets)) as {
          backup: { label: string; type: string }[];
        }[]
      )[0]!.backup;
    const snapshots = (tag: string) =>
      JSON.parse(c.ok("restic", ["snapshots", "--json", "--tag", tag], resticSecrets())) as {
        id: string;
        short_id: string;
        tags: string[];
        paths: string[];
      }[];
    const objects = (prefix: string) => s3.objects(BUCKET, prefix);
    const object = (key: string) => fs.readFileSync(path.join(s3.dir, BUCKET, `${key}._S3rver_object`));

    function expectSuccess(name: string, r: Run): void {
      expect(r.stderr, r.stderr).toContain(`job ${name}: success (exit 0)`);
      expect(r.code).toBe(0);
      expect(state(name)).toMatchObject({ job: name, result: "success", exitCode: 0 });
    }

    function expectFailure(name: string, r: Run, previousSuccess: number): JobState {
      expect(r.code, r.stderr).not.toBe(0);
      const s = state(name);
      expect(s).toMatchObject({ job: name, result: "failure", exitCode: r.code, lastSuccess: previousSuccess });
      expect(fs.readFileSync(c.dir("metrics", `xiopro_job_${name.replace(/-/g, "_")}.prom`), "utf8")).toContain(
        `xiopro_job_last_result{name="${name}"} 0\n`,
      );
      return s;
    }

    /** A credentials directory like the cluster's, with `changes` (file → content). */
    function credsWith(name: string, changes: Record<string, string>): string {
      const d = c.dir(name);
      fs.cpSync(c.dir("creds"), d, { recursive: true });
      for (const [f, v] of Object.entries(changes)) fs.writeFileSync(path.join(d, f), v);
      spawnSync("chown", ["-R", "postgres:postgres", d]);
      return d;
    }

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-s3-"));
      const options = s3OptionsIn(work, {
        region: REGION,
        bucket: BUCKET,
        keys: { [TEST_SECRETS.backupS3AccessKey!]: TEST_SECRETS.backupS3SecretKey! },
      });
      tls = options.tls;
      s3 = await startS3Server(options);
      c = new TestCluster("xiopro-s3-cluster-");
      await c.create(
        (x) =>
          (x.backup.repository = {
            kind: "s3",
            endpoint: s3.endpoint,
            region: REGION,
            bucket: BUCKET,
            path: "/xiopro",
          }),
        trustTestCa(tls),
      );
      c.sql(
        "xiopro",
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, created_at timestamptz NOT NULL DEFAULT now()); " +
          "INSERT INTO orders SELECT g, md5(g::text), now() FROM generate_series(1, 5000) g",
      );
      fs.writeFileSync(c.dir("files/data/app.db"), "artifact v1\n");
      spawnSync("chown", ["-R", "postgres:postgres", c.dir("files")]);
    });

    afterAll(async () => {
      c?.destroy();
      await s3?.close();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it("renders the s3 settings the clients are given: endpoint with its port, bucket, region, path style, the repository path", () => {
      const port = s3.port;
      const conf = pgbackrestConf(c.plan);
      expect(conf).toContain(
        `repo1-type=s3\nrepo1-path=/xiopro/pgbackrest\nrepo1-s3-endpoint=localhost:${port}\nrepo1-s3-bucket=${BUCKET}\nrepo1-s3-region=${REGION}\nrepo1-s3-uri-style=path\n`,
      );
      expect(fs.readFileSync(c.dir("etc/pgbackrest.conf"), "utf8")).toContain(`repo1-s3-endpoint=localhost:${port}\n`);
      const env = envFileValues(
        backupEnv(
          c.plan,
          c.plan.nodes.find((n) => n.services.some((s) => s.name === "postgresql"))!,
        ),
      );
      expect(env).toMatchObject({
        XIOPRO_REPO_KIND: "s3",
        RESTIC_REPOSITORY: `s3:https://localhost:${port}/${BUCKET}/xiopro/restic`,
        AWS_DEFAULT_REGION: REGION,
      });
      expect(c.env).toMatchObject({
        XIOPRO_REPO_KIND: "s3",
        RESTIC_REPOSITORY: env.RESTIC_REPOSITORY,
        AWS_DEFAULT_REGION: REGION,
      });
      // Nothing has reached the bucket yet.
      expect(objects("")).toEqual([]);
    });

    it("pgbackrest-check creates the stanza in the bucket and WAL arrives there through the asynchronous archive_command, encrypted", () => {
      expectSuccess("pgbackrest-check", job("pgbackrest-check"));
      const archive = objects(`${PGBR}archive/xiopro/`);
      expect(archive).toEqual(
        expect.arrayContaining([`${PGBR}archive/xiopro/archive.info`, `${PGBR}archive/xiopro/archive.info.copy`]),
      );
      expect(objects(`${PGBR}backup/xiopro/`)).toEqual([
        `${PGBR}backup/xiopro/backup.info`,
        `${PGBR}backup/xiopro/backup.info.copy`,
      ]);
      const segments = archive.filter((k) => /\/[0-9A-F]{24}-[0-9a-f]{40}\.zst$/.test(k));
      expect(segments.length).toBeGreaterThan(0);
      expect(segments[0]).toMatch(
        new RegExp(`^${PGBR}archive/xiopro/\\d+-1/0000000100000000/000000010000000000000\\w{3}-[0-9a-f]{40}\\.zst$`),
      );
      // Encrypted in the bucket (repo1-cipher-type): OpenSSL's salted format, not zstd's magic.
      expect(object(segments[0]!).subarray(0, 8).toString("latin1")).toBe("Salted__");
      expect(object(`${PGBR}archive/xiopro/archive.info`).subarray(0, 8).toString("latin1")).toBe("Salted__");
      // PostgreSQL counted the segment as archived, through the asynchronous archive-push.
      let stats = c.sql("postgres", "SELECT archived_count > 0, failed_count FROM pg_stat_archiver");
      const deadline = Date.now() + 30_000;
      while (stats !== "t|0" && Date.now() < deadline)
        stats = c
          .sql("postgres", "SELECT pg_sleep(0.2), archived_count > 0, failed_count FROM pg_stat_archiver")
          .replace(/^\|/, "");
      expect(stats).toBe("t|0");
      expect(fs.readFileSync(c.dir("log/xiopro-archive-push-async.log"), "utf8")).toMatch(
        /pushed WAL file '[0-9A-F]{24}' to the archive/,
      );
      // Every request so far carried a valid signature for the region, made with the delivered keys.
      const log = s3.log();
      expect(log.some((l) => l.startsWith(`PUT /${BUCKET}/${PGBR}archive/xiopro/`))).toBe(true);
      expect(log.filter((l) => / 403$/.test(l))).toEqual([]);
    });

    it("pgbackrest-full writes a full backup into the bucket and pgbackrest info reads it from there", () => {
      expectSuccess("pgbackrest-full", job("pgbackrest-full"));
      const info = backups();
      expect(info.map((b) => b.type)).toEqual(["full"]);
      const label = info[0]!.label;
      expect(label).toMatch(/^\d{8}-\d{6}F$/);
      const set = objects(`${PGBR}backup/xiopro/${label}/`);
      expect(set).toEqual(
        expect.arrayContaining([
          `${PGBR}backup/xiopro/${label}/backup.manifest`,
          `${PGBR}backup/xiopro/${label}/backup.manifest.copy`,
          `${PGBR}backup/xiopro/${label}/pg_data/PG_VERSION.zst`,
        ]),
      );
      expect(set.filter((k) => k.includes("/pg_data/base/")).length).toBeGreaterThan(100);
      // Without the S3 keys pgBackRest cannot read it.
      expect(
        c.asPostgres("pgbackrest", ["--stanza=xiopro", "info"], {
          PGBACKREST_REPO1_CIPHER_PASS: TEST_SECRETS.pgbackrestCipherPass!,
        }).code,
      ).not.toBe(0);
    });

    it("pgdump stores each database's pg_dump in restic in the bucket, and restic restore brings back a dump that restores", () => {
      expect(objects(RESTIC)).toEqual([]);
      const r = job("pgdump");
      expectSuccess("pgdump", r);
      expect(r.stderr).toContain(
        `initialising restic repository s3:https://localhost:${s3.port}/${BUCKET}/xiopro/restic`,
      );
      const snaps = snapshots("pgdump");
      expect(snaps.map((s) => s.tags.find((t) => t.startsWith("db:"))).sort()).toEqual(["db:postgres", "db:xiopro"]);
      const stored = objects(RESTIC);
      expect(stored).toContain(`${RESTIC}config`);
      expect(
        stored
          .filter((k) => k.startsWith(`${RESTIC}snapshots/`))
          .map((k) => k.slice(-64))
          .sort(),
      ).toEqual(snaps.map((s) => s.id).sort());
      expect(stored.filter((k) => /^xiopro\/restic\/data\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(k)).length).toBeGreaterThan(
        0,
      );

      const snap = snaps.find((s) => s.tags.includes("db:xiopro"))!;
      c.ok("restic", ["restore", snap.id, "--target", c.dir("restored")], resticSecrets());
      const dump = c.dir("restored/xiopro.dump");
      // Byte for byte what restic stored: the same bytes as restic dump streams them.
      const streamed = spawnSync(
        "runuser",
        [
          "-u",
          "postgres",
          "--",
          "env",
          "-i",
          ...Object.entries({ PATH: "/usr/bin:/bin", ...c.env, ...resticSecrets() }).map(([k, v]) => `${k}=${v}`),
          "restic",
          "dump",
          "--quiet",
          snap.id,
          "xiopro.dump",
        ],
        { maxBuffer: 1 << 30 },
      );
      expect(streamed.status, String(streamed.stderr)).toBe(0);
      const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");
      expect(sha(fs.readFileSync(dump))).toBe(sha(streamed.stdout));
      // And it restores: the table comes back with the same rows.
      c.sql("postgres", "CREATE DATABASE from_dump");
      c.ok(`${c.bin}/pg_restore`, [
        "-h",
        c.dir("run"),
        "-p",
        String(c.port),
        "-d",
        "from_dump",
        "--no-owner",
        "--exit-on-error",
        dump,
      ]);
      const digest = "SELECT count(*) || ':' || md5(string_agg(id || customer, ',' ORDER BY id)) FROM orders";
      expect(c.sql("from_dump", digest)).toBe(c.sql("xiopro", digest));
      expect(c.sql("from_dump", digest)).toMatch(/^5000:[0-9a-f]{32}$/);
      c.sql("postgres", "DROP DATABASE from_dump");
    });

    it("a job that does not trust the server's CA fails, records the failure, initialises nothing and prunes nothing", () => {
      expectSuccess("files", job("files"));
      // A second snapshot: the retention below would keep only one of the two.
      c.ok("restic", ["backup", "--quiet", "--tag", "files", c.dir("files")], resticSecrets());
      expect(snapshots("files").length).toBe(2);
      const keepOne = { XIOPRO_RETENTION_DAILY: "1", XIOPRO_RETENTION_WEEKLY: "0", XIOPRO_RETENTION_MONTHLY: "0" };
      const before = objects(RESTIC);
      const lastSuccess = state("files").lastSuccess;

      const r = job("files", { ...keepOne, SSL_CERT_FILE: tls.wrongCaFile });
      const s = expectFailure("files", r, lastSuccess);
      expect(s.detail).toMatch(
        new RegExp(
          `ERROR: ${esc(`cannot open restic repository ${c.env.RESTIC_REPOSITORY}: Fatal: unable to open config file: Stat: Head "https://localhost:${s3.port}/${BUCKET}/xiopro/restic/config": x509: certificate signed by unknown authority`)}$`,
        ),
      );
      expect(r.stderr).not.toContain("initialising restic repository");
      expect(objects(RESTIC)).toEqual(before);
      expect(snapshots("files").length).toBe(2);

      // The same job trusting the CA prunes to one: the count above is the absence of forget.
      expectSuccess("files", job("files", keepOne));
      expect(snapshots("files").length).toBe(1);
    });

    it("pgbackrest-full that does not trust the server's CA fails with pgBackRest's certificate error and changes nothing in the bucket", () => {
      const before = objects(`${PGBR}backup/`);
      const lastSuccess = state("pgbackrest-full").lastSuccess;
      // pgBackRest retries a failed TLS handshake until io-timeout (60 s by default): shortened here.
      const r = job("pgbackrest-full", {
        PGBACKREST_REPO1_STORAGE_CA_FILE: tls.wrongCaFile,
        PGBACKREST_IO_TIMEOUT: "5",
      });
      const s = expectFailure("pgbackrest-full", r, lastSuccess);
      expect(s.detail).toMatch(
        new RegExp(
          `^ERROR: \\[095\\]: unable to load info file '/xiopro/pgbackrest/backup/xiopro/backup\\.info' .*: ${esc(`CryptoError: unable to verify certificate presented by 'localhost:${s3.port}': [20] unable to get local issuer certificate`)}`,
        ),
      );
      expect(objects(`${PGBR}backup/`)).toEqual(before);
      expect(backups().length).toBe(1);
    });

    it("the server refuses what is not signed with the delivered secret key for the configured region, and the jobs fail on it", () => {
      const lastSuccess = state("pgdump").lastSuccess;
      const snaps = snapshots("pgdump").length;
      const wrongKey = job("pgdump", {
        CREDENTIALS_DIRECTORY: credsWith("creds-wrong-s3", { "repo-s3-secret-key": "not-the-secret-key" }),
      });
      expect(expectFailure("pgdump", wrongKey, lastSuccess).detail).toMatch(
        new RegExp(
          `ERROR: ${esc(`cannot open restic repository ${c.env.RESTIC_REPOSITORY}: Fatal: unable to open config file: Stat: Access Denied.`)}$`,
        ),
      );
      expect(wrongKey.stderr).not.toContain("initialising restic repository");
      const wrongRegion = job("pgdump", { AWS_DEFAULT_REGION: "us-east-1" });
      expect(expectFailure("pgdump", wrongRegion, lastSuccess).detail).toContain(
        "Fatal: unable to open config file: Stat: Access Denied.",
      );
      expect(snapshots("pgdump").length).toBe(snaps);
      const check = job("pgbackrest-check", { PGBACKREST_REPO1_S3_REGION: "us-east-1" });
      expect(expectFailure("pgbackrest-check", check, state("pgbackrest-check").lastSuccess).detail).toMatch(
        /^ERROR: \[\d+\]: .*HTTP request failed with 403 \(Forbidden\)/,
      );
      expect(s3.log().filter((l) => / 403$/.test(l)).length).toBeGreaterThanOrEqual(3);
    });

    it("rebuild's preflight reads the newest backup and files snapshot from the bucket with the stack's rendered settings and secrets", async () => {
      const saved = {
        PGBACKREST_REPO1_STORAGE_CA_FILE: process.env.PGBACKREST_REPO1_STORAGE_CA_FILE,
        SSL_CERT_FILE: process.env.SSL_CERT_FILE,
      };
      // The operator's machine trusts the endpoint's CA (here the test CA; Hetzner's is public).
      Object.assign(process.env, { PGBACKREST_REPO1_STORAGE_CA_FILE: tls.caFile, SSL_CERT_FILE: tls.caFile });
      try {
        const read = await readRepository(c.plan, TEST_SECRETS);
        expect(read.problems).toEqual([]);
        expect(read.backups.map((b) => [b.tool, b.id])).toEqual([
          ["pgbackrest", backups().at(-1)!.label],
          ["restic", snapshots("files").at(-1)!.short_id],
        ]);
        const wrong = await readRepository(c.plan, { ...TEST_SECRETS, backupS3SecretKey: "not-the-secret-key" });
        expect(wrong.backups).toEqual([]);
        expect(wrong.problems.length, wrong.problems.join("\n")).toBe(2);
        expect(wrong.problems[0]).toMatch(
          /^the pgBackRest repository is not usable: \[ProtocolError\] HTTP request failed with 403 \(Forbidden\):\n[\s\S]*<Code>SignatureDoesNotMatch<\/Code>/,
        );
        expect(wrong.problems[1]).toBe(
          `cannot read the restic repository ${c.env.RESTIC_REPOSITORY}: Fatal: unable to open config file: Stat: Access Denied.`,
        );
      } finally {
        for (const [k, v] of Object.entries(saved))
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
      }
    });

    it("xiopro-restore restores to a point in time from the bucket (the commit before the target is there, the one after it not) and the files from restic", () => {
      const target = c.marksAroundTarget();
      // Switches WAL and waits until the segment with both rows is in the bucket (inspection).
      c.ok("pgbackrest", ["--stanza=xiopro", "check"], repoSecrets);
      fs.rmSync(c.dir("files/data/app.db"));
      const requestsBefore = s3.log().length;
      const r = c.asPostgres(
        c.script("xiopro-restore"),
        ["--target-time", target, "--force", "--no-backup", "--files"],
        { XIOPRO_PG_CONTROL: "pg_ctl", XIOPRO_PG_DATA: c.dir("data"), XIOPRO_RESTORE_SKIP_PATHS: c.dir("files/etc") },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^restore pass: backup set ${backups()[0]!.label}, target ${esc(target)}, \\d+\\.\\d{3} s$`, "m"),
      );
      expect(c.sql("xiopro", "SELECT string_agg(phase, ',') FROM marks")).toBe("before");
      expect(c.sql("xiopro", "SELECT count(*) FROM orders")).toBe("5000");
      expect(fs.readFileSync(c.dir("files/data/app.db"), "utf8")).toBe("artifact v1\n");
      // The backup set and the WAL came from the bucket: the restore_command fetched segments.
      const during = s3.log().slice(requestsBefore);
      expect(
        during.some((l) => new RegExp(`^GET /${BUCKET}/${PGBR}backup/xiopro/\\d{8}-\\d{6}F/pg_data/\\S+ 200$`).test(l)),
      ).toBe(true);
      expect(
        during.some((l) =>
          new RegExp(
            `^GET /${BUCKET}/${PGBR}archive/xiopro/\\d+-1/[0-9A-F]{16}/[0-9A-F]{24}-[0-9a-f]{40}\\.zst 200$`,
          ).test(l),
        ),
      ).toBe(true);
      expect(during.some((l) => new RegExp(`^GET /${BUCKET}/${RESTIC}data/`).test(l))).toBe(true);
    });
  },
);
