// L3: the node's production restore (cloud-init/files/xiopro-restore) against a real PostgreSQL
// cluster, pgBackRest and restic: a rebuilt node's fresh cluster replaced by the backup, the refusal
// to overwrite data, point-in-time recovery, an empty data directory, and a repository that cannot
// be read or is corrupted. PostgreSQL is controlled with pg_ctl here (XIOPRO_PG_CONTROL=pg_ctl);
// on the node the same script stops and starts the cluster's systemd unit.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readRepository } from "../../scripts/lib/backups.js";
import { backupAgeVerdict } from "../../scripts/lib/backups.js";
import { stringify } from "yaml";
import { makeFakes, runCli } from "../support/fakes.js";
import { planOf, stackObject, TEST_SECRETS } from "../support/helpers.js";
import { PG_NEEDS, TestCluster, type Run } from "../../lab/pg-cluster.js";
import { describeWithTools } from "../support/tools.js";

interface RestoreResult {
  restoreDate: string;
  target: string;
  backupSet: string;
  backupAgeHours: number | null;
  forced: boolean;
  rows: Record<string, number>;
  filesSnapshot: string;
  result: string;
  failures: string[];
  steps: Record<string, number>;
  durationSeconds: number;
  executor: string;
}

describeWithTools("xiopro-restore against a real cluster", PG_NEEDS, () => {
  let c: TestCluster;
  const timings: string[] = [];
  const result = () => JSON.parse(fs.readFileSync(c.dir("state/restore-result.json"), "utf8")) as RestoreResult;
  const restore = (args: string[], extra: Record<string, string> = {}): Run => {
    const t0 = Date.now();
    const r = c.asPostgres(c.script("xiopro-restore"), args, {
      XIOPRO_PG_CONTROL: "pg_ctl",
      XIOPRO_PG_DATA: c.dir("data"),
      ...extra,
    });
    timings.push(
      `xiopro-restore ${args.join(" ")}: exit ${r.code}, ${((Date.now() - t0) / 1000).toFixed(1)} s wall; ${r.stdout
        .split("\n")
        .filter((l) => l.startsWith("step "))
        .map((l) => l.replace(/\s+/g, " ").replace("step ", ""))
        .join(", ")}`,
    );
    return r;
  };
  const backups = () =>
    (
      JSON.parse(
        c.ok("pgbackrest", ["--stanza=xiopro", "info", "--output=json"], {
          PGBACKREST_REPO1_CIPHER_PASS: TEST_SECRETS.pgbackrestCipherPass!,
        }),
      ) as { backup: { label: string; timestamp: { stop: number } }[] }[]
    )[0]!.backup;
  const orders = () => Number(c.sql("xiopro", "SELECT count(*) FROM orders"));
  /** pgbackrest check: switches WAL and waits until the segment is in the repository. */
  const archiveNow = () => {
    const t0 = Date.now();
    const r = c.asPostgres("pgbackrest", ["--stanza=xiopro", "check"], {
      PGBACKREST_REPO1_CIPHER_PASS: TEST_SECRETS.pgbackrestCipherPass!,
    });
    timings.push(`archive check: exit ${r.code}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.code, r.stderr).toBe(0);
  };

  beforeAll(async () => {
    c = new TestCluster("xiopro-restore-");
    await c.create();
    c.sql(
      "xiopro",
      "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, created_at timestamptz NOT NULL DEFAULT now()); " +
        "INSERT INTO orders SELECT g, md5(g::text), now() FROM generate_series(1, 5000) g",
    );
    fs.writeFileSync(c.dir("files/data/app.db"), "artifact v1\n");
    fs.writeFileSync(c.dir("files/etc/app.conf"), "rendered = yes\n");
    spawnSync("chown", ["-R", "postgres:postgres", c.dir("files")]);
    expect(c.job("pgbackrest-check", [c.script("xiopro-backup"), "pgbackrest-check"]).code).toBe(0);
    expect(c.job("pgbackrest-full", [c.script("xiopro-backup"), "pgbackrest-full"]).code).toBe(0);
    expect(c.job("files", [c.script("xiopro-backup"), "files"]).code).toBe(0);
  });

  afterAll(() => {
    if (timings.length) console.log(`restore timings on this machine:\n  ${timings.join("\n  ")}`);
    c?.destroy();
  });

  it("rebuild's preflight reads the newest backup and files snapshot from the real repository with the stack's rendered settings", async () => {
    const plan = planOf("tst", (x) => (x.backup.repository = { kind: "posix", path: c.dir("repo") }));
    const label = backups().at(-1)!.label;
    const read = await readRepository(plan, TEST_SECRETS);
    expect(read.problems).toEqual([]);
    expect(read.backups.map((b) => [b.tool, b.id])).toEqual([
      ["pgbackrest", label],
      ["restic", expect.stringMatching(/^[0-9a-f]{8}$/)],
    ]);
    const now = Math.floor(Date.now() / 1000);
    for (const b of read.backups) {
      expect(Math.abs(now - b.endedAt!)).toBeLessThan(600);
      expect(backupAgeVerdict(b, now).ok).toBe(true);
      // A day and more later the same backups are too old to rebuild from without --force.
      expect(backupAgeVerdict(b, now + 27 * 3600)).toMatchObject({
        ok: false,
        message: expect.stringContaining("older than the bound of 26 h"),
      });
    }
    const wrong = await readRepository(plan, {
      ...TEST_SECRETS,
      pgbackrestCipherPass: "not-the-pass",
      resticPassword: "not-the-password",
    });
    expect(wrong.backups).toEqual([]);
    expect(wrong.problems).toEqual([
      expect.stringMatching(/^(cannot read the pgBackRest repository|the pgBackRest repository is not usable): .+/),
      `cannot read the restic repository ${c.dir("repo/restic")}: Fatal: wrong password or no key found`,
    ]);

    // The CLI's dry run: every preflight check passes against this repository (real pgbackrest and
    // restic on PATH, fake pulumi and APIs), and nothing runs.
    const f = await makeFakes();
    try {
      const config: Record<string, unknown> = Object.fromEntries(
        Object.entries({ ...stackObject("tst"), backup: { repository: { kind: "posix", path: c.dir("repo") } } }).map(
          ([k, v]) => [`xiopro-infra:${k}`, v],
        ),
      );
      for (const k of Object.keys(TEST_SECRETS))
        config[`xiopro-infra:${k}`] = { secure: "v1:AAAAAAAAAAAAAAAA:fakeciphertext" };
      const stackFile = path.join(f.dir, "Pulumi.tst.yaml");
      fs.writeFileSync(stackFile, stringify({ config }));
      fs.writeFileSync(path.join(f.dir, "secrets.json"), JSON.stringify(TEST_SECRETS));
      const env = {
        PATH: f.path(["/usr/bin", "/bin"]),
        SHIM_LOG: path.join(f.dir, "shim.log"),
        FAKE_DIR: f.dir,
        XIOPRO_HCLOUD_API: `${f.http.url}/v1`,
        HCLOUD_TOKEN: "test-hcloud-token",
        TAILSCALE_API_KEY: "tskey-api-test",
      };
      // The deploy workflow's step after pulumi up: the state (the fake backend's) into this repository.
      const state = await runCli(
        "scripts/state/cli.ts",
        ["backup", "--stack", "tst", "--stack-file", stackFile, "--secrets-file", path.join(f.dir, "secrets.json")],
        env,
      );
      expect(state.code, state.stderr).toBe(0);
      // This test runs as root: the node's jobs (postgres) must still read what restic added.
      spawnSync("chown", ["-R", "postgres:postgres", c.dir("repo")]);
      expect(state.stdout).toMatch(/^state of tst \(23 resources, .* stored as snapshot [0-9a-f]{8}$/m);
      fs.writeFileSync(path.join(f.dir, "shim.log"), "");
      const r = await runCli(
        "scripts/rebuild/cli.ts",
        [
          "--stack",
          "tst",
          "--stack-file",
          stackFile,
          "--secrets-file",
          path.join(f.dir, "secrets.json"),
          "--dry-run",
          "--json",
        ],
        env,
      );
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.preflight.map((x: any) => [x.name, x.ok])).toEqual([
        ["config and secrets", true],
        ["newest backup age (pgbackrest)", true],
        ["newest backup age (restic)", true],
        ["pulumi state", true],
        ["pulumi state backup", true],
        ["target free", true],
        ["boot image (tst-node-a)", true],
        ["server type orderable (tst-node-a)", true],
      ]);
      expect(report.preflight[1].detail).toMatch(
        new RegExp(`^newest pgBackRest backup ${label} is 0\\.\\d h old \\(bound 26 h\\)$`),
      );
      expect(report.steps.slice(1).map((x: any) => x.status)).toEqual([
        "planned",
        "planned",
        "planned",
        "planned",
        "planned",
      ]);
      expect(f.log()).toEqual([
        "pulumi stack export --stack tst",
        "http GET /v1/servers?name=tst-node-a bearer",
        expect.stringMatching(
          /^http GET \/v1\/images\?type=snapshot&label_selector=xiopro-bake%3D[0-9a-f]{16}&per_page=50&page=1 bearer$/,
        ),
        "http GET /v1/server_types?per_page=50&page=1 bearer",
      ]);
    } finally {
      await f.close();
    }
  });

  it("replaces a rebuilt node's fresh cluster with the backup and every archived commit, restores the files and takes a new backup", () => {
    // Commits after the base backup live only in the archived WAL.
    c.sql("xiopro", "INSERT INTO orders SELECT g, md5(g::text), now() FROM generate_series(5001, 5200) g");
    archiveNow();
    const set = backups().at(-1)!.label;
    // Disaster: the server and its volume are gone. The new server's bootstrap creates a fresh
    // cluster (setup-postgresql), and the files are gone too.
    c.crash();
    fs.rmSync(c.dir("data"), { recursive: true, force: true });
    fs.rmSync(c.dir("files/data/app.db"));
    fs.rmSync(c.dir("files/etc/app.conf"));
    c.initData();
    expect(c.sql("xiopro", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).toBe("0");
    // The fresh cluster is not the one the repository holds: the archive check refuses it (the
    // first backup on a rebuilt node stops here instead of mixing clusters; xiopro-credentials).
    const check = c.job("pgbackrest-check", [c.script("xiopro-backup"), "pgbackrest-check"]);
    expect(check.code).not.toBe(0);
    expect(JSON.parse(fs.readFileSync(c.dir("state/pgbackrest-check.json"), "utf8")).detail).toContain(
      "do not match the database",
    );

    const r = restore(["--files"], { XIOPRO_RESTORE_SKIP_PATHS: c.dir("files/etc") });
    expect(r.stderr, r.stderr).toContain("holds no user tables (a fresh cluster): replacing it");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rows public\.orders\s+5200$/m);
    expect(r.stdout).toMatch(new RegExp(`^restore pass: backup set ${set}, target latest, \\d+\\.\\d{3} s$`, "m"));
    for (const s of ["repository", "inspect", "stop", "restore", "start", "verify", "files", "backup"])
      expect(r.stdout).toMatch(new RegExp(`^step ${s}\\s+\\d+\\.\\d{3} s$`, "m"));
    expect(orders()).toBe(5200);
    expect(c.sql("postgres", "SELECT pg_is_in_recovery()")).toBe("f");
    // The files come back into their paths; the rendered config is left as this node rendered it.
    expect(fs.readFileSync(c.dir("files/data/app.db"), "utf8")).toBe("artifact v1\n");
    expect(fs.existsSync(c.dir("files/etc/app.conf"))).toBe(false);
    const s = result();
    expect(s).toMatchObject({
      target: "latest",
      backupSet: set,
      backupAgeHours: 0,
      forced: false,
      rows: { "public.orders": 5200 },
      result: "pass",
      failures: [],
    });
    expect(s.filesSnapshot).toMatch(/^[0-9a-f]{8}$/);
    expect(Object.keys(s.steps)).toEqual([
      "repository",
      "inspect",
      "stop",
      "restore",
      "start",
      "verify",
      "files",
      "backup",
    ]);
    expect(s.durationSeconds).toBeGreaterThanOrEqual(Object.values(s.steps).reduce((a, b) => a + b, 0) - 0.01);
    // The restored cluster archives again (new timeline) and has its own full backup.
    expect(Number(c.sql("postgres", "SELECT timeline_id FROM pg_control_checkpoint()"))).toBeGreaterThanOrEqual(2);
    expect(backups().length).toBe(2);
  });

  it("refuses to overwrite a cluster that holds data without --force, and changes nothing", () => {
    const before = backups().length;
    const r = restore([]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /restore refused: .*holds data \(\d+ user tables\)\. Nothing was changed\. To replace it with the backup, run again with --force\./,
    );
    expect(orders()).toBe(5200);
    expect(backups().length).toBe(before);
    expect(result()).toMatchObject({ result: "refused", forced: false });
    expect(result().failures[0]).toMatch(
      /^refused: .* run again with --force to replace it with backup set \d{8}-\d{6}F/,
    );
  });

  it("restores to a point in time with --force: the commit before the target is there, the one after it is not", () => {
    const target = c.marksAroundTarget();
    archiveNow();
    const r = restore(["--target-time", target, "--force", "--no-backup"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("--force: replacing");
    expect(c.sql("xiopro", "SELECT string_agg(phase, ',') FROM marks")).toBe("before");
    expect(orders()).toBe(5200);
    expect(result()).toMatchObject({
      target,
      forced: true,
      result: "pass",
      rows: { "public.marks": 1, "public.orders": 5200 },
    });
    expect(Object.keys(result().steps)).toEqual(["repository", "inspect", "stop", "restore", "start", "verify"]);
  });

  it("restores into an empty data directory after a crash destroyed it", () => {
    c.sql("xiopro", "INSERT INTO orders VALUES (7001, 'after pitr')");
    archiveNow();
    c.crash();
    fs.rmSync(c.dir("data"), { recursive: true, force: true });
    const r = restore(["--no-backup"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rows public\.orders\s+5201$/m);
    expect(c.sql("xiopro", "SELECT customer FROM orders WHERE id = 7001")).toBe("after pitr");
  });

  it("--no-archive restores a copy that never archives into the repository it came from (the fresh-VM drill)", () => {
    const r = restore(["--force", "--no-archive"]);
    expect(r.code, r.stderr).toBe(0);
    expect(c.sql("postgres", "SHOW archive_mode")).toBe("off");
    const timeline = c.sql("postgres", "SELECT timeline_id FROM pg_control_checkpoint()");
    c.sql("xiopro", "SELECT pg_switch_wal()");
    const archive = fs.readdirSync(c.dir("repo/pgbackrest/archive/xiopro"), { recursive: true }).map(String);
    expect(
      archive.some((f) => f.includes(`${Number(timeline).toString(16).toUpperCase().padStart(8, "0")}.history`)),
    ).toBe(false);
    expect(Object.keys(result().steps)).toEqual(["repository", "inspect", "stop", "restore", "start", "verify"]);
    expect(orders()).toBe(5201);
  });

  it("rejects a malformed or future --target-time and an unknown option before touching anything", () => {
    for (const [args, msg] of [
      [
        ["--target-time", "yesterday"],
        "--target-time 'yesterday' is not 'YYYY-MM-DD HH:MM:SS+00' (a time with its UTC offset)",
      ],
      [["--target-time", "2026-11-22 14:30:00"], "is not 'YYYY-MM-DD HH:MM:SS+00'"],
      [["--target-time", "2999-01-01 00:00:00+00"], "is in the future"],
      [["--bogus"], "unknown option '--bogus'"],
    ] as const) {
      const r = restore([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(msg);
    }
    expect(orders()).toBe(5201);
  });

  it("fails with a clear message and a failed state when the repository cannot be read, leaving the cluster untouched", () => {
    fs.chmodSync(c.dir("repo/pgbackrest"), 0o000);
    let r: Run;
    try {
      r = restore(["--force"]);
    } finally {
      fs.chmodSync(c.dir("repo/pgbackrest"), 0o750);
    }
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /ERROR: restore failed: the pgBackRest repository is not usable: \[PathOpenError\] unable to list file info for path '.*\/repo\/pgbackrest\/backup': \[13\] Permission denied \(stanza xiopro\)$/m,
    );
    expect(result()).toMatchObject({ result: "fail", backupSet: "" });
    expect(Object.keys(result().steps)).toEqual([]);
    expect(orders()).toBe(5201);
    expect(c.sql("postgres", "SELECT pg_is_in_recovery()")).toBe("f");
  });

  it("fails with a clear message and a failed state against a corrupted backup", () => {
    const set = backups().at(-1)!.label;
    const files = fs
      .readdirSync(c.dir("repo/pgbackrest/backup/xiopro", set, "pg_data/base"), {
        recursive: true,
        withFileTypes: true,
      })
      .filter((e) => e.isFile());
    const victim = files
      .map((e) => path.join(e.parentPath, e.name))
      .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
    fs.truncateSync(victim, Math.floor(fs.statSync(victim).size / 2));
    c.crash();
    fs.rmSync(c.dir("data"), { recursive: true, force: true });
    const r = restore(["--no-backup"], { PGBACKREST_JOB_RETRY: "0" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `ERROR: restore failed: pgbackrest restore of ${set} failed: ERROR: \\[\\d+\\]: .*; .*/data is incomplete: do not start PostgreSQL on it; retry, or choose an older set with --set`,
      ),
    );
    expect(result()).toMatchObject({ result: "fail", backupSet: set });
    expect(Object.keys(result().steps)).toEqual(["repository", "inspect", "stop"]);
  });
});
