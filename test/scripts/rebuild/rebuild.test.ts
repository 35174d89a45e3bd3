// The disaster rebuild: its pure decisions (step order, backup-age and target verdicts, tailnet device
// matching, the restore invocation, the timing breakdown), and the CLI end to end with fake pulumi,
// ssh and npm on PATH and the Hetzner and Tailscale APIs on a local HTTP server. The preflight against
// a real pgBackRest/restic repository is in restore.test.ts, where one exists.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  parseRestoreTimings,
  pulumiUpArgs,
  rebuildSteps,
  restoreCommand,
  shellQuote,
  staleTailscaleDevices,
  targetVerdict,
  bootImageVerdict,
} from "../../../scripts/rebuild/steps.js";
import { backupAgeBoundHours, backupAgeVerdict, chooseRepository } from "../../../scripts/lib/backups.js";
import { formatTimings } from "../../../scripts/lib/timings.js";
import { bakeSetFor } from "../../../infra/plan/bake.js";
import { makeFakes, runCli, type Fakes } from "../../support/fakes.js";
import { planOf, stackObject, TEST_SECRETS } from "../../support/helpers.js";

const NOW = 1_800_000_000;
const tstPlan = planOf("tst");
const tstSet = bakeSetFor(tstPlan, tstPlan.nodes[0]!);
const opts = { stack: "prd", dryRun: false, force: false };

describe("rebuild decisions", () => {
  it("orders the steps preflight, tailnet cleanup, pulumi up, cloud-init, restore, accept", () => {
    const steps = rebuildSteps(opts, planOf("prd"), true);
    expect(steps.map((s) => s.id)).toEqual(["preflight", "tailscale", "pulumi-up", "cloud-init", "restore", "accept"]);
    expect(steps.filter((s) => s.skip)).toEqual([]);
    expect(steps.find((s) => s.id === "pulumi-up")!.command).toBe("pulumi up --yes --refresh --stack prd");
    expect(steps.find((s) => s.id === "restore")!.command).toBe(
      "ssh prd-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files",
    );
    expect(steps.find((s) => s.id === "accept")!.command).toBe("npm run accept -- --stack prd");
  });

  it("skips the tailnet cleanup with the reason when the admin path is allowlist or no API key is set", () => {
    const allow = planOf("prd", (c) => (c.adminPath = { mode: "allowlist", sshAllowlist: ["198.51.100.7/32"] }));
    expect(rebuildSteps(opts, allow, true).find((s) => s.id === "tailscale")!.skip).toBe(
      "the admin path is allowlist: no tailnet devices to remove",
    );
    expect(rebuildSteps(opts, planOf("prd"), false).find((s) => s.id === "tailscale")!.skip).toBe(
      "TAILSCALE_API_KEY is not set: remove the old machines in the Tailscale admin console",
    );
  });

  it("passes a point in time and another location through to the node and to pulumi", () => {
    const steps = rebuildSteps(
      { ...opts, targetTime: "2026-11-22 14:30:00+00", location: "nbg1" },
      planOf("prd"),
      true,
    );
    expect(steps.find((s) => s.id === "restore")!.command).toBe(
      "ssh prd-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files --target-time '2026-11-22 14:30:00+00'",
    );
    expect(pulumiUpArgs({ stack: "prd", location: "nbg1" })).toEqual([
      "up",
      "--yes",
      "--refresh",
      "--stack",
      "prd",
      "--config",
      "location=nbg1",
    ]);
    expect(restoreCommand()).toBe("sudo /usr/local/lib/xiopro/xiopro-restore --files");
  });

  it("restores from the repository the preflight chose, and says so in the step", () => {
    expect(restoreCommand("2026-11-22 14:30:00+00", undefined, 2)).toBe(
      "sudo /usr/local/lib/xiopro/xiopro-restore --files --repo 2 --target-time '2026-11-22 14:30:00+00'",
    );
    const restore = rebuildSteps(opts, planOf("prd"), true, 2).find((s) => s.id === "restore")!;
    expect(restore.title).toBe(
      "restore PostgreSQL (newest state) and files on prd-node-a from repository 2 (off-site)",
    );
    expect(restore.command).toBe("ssh prd-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files --repo 2");
  });

  it("quotes for the remote shell so a value cannot inject a command", () => {
    expect(shellQuote("it's; rm -rf /")).toBe(`'it'\\''s; rm -rf /'`);
    expect(shellQuote("/usr/local/lib/x")).toBe("/usr/local/lib/x");
  });

  it("judges backup age against the job table's bounds", () => {
    expect(backupAgeBoundHours("pgbackrest")).toBe(26);
    expect(backupAgeBoundHours("restic")).toBe(26);
    expect(backupAgeVerdict({ tool: "pgbackrest", id: "20261122-013000F", endedAt: NOW - 3 * 3600 }, NOW)).toEqual({
      ok: true,
      message: "newest pgBackRest backup 20261122-013000F is 3.0 h old (bound 26 h)",
    });
    expect(backupAgeVerdict({ tool: "restic", id: "ab12cd34", endedAt: NOW - 27 * 3600 }, NOW)).toEqual({
      ok: false,
      message:
        "newest restic files snapshot ab12cd34 is 27.0 h old, older than the bound of 26 h: restoring it loses more than a day",
    });
    expect(backupAgeVerdict({ tool: "pgbackrest" }, NOW)).toEqual({
      ok: false,
      message: "the repository holds no pgBackRest backup",
    });
  });

  describe("the repository to restore from", () => {
    const pg = (id: string, hoursAgo: number) => ({ tool: "pgbackrest" as const, id, endedAt: NOW - hoursAgo * 3600 });
    const files = (id: string, hoursAgo: number) => ({ tool: "restic" as const, id, endedAt: NOW - hoursAgo * 3600 });
    const fine = (repo: number, pgHours: number, filesHours = 2) => ({
      repo,
      backups: [pg(`2026112${repo}-013000F`, pgHours), files(`ab12cd3${repo}`, filesHours)],
      problems: [],
    });
    const down = (repo: number, why: string) => ({ repo, backups: [], problems: [why] });

    it("takes the other repository when one is unreadable, naming it and why, as a warning", () => {
      expect(
        chooseRepository(
          [
            down(1, "cannot read the pgBackRest repository: ERROR: [039]: HTTP request failed with 403 (Forbidden)"),
            fine(2, 3.2),
          ],
          true,
          NOW,
        ),
      ).toEqual({
        repo: 2,
        ok: true,
        warn: true,
        message:
          "restoring from repository 2 (off-site): newest pgBackRest backup 20261122-013000F is 3.2 h old (bound 26 h), newest restic files snapshot ab12cd32 is 2.0 h old (bound 26 h); " +
          "repository 1 (Hetzner) unreadable: cannot read the pgBackRest repository: ERROR: [039]: HTTP request failed with 403 (Forbidden)",
      });
      // And the other way round: the off-site repository down does not stop a rebuild from Hetzner's.
      expect(
        chooseRepository([fine(1, 3), down(2, "cannot read the restic repository s3:x: Fatal: no route")], true, NOW),
      ).toMatchObject({ repo: 1, ok: true, warn: true });
    });

    it("fails when no repository can be read, naming each and why", () => {
      expect(chooseRepository([down(1, "why one"), down(2, "why two")], true, NOW)).toEqual({
        ok: false,
        warn: false,
        message:
          "no repository is usable: repository 1 (Hetzner) unreadable: why one; repository 2 (off-site) unreadable: why two",
      });
    });

    it("prefers a fresh repository over a newer one whose files snapshot is stale", () => {
      const c = chooseRepository([fine(1, 5), fine(2, 1, 30)], true, NOW);
      expect(c).toMatchObject({ repo: 1, ok: true, warn: true });
      expect(c.message).toBe(
        "restoring from repository 1 (Hetzner): newest pgBackRest backup 20261121-013000F is 5.0 h old (bound 26 h), newest restic files snapshot ab12cd31 is 2.0 h old (bound 26 h); " +
          "repository 2 (off-site) stale: newest pgBackRest backup 20261122-013000F is 1.0 h old (bound 26 h), newest restic files snapshot ab12cd32 is 30.0 h old, older than the bound of 26 h: restoring it loses more than a day",
      );
    });

    it("takes the newer pgBackRest backup when both are fresh, repository 1 on a tie, with no warning", () => {
      expect(chooseRepository([fine(1, 5), fine(2, 3)], true, NOW)).toMatchObject({ repo: 2, ok: true, warn: false });
      expect(chooseRepository([fine(1, 3), fine(2, 3)], true, NOW)).toMatchObject({ repo: 1, ok: true, warn: false });
    });

    it("fails with the newest usable one when every repository is stale (--force restores from it)", () => {
      const c = chooseRepository([fine(1, 40), fine(2, 30)], true, NOW);
      expect(c).toMatchObject({ repo: 2, ok: false, warn: false });
      expect(c.message).toMatch(
        /^no repository holds fresh backups; the newest usable is repository 2 \(off-site\): newest pgBackRest backup 20261122-013000F is 30\.0 h old, older than the bound of 26 h/,
      );
      expect(c.message).toContain(
        "; repository 1 (Hetzner) stale: newest pgBackRest backup 20261121-013000F is 40.0 h old",
      );
    });

    it("does not use a repository without a pgBackRest backup when the node runs PostgreSQL; without PostgreSQL restic decides", () => {
      const empty = { repo: 2, backups: [{ tool: "pgbackrest" as const }, files("ab12cd32", 1)], problems: [] };
      expect(chooseRepository([fine(1, 3), empty], true, NOW)).toMatchObject({ repo: 1, ok: true, warn: true });
      expect(chooseRepository([empty], true, NOW)).toEqual({
        ok: false,
        warn: false,
        message: "no repository is usable: repository 2 (off-site) not usable: it holds no pgBackRest backup",
      });
      const filesOnly = (repo: number, h: number) => ({ repo, backups: [files(`ab12cd3${repo}`, h)], problems: [] });
      expect(chooseRepository([filesOnly(1, 5), filesOnly(2, 1)], false, NOW)).toMatchObject({ repo: 2, ok: true });
    });
  });

  it("boots a baked node from its newest snapshot, refuses one without, and points a stock node at a snapshot of its set", () => {
    const n = planOf("prd").nodes[0]!;
    const set = { hash: "0123456789abcdef", selector: "xiopro-bake=0123456789abcdef", packages: ["a", "b"] };
    const snaps = [
      { id: 5, created: "2026-11-01T00:00:00Z", status: "available" },
      { id: 6, created: "2026-11-20T00:00:00Z", status: "available" },
      { id: 7, created: "2026-11-25T00:00:00Z", status: "creating" },
    ];
    expect(bootImageVerdict({ ...n, baked: true }, set, snaps, "prd")).toEqual({
      ok: true,
      warn: false,
      message: "snapshot 6 of 2026-11-20T00:00:00Z (xiopro-bake=0123456789abcdef): first boot installs no package",
    });
    expect(bootImageVerdict({ ...n, baked: true }, set, snaps.slice(2), "prd")).toEqual({
      ok: false,
      warn: false,
      message:
        "baked: true, but no snapshot carries xiopro-bake=0123456789abcdef: npm run bake -- --stack prd --node nodeA, or set baked: false",
    });
    expect(bootImageVerdict({ ...n, baked: false }, set, snaps, "prd")).toEqual({
      ok: true,
      warn: true,
      message:
        "stock debian-13: first boot installs 2 packages; snapshot 6 of 2026-11-20T00:00:00Z holds them, and baked: true would boot it (docs/bake.md)",
    });
    expect(bootImageVerdict({ ...n, baked: false }, set, [], "prd").warn).toBe(false);
  });

  it("calls the target free only when no server of the stack's names exists", () => {
    expect(targetVerdict([], ["prd-node-a"])).toEqual({ ok: true, message: "no server named prd-node-a exists" });
    expect(targetVerdict([{ id: 1, name: "prd-node-a", status: "off" }], ["prd-node-a"])).toEqual({
      ok: false,
      message:
        "prd-node-a exists (off): a rebuild restores over a lost node; for a live one follow docs/runbooks/phoenix.md",
    });
  });

  it("matches tailnet devices by the node's name and its numbered variants only", () => {
    const d = (id: string, name: string, hostname = name.split(".")[0]!) => ({
      id,
      name: `${name}.tail1234.ts.net`,
      hostname,
    });
    const devices = [
      d("1", "prd-node-a"),
      d("2", "prd-node-a-1"),
      d("3", "prd-node-ab"),
      d("4", "tst-node-a"),
      d("5", "laptop", "prd-node-a"),
      d("6", "prd-node-a-x"),
    ];
    expect(staleTailscaleDevices(devices, ["prd-node-a"]).map((x) => x.id)).toEqual(["1", "2", "5"]);
    expect(staleTailscaleDevices(devices, ["prd.node"]).map((x) => x.id)).toEqual([]);
  });

  it("reads xiopro-restore's step timings and prints the breakdown with the total as the RTO", () => {
    const parts = parseRestoreTimings(
      "rows public.orders 5\nstep repository      0.210 s\nstep restore         61.500 s\nrestore pass: …\n",
    );
    expect(parts).toEqual({ repository: 0.21, restore: 61.5 });
    const text = formatTimings("prd", [
      { id: "preflight", title: "", status: "ok", seconds: 2.5, detail: "" },
      { id: "pulumi-up", title: "", status: "ok", seconds: 300, detail: "" },
      { id: "restore", title: "", status: "ok", seconds: 62, detail: "", parts },
    ]);
    expect(text).toBe(
      [
        "Timing (stack prd):",
        "  preflight       2.5 s  ok",
        "  pulumi-up     300.0 s  ok",
        "  restore        62.0 s  ok  (repository 0.2, restore 61.5)",
        "  total         364.5 s  RTO 6 min 5 s",
      ].join("\n"),
    );
  });
});

describe("npm run rebuild end to end with fake pulumi, ssh, npm and APIs", () => {
  let f: Fakes;
  let stackFile = "";

  /** tst's config with every secret set (as `pulumi config set --secret` leaves it in the file). */
  function writeStack(edit?: (c: Record<string, unknown>) => void): string {
    const c = structuredClone(stackObject("tst")) as Record<string, unknown>;
    edit?.(c);
    const config = Object.fromEntries(Object.entries(c).map(([k, v]) => [`xiopro-infra:${k}`, v]));
    for (const k of Object.keys(TEST_SECRETS))
      config[`xiopro-infra:${k}`] = { secure: "v1:AAAAAAAAAAAAAAAA:fakeciphertext" };
    const file = path.join(f.dir, "Pulumi.tst.yaml");
    fs.writeFileSync(file, stringify({ config }));
    return file;
  }

  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli("scripts/rebuild/cli.ts", ["--stack", "tst", "--stack-file", stackFile, ...args], {
      PATH: f.path(),
      SHIM_LOG: path.join(f.dir, "shim.log"),
      FAKE_DIR: f.dir,
      XIOPRO_HCLOUD_API: `${f.http.url}/v1`,
      XIOPRO_TAILSCALE_API: f.http.url,
      HCLOUD_TOKEN: "test-hcloud-token",
      TAILSCALE_API_KEY: "tskey-api-test",
      ...env,
    });

  beforeAll(async () => {
    f = await makeFakes();
    fs.writeFileSync(
      path.join(f.dir, "pulumi-config.json"),
      JSON.stringify(
        Object.fromEntries(
          Object.entries(TEST_SECRETS).map(([k, v]) => [`xiopro-infra:${k}`, { value: v, secret: true }]),
        ),
      ),
    );
    stackFile = writeStack();
  });
  afterAll(() => f?.close());

  /** The fake API's server types as the fixture has them, before any test edits them. */
  let pristineTypes: unknown[] | undefined;
  const reset = () => {
    fs.writeFileSync(path.join(f.dir, "shim.log"), "");
    fs.rmSync(path.join(f.dir, "up-done"), { force: true });
    f.http.requests.length = 0;
    f.http.servers = [];
    pristineTypes ??= structuredClone(f.http.serverTypes);
    f.http.serverTypes = structuredClone(pristineTypes);
    f.http.devices = [
      { id: "11", name: "tst-node-a.tail1234.ts.net", hostname: "tst-node-a", lastSeen: "2026-11-20T10:00:00Z" },
      { id: "12", name: "tst-node-a-1.tail1234.ts.net", hostname: "tst-node-a", lastSeen: "2026-11-19T10:00:00Z" },
      { id: "13", name: "mac-studio.tail1234.ts.net", hostname: "mac-studio", lastSeen: "2026-11-22T10:00:00Z" },
    ];
  };

  it("--dry-run without pgbackrest and restic says the backup age cannot be checked, changes nothing and exits 1", async () => {
    reset();
    const r = await cli(["--dry-run"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      "FAIL newest backup age: cannot check the newest backup age: pgbackrest is not installed on this machine (install pgbackrest and restic, or pass --force to rebuild without this check)",
    );
    expect(r.stderr).toContain(
      "FAIL newest backup age: cannot check the newest backup age: restic is not installed on this machine",
    );
    expect(r.stderr).toContain("ok   target free: no server named tst-node-a exists");
    expect(r.stderr).toContain(
      "ok   config and secrets: Pulumi.tst.yaml is valid and every secret the stack needs is set",
    );
    // The state is there (pulumi stack export); whether it is backed up needs restic too.
    expect(r.stderr).toMatch(/ok {3}pulumi state: 23 resources, updated \d{4}-\d\d-\d\dT/);
    expect(r.stderr).toContain(
      "FAIL pulumi state backup: cannot read the state's backups: restic is not installed on this machine (apt-get install restic)",
    );
    expect(r.stdout).toContain("Dry run of the rebuild of tst: preflight failed; the steps:");
    expect(r.stdout).toContain("3. pulumi up (stack tst)\n       pulumi up --yes --refresh --stack tst");
    expect(r.stdout).toContain(
      "5. restore PostgreSQL (newest state) and files on tst-node-a\n       ssh tst-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files",
    );
    expect(f.log()).toEqual([
      "pulumi config --show-secrets --json --stack tst",
      "pulumi stack export --stack tst",
      "http GET /v1/servers?name=tst-node-a bearer",
      `http GET /v1/images?type=snapshot&label_selector=${encodeURIComponent(tstSet.selector)}&per_page=50&page=1 bearer`,
      "http GET /v1/server_types?per_page=50&page=1 bearer",
    ]);
    expect(r.stderr).toContain(
      `ok   boot image (tst-node-a): stock debian-13: first boot installs ${tstSet.packages.length} packages\n`,
    );
  });

  it("refuses a server type the live API no longer sells in the node's location, and warns of one on its way out", async () => {
    reset();
    const cpx22 = (f.http.serverTypes as { name: string; locations: { name: string; deprecation: unknown }[] }[]).find(
      (t) => t.name === "cpx22",
    )!;
    const fsn1 = cpx22.locations.find((l) => l.name === "fsn1")!;
    fsn1.deprecation = { announced: "2026-01-05T00:00:00Z", unavailable_after: "2026-04-01T00:00:00Z" };
    const gone = await cli(["--dry-run"]);
    expect(gone.stderr).toContain(
      "FAIL server type orderable (tst-node-a): cpx22 could be ordered in fsn1 until 2026-04-01 (deprecated 2026-01-05): change the node's serverType",
    );
    fsn1.deprecation = { announced: "2026-01-05T00:00:00Z", unavailable_after: "2099-04-01T00:00:00Z" };
    const soon = await cli(["--dry-run"]);
    expect(soon.stderr).toContain(
      "ok   server type orderable (tst-node-a): cpx22 can still be ordered in fsn1, until 2099-04-01 (deprecated 2026-01-05): plan the move to a current type",
    );
    cpx22.locations = cpx22.locations.filter((l) => l.name !== "fsn1");
    const absent = await cli(["--dry-run"]);
    expect(absent.stderr).toContain(
      "FAIL server type orderable (tst-node-a): cpx22 is not offered in fsn1 (offered in hel1, nbg1, sin)",
    );
    reset();
  });

  it("names every missing secret and a live server in one preflight, and never runs pulumi up", async () => {
    reset();
    f.http.servers = [{ name: "tst-node-a", status: "running" }];
    stackFile = writeStack();
    const text = fs.readFileSync(stackFile, "utf8").replace(/ {2}xiopro-infra:resticPassword:\n {4}secure: .*\n/, "");
    fs.writeFileSync(stackFile, text);
    const r = await cli([]);
    stackFile = writeStack();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'FAIL config and secrets: Stack config "tst" has 1 problem; nothing was declared or changed:',
    );
    expect(r.stderr).toContain("xiopro-infra:resticPassword: is not set, but it is needed: restic repository password");
    expect(r.stderr).toContain(
      "FAIL target free: tst-node-a exists (running): a rebuild restores over a lost node; for a live one follow docs/runbooks/phoenix.md",
    );
    expect(r.stderr).toContain(
      "preflight failed: nothing was changed (fix the problems above, or pass --force to override them)",
    );
    expect(f.log().filter((l) => / up |DELETE|ssh /.test(l))).toEqual([]);
  });

  it("runs every step with --force: stale devices removed before pulumi up, restore and accept over the admin path, timings as JSON", async () => {
    reset();
    const r = await cli(["--force", "--json", "--target-time", "2026-11-22 14:30:00+00"]);
    expect(r.code, r.stderr).toBe(0);
    expect(f.log()).toEqual([
      "pulumi config --show-secrets --json --stack tst",
      "pulumi stack export --stack tst",
      "http GET /v1/servers?name=tst-node-a bearer",
      expect.stringMatching(
        /^http GET \/v1\/images\?type=snapshot&label_selector=xiopro-bake%3D[0-9a-f]{16}&per_page=50&page=1 bearer$/,
      ),
      "http GET /v1/server_types?per_page=50&page=1 bearer",
      "http GET /api/v2/tailnet/-/devices bearer",
      "http DELETE /api/v2/device/11 bearer",
      "http DELETE /api/v2/device/12 bearer",
      "pulumi up --yes --refresh --stack tst",
      "ssh ops@tst-node-a true",
      "ssh ops@tst-node-a test -e /var/lib/cloud/instance/boot-finished",
      "ssh ops@tst-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files --target-time '2026-11-22 14:30:00+00'",
      `npm run accept -- --stack-file ${stackFile}`,
    ]);
    expect(f.http.devices.map((d) => d.id)).toEqual(["13"]);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ stack: "tst", dryRun: false, forced: true, ok: true });
    expect(report.steps.map((s: any) => [s.id, s.status])).toEqual([
      ["preflight", "ok"],
      ["tailscale", "ok"],
      ["pulumi-up", "ok"],
      ["cloud-init", "ok"],
      ["restore", "ok"],
      ["accept", "ok"],
    ]);
    expect(report.steps[0].detail).toBe("3 check(s) failed, overridden by --force");
    expect(report.steps[1].detail).toBe(
      "removed tst-node-a.tail1234.ts.net (last seen 2026-11-20T10:00:00Z), tst-node-a-1.tail1234.ts.net (last seen 2026-11-19T10:00:00Z)",
    );
    expect(report.steps[4]).toMatchObject({
      parts: { repository: 0.21, restore: 1.5, start: 2.25 },
      detail: "restore pass: backup set 20261122-013000F, target latest, 4.100 s",
    });
    expect(report.totalSeconds).toBeCloseTo(
      report.steps.reduce((a: number, s: any) => a + s.seconds, 0),
      6,
    );
    expect(r.stderr).toMatch(/^\[3\/6\] pulumi up \(stack tst\)\n {6}ok in \d+\.\d s: Updating/m);
    // No secret value reaches the output.
    for (const v of Object.values(TEST_SECRETS)) expect(r.stdout + r.stderr).not.toContain(v.trim());
  });

  it("with a WAL receiver: stops it and copies its WAL before anything changes, keeps its live tailnet device, restores with it, then resumes it", async () => {
    reset();
    f.http.devices.push({
      id: "21",
      name: "tst-node-c.tail1234.ts.net",
      hostname: "tst-node-c",
      lastSeen: "2026-11-22T10:00:00Z",
    });
    stackFile = writeStack((c) => (c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] }));
    const r = await cli(["--force", "--json"]);
    stackFile = writeStack();
    expect(r.code, r.stderr).toBe(0);
    const fetch =
      "sudo systemctl stop xiopro-walreceiver.service && sudo sh -c 'cd /var/lib/xiopro-walreceiver/wal && find . -maxdepth 1 -type f \\( -name '\\''*.partial'\\'' -o -name '\\''*.history'\\'' -o -mmin -60 \\) -print0 | tar --null -T - -czf - | base64 -w0'";
    expect(f.log()).toEqual([
      "pulumi config --show-secrets --json --stack tst",
      "pulumi stack export --stack tst",
      "http GET /v1/servers?name=tst-node-a bearer",
      expect.stringMatching(
        /^http GET \/v1\/images\?type=snapshot&label_selector=xiopro-bake%3D[0-9a-f]{16}&per_page=50&page=1 bearer$/,
      ),
      "http GET /v1/server_types?per_page=50&page=1 bearer",
      "ssh ops@tst-node-c true",
      `ssh ops@tst-node-c ${fetch}`,
      "http GET /api/v2/tailnet/-/devices bearer",
      "http DELETE /api/v2/device/11 bearer",
      "http DELETE /api/v2/device/12 bearer",
      "pulumi up --yes --refresh --stack tst",
      "ssh ops@tst-node-a true",
      "ssh ops@tst-node-a test -e /var/lib/cloud/instance/boot-finished",
      "ssh ops@tst-node-c true",
      "ssh ops@tst-node-c test -e /var/lib/cloud/instance/boot-finished",
      "ssh ops@tst-node-a sudo sh -c 'rm -rf /var/lib/xiopro/received-wal && install -d -m 0700 /var/lib/xiopro/received-wal && base64 -d | tar -xzf - -C /var/lib/xiopro/received-wal'",
      "ssh ops@tst-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files --wal-dir /var/lib/xiopro/received-wal",
      "ssh ops@tst-node-c sudo /usr/local/lib/xiopro/xiopro-walreceiver rotate && sudo systemctl start xiopro-walreceiver.service",
      `npm run accept -- --stack-file ${stackFile}`,
    ]);
    expect(fs.readFileSync(path.join(f.dir, "uploaded-wal"), "utf8").trim()).toBe(
      "H4sIAAAAAAAAA+3BAQ0AAADCoPdPbQ43oAAAAAAAAAAAAIA3A5reHScAKAAA",
    );
    expect(f.http.devices.map((d) => d.id)).toEqual(["13", "21"]);
    const report = JSON.parse(r.stdout);
    expect(report.steps.map((s: any) => [s.id, s.status])).toEqual([
      ["preflight", "ok"],
      ["wal-fetch", "ok"],
      ["tailscale", "ok"],
      ["pulumi-up", "ok"],
      ["cloud-init", "ok"],
      ["restore", "ok"],
      ["wal-resume", "ok"],
      ["accept", "ok"],
    ]);
  });

  it("with a WAL receiver whose node is lost too: restores from the repository alone and says so", async () => {
    reset();
    stackFile = writeStack((c) => (c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] }));
    const r = await cli(["--force", "--json"], {
      FAKE_SSH_DOWN_HOST: "tst-node-c",
      XIOPRO_REBUILD_RECEIVER_WAIT_S: "1",
    });
    stackFile = writeStack();
    const report = JSON.parse(r.stdout);
    expect(report.steps[1]).toMatchObject({ id: "wal-fetch", status: "skipped" });
    expect(report.steps[1].detail).toMatch(
      /^tst-node-c does not answer \(SSH to tst-node-c:22 did not answer within 1 s\): the restore uses the repository alone/,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(f.log().filter((l) => l.includes("xiopro-restore"))).toEqual([
      "ssh ops@tst-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files",
    ]);
    expect(f.log().some((l) => l.includes("received-wal"))).toBe(false);
    // pulumi up recreated node C: its receiver starts on the restored database.
    expect(report.steps.map((s: any) => [s.id, s.status])).toEqual([
      ["preflight", "ok"],
      ["wal-fetch", "skipped"],
      ["tailscale", "ok"],
      ["pulumi-up", "ok"],
      ["cloud-init", "ok"],
      ["restore", "ok"],
      ["wal-resume", "ok"],
      ["accept", "ok"],
    ]);
  });

  it("stops at a failed pulumi up with its output and runs nothing after it", async () => {
    reset();
    const r = await cli(["--force"], {
      FAKE_UP_EXIT: "255",
      FAKE_UP_STDERR: "error: hcloud: server type cpx22 unavailable in fsn1",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /FAILED after \d+\.\d s: pulumi up exited 255:\n[^]*error: hcloud: server type cpx22 unavailable in fsn1/,
    );
    expect(r.stdout).toMatch(/^ {2}pulumi-up\s+\d+\.\d s {2}failed$/m);
    expect(f.log().some((l) => l.startsWith("ssh") || l.startsWith("npm"))).toBe(false);
  });

  it("treats a refusal of xiopro-restore (the volume survived with data) as nothing to restore and still runs accept", async () => {
    reset();
    const r = await cli(["--force"], { FAKE_RESTORE_EXIT: "3" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("skipped in");
    expect(r.stderr).toContain("the cluster on tst-node-a holds data (its volume survived): nothing was restored");
    expect(r.stdout).toMatch(/^ {2}restore\s+\d+\.\d s {2}skipped/m);
    expect(f.log().at(-1)).toBe(`npm run accept -- --stack-file ${stackFile}`);
  });

  it("fails when the node's restore fails, with its message, and runs no acceptance", async () => {
    reset();
    const r = await cli(["--force"], { FAKE_RESTORE_EXIT: "1" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "xiopro-restore on tst-node-a exited 1:\nERROR: restore failed: the pgBackRest repository is not usable",
    );
    expect(f.log().some((l) => l.startsWith("npm"))).toBe(false);
  });

  it("with the allowlist admin path skips the tailnet and reaches the node at its public IPv4 from the stack outputs", async () => {
    reset();
    stackFile = writeStack((c) => (c.adminPath = { mode: "allowlist", sshAllowlist: ["198.51.100.7/32"] }));
    fs.writeFileSync(
      path.join(f.dir, "pulumi-outputs.json"),
      JSON.stringify({ nodes: { nodeA: { publicIpv4: "203.0.113.50" } } }),
    );
    const r = await cli(["--force"], { TAILSCALE_API_KEY: "" });
    stackFile = writeStack();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("skipped: the admin path is allowlist: no tailnet devices to remove");
    expect(
      f
        .log()
        .filter((l) => l.startsWith("ssh"))
        .map((l) => l.split(" ")[1]),
    ).toEqual(["ops@203.0.113.50", "ops@203.0.113.50", "ops@203.0.113.50"]);
    expect(f.http.requests.some((q) => q.includes("tailnet"))).toBe(false);
  });

  describe("with an off-site repository 2 beside repository 1 (fake pgbackrest and restic)", () => {
    const OFFSITE = {
      kind: "s3",
      endpoint: "https://s3.eu-central-003.backblazeb2.com",
      region: "eu-central-003",
      bucket: "xiopro-tst-offsite",
      path: "/tst",
    };
    const REPO1 = "s3:https://fsn1.your-objectstorage.com/xiopro-tst-backups/tst/restic";
    const REPO2 = "s3:https://s3.eu-central-003.backblazeb2.com/xiopro-tst-offsite/tst/restic";
    const ago = (hours: number) => Math.floor(Date.now() / 1000 - hours * 3600);
    /** `pgbackrest --repo=N info --output=json` of a readable repository with one backup. */
    const info = (repo: number, label: string, hoursAgo: number) => [
      {
        name: "xiopro",
        cipher: "aes-256-cbc",
        status: { code: 0, message: "ok", lock: { backup: { held: false } } },
        repo: [{ key: repo, cipher: "aes-256-cbc", status: { code: 0, message: "ok" } }],
        backup: [
          {
            label,
            type: "full",
            timestamp: { start: ago(hoursAgo) - 600, stop: ago(hoursAgo) },
            database: { id: 1, "repo-key": repo },
          },
        ],
      },
    ];
    const snap = (id: string, hoursAgo: number, tag: string) => ({
      short_id: id,
      time: new Date(ago(hoursAgo) * 1000).toISOString(),
      tags: [tag],
    });
    const withBackupTools = () => ({ PATH: f.path([f.backup.bin]) });
    const HETZNER_403 = "ERROR: [039]: HTTP request failed with 403 (Forbidden)";
    const ACCESS_DENIED = "Fatal: unable to open config file: Stat: Access Denied.";

    it("with repository 1 unreadable (the Hetzner account lost): rebuilds from repository 2, says why, and restores with --repo 2", async () => {
      reset();
      stackFile = writeStack((c) => ((c.backup as Record<string, unknown>).offsite = OFFSITE));
      f.backup.pgbackrest(1, HETZNER_403);
      f.backup.restic(REPO1, ACCESS_DENIED);
      f.backup.pgbackrest(2, info(2, "20261201-013000F", 3));
      f.backup.restic(REPO2, {
        files: [snap("ab12cd34", 2, "files")],
        "pulumi-state": [snap("5e6f7a8b", 1, "pulumi-state")],
      });
      const r = await cli(["--json"], withBackupTools());
      stackFile = writeStack();
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(
        `WARN backup repository: restoring from repository 2 (off-site): newest pgBackRest backup 20261201-013000F is 3.0 h old (bound 26 h), newest restic files snapshot ab12cd34 is 2.0 h old (bound 26 h); repository 1 (Hetzner) unreadable: cannot read the pgBackRest repository: ${HETZNER_403}; cannot read the restic repository ${REPO1}: ${ACCESS_DENIED}`,
      );
      expect(r.stderr).toContain(
        "ok   newest backup age (pgbackrest): newest pgBackRest backup 20261201-013000F is 3.0 h old (bound 26 h)",
      );
      expect(r.stderr).toMatch(
        /WARN pulumi state backup: repository 2 \(off-site\): snapshot 5e6f7a8b \(\S+\) holds the state as of its last update, \S+; repository 1 \(Hetzner\): cannot read the restic repository s3:https:\/\/fsn1\.your-objectstorage\.com\/xiopro-tst-backups\/tst\/restic: Fatal: unable to open config file/,
      );
      expect(r.stderr).toContain(
        "[5/6] restore PostgreSQL (newest state) and files on tst-node-a from repository 2 (off-site)",
      );
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ ok: true, forced: false, repository: 2 });
      expect(report.steps[0].detail).toBe("all checks passed");
      // Each repository read on its own (pgBackRest with --repo=N), the node restores what was checked.
      const log = f.log();
      expect(log.filter((l) => /^(pgbackrest|restic) /.test(l)).sort()).toEqual([
        "pgbackrest --stanza=xiopro --repo=1 info --output=json",
        "pgbackrest --stanza=xiopro --repo=2 info --output=json",
        `restic snapshots --json --no-lock --tag pulumi-state,stack:tst @${REPO1}`,
        `restic snapshots --json --no-lock --tag pulumi-state,stack:tst @${REPO2}`,
        `restic snapshots --json --tag files --no-cache --no-lock @${REPO1}`,
        `restic snapshots --json --tag files --no-cache --no-lock @${REPO2}`,
      ]);
      expect(log.filter((l) => l.includes("xiopro-restore"))).toEqual([
        "ssh ops@tst-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files --repo 2",
      ]);
      // No secret on a command line or in the output.
      const shimLog = fs.readFileSync(path.join(f.dir, "shim.log"), "utf8");
      for (const v of Object.values(TEST_SECRETS)) expect(r.stdout + r.stderr + shimLog).not.toContain(v.trim());
    });

    it("with both repositories unreadable: fails naming each and why, and changes nothing", async () => {
      reset();
      stackFile = writeStack((c) => ((c.backup as Record<string, unknown>).offsite = OFFSITE));
      f.backup.pgbackrest(1, HETZNER_403);
      f.backup.restic(REPO1, ACCESS_DENIED);
      f.backup.pgbackrest(2, "ERROR: [104]: unable to connect to 's3.eu-central-003.backblazeb2.com': timeout");
      f.backup.restic(REPO2, "Fatal: unable to open repository: dial tcp: i/o timeout");
      const r = await cli([], withBackupTools());
      stackFile = writeStack();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `FAIL backup repository: no repository is usable: repository 1 (Hetzner) unreadable: cannot read the pgBackRest repository: ${HETZNER_403}; cannot read the restic repository ${REPO1}: ${ACCESS_DENIED}; ` +
          `repository 2 (off-site) unreadable: cannot read the pgBackRest repository: ERROR: [104]: unable to connect to 's3.eu-central-003.backblazeb2.com': timeout; cannot read the restic repository ${REPO2}: Fatal: unable to open repository: dial tcp: i/o timeout`,
      );
      expect(r.stderr).toContain(
        `FAIL pulumi state backup: repository 1 (Hetzner): cannot read the restic repository ${REPO1}: ${ACCESS_DENIED}; repository 2 (off-site): cannot read the restic repository ${REPO2}: Fatal: unable to open repository: dial tcp: i/o timeout: npm run state -- backup --stack tst`,
      );
      expect(r.stderr).not.toMatch(/(FAIL|ok {3}) newest backup age/);
      expect(r.stderr).toContain("preflight failed: nothing was changed");
      expect(f.log().filter((l) => / up |DELETE|ssh /.test(l))).toEqual([]);
    });

    it("with repository 2 stale (its backups stopped a day ago): plans the restore from repository 1 and warns of the other", async () => {
      reset();
      stackFile = writeStack((c) => ((c.backup as Record<string, unknown>).offsite = OFFSITE));
      f.backup.pgbackrest(1, info(1, "20261201-013000F", 4));
      f.backup.restic(REPO1, {
        files: [snap("1a2b3c4d", 3, "files")],
        "pulumi-state": [snap("9f8e7d6c", 1, "pulumi-state")],
      });
      f.backup.pgbackrest(2, info(2, "20261130-013000F", 30));
      f.backup.restic(REPO2, {
        files: [snap("ab12cd34", 29, "files")],
        "pulumi-state": [snap("5e6f7a8b", 1, "pulumi-state")],
      });
      const r = await cli(["--dry-run"], withBackupTools());
      stackFile = writeStack();
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(
        "WARN backup repository: restoring from repository 1 (Hetzner): newest pgBackRest backup 20261201-013000F is 4.0 h old (bound 26 h), newest restic files snapshot 1a2b3c4d is 3.0 h old (bound 26 h); " +
          "repository 2 (off-site) stale: newest pgBackRest backup 20261130-013000F is 30.0 h old, older than the bound of 26 h: restoring it loses more than a day, newest restic files snapshot ab12cd34 is 29.0 h old, older than the bound of 26 h: restoring it loses more than a day",
      );
      // Both repositories hold the state: no warning there.
      expect(r.stderr).toMatch(
        /ok {3}pulumi state backup: repository 1 \(Hetzner\): snapshot 9f8e7d6c .*; repository 2 \(off-site\): snapshot 5e6f7a8b /,
      );
      expect(r.stdout).toContain("Dry run of the rebuild of tst: preflight passed; the steps:");
      expect(r.stdout).toContain(
        "5. restore PostgreSQL (newest state) and files on tst-node-a from repository 1 (Hetzner)\n       ssh tst-node-a sudo /usr/local/lib/xiopro/xiopro-restore --files --repo 1",
      );
    });
  });

  it("rejects a malformed target time, an unknown location and unknown flags before anything runs", async () => {
    reset();
    for (const [args, msg] of [
      [
        ["--target-time", "yesterday"],
        `--target-time "yesterday" is not 'YYYY-MM-DD HH:MM:SS+00' (a time with its UTC offset)`,
      ],
      [["--location", "mars1"], `--location "mars1" is not a Hetzner location: use one of`],
      [["--bogus"], "Unknown option '--bogus'"],
    ] as const) {
      const r = await cli([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(msg);
    }
    expect(f.log()).toEqual([]);
  });
});
