// npm run update: its pure decisions (what a plan changes, when a fresh backup goes first), and the
// CLI end to end with fake pulumi, ssh, npm, pgbackrest and restic on PATH (test/support/fakes.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { backupNeed, planChanges, updateSteps } from "../../../scripts/update/steps.js";
import { makeFakes, runCli, type Fakes } from "../../support/fakes.js";
import { planOf, stackObject, TEST_SECRETS } from "../../support/helpers.js";

const urn = (type: string, name: string, parent = "xiopro:infra:Node") =>
  `urn:pulumi:tst::xiopro-infra::xiopro:infra:Platform$${parent}$${type}::${name}`;
/** What `pulumi preview --json` prints: one step per resource. */
const preview = (steps: [string, string, string][]) =>
  JSON.stringify({
    steps: steps.map(([op, type, name]) => ({ op, urn: urn(type, name) })),
    changeSummary: { update: steps.length },
  });
const VOLUME_GROW = preview([
  ["same", "hcloud:index/server:Server", "xiopro-infra-tst-node-a"],
  ["update", "hcloud:index/volume:Volume", "xiopro-infra-tst-node-a-pgdata"],
  ["replace", "command:remote:Command", "xiopro-infra-tst-node-a-volumes-grow"],
  ["replace", "command:remote:Command", "xiopro-infra-tst-node-a-ops"],
]);
const OPS_ONLY = preview([["replace", "command:remote:Command", "xiopro-infra-tst-node-a-ops"]]);

describe("update decisions", () => {
  const plan = planOf("tst");

  it("reads the changes of a preview and of a saved plan, leaving out what changes nothing", () => {
    expect(planChanges(VOLUME_GROW)).toEqual([
      { op: "update", type: "hcloud:index/volume:Volume", name: "xiopro-infra-tst-node-a-pgdata" },
      { op: "replace", type: "command:remote:Command", name: "xiopro-infra-tst-node-a-volumes-grow" },
      { op: "replace", type: "command:remote:Command", name: "xiopro-infra-tst-node-a-ops" },
    ]);
    const saved = {
      resourcePlans: {
        [urn("hcloud:index/server:Server", "xiopro-infra-tst-node-a")]: {
          steps: ["delete-replaced", "create-replacement"],
        },
        [urn("hcloud:index/rdns:Rdns", "xiopro-infra-tst-node-a-ipv4-rdns")]: { steps: ["same"] },
      },
    };
    expect(planChanges(JSON.stringify(saved)).map((c) => `${c.op} ${c.name}`)).toEqual([
      "delete-replaced xiopro-infra-tst-node-a",
      "create-replacement xiopro-infra-tst-node-a",
    ]);
  });

  it("takes a fresh backup first when a change reaches the database node's data, and says which", () => {
    expect(backupNeed(plan, planChanges(VOLUME_GROW))).toEqual({
      node: plan.nodes.find((n) => n.key === "nodeA"),
      reasons: [
        "update hcloud:index/volume:Volume xiopro-infra-tst-node-a-pgdata",
        "replace command:remote:Command xiopro-infra-tst-node-a-volumes-grow",
      ],
    });
    // The operations bundle (rules, dashboards, tools) does not reach the data.
    expect(backupNeed(plan, planChanges(OPS_ONLY))).toBeUndefined();
    const steps = updateSteps({ stack: "tst", dryRun: false, force: false }, plan, undefined, "/tmp/p.json");
    expect(steps.map((s) => s.id)).toEqual(["preflight", "backup", "pulumi-up", "accept"]);
    expect(steps[1]!.skip).toBe("no change reaches the database node");
    expect(steps[2]!.command).toBe("pulumi up --yes --stack tst --plan /tmp/p.json");
  });
});

describe("npm run update (fake pulumi, ssh, npm and backup tools)", () => {
  let f: Fakes;
  let stackFile: string;
  const REPO1 = "s3:https://fsn1.your-objectstorage.com/xiopro-tst-backups/tst/restic";
  const ago = (hours: number) => Math.floor(Date.now() / 1000 - hours * 3600);

  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli("scripts/update/cli.ts", ["--stack", "tst", "--stack-file", stackFile, ...args], {
      PATH: f.path([f.backup.bin]),
      SHIM_LOG: path.join(f.dir, "shim.log"),
      FAKE_DIR: f.dir,
      ...env,
    });
  const reset = (previewJson: string) => {
    fs.writeFileSync(path.join(f.dir, "shim.log"), "");
    fs.writeFileSync(path.join(f.dir, "pulumi-preview.json"), previewJson);
    fs.writeFileSync(path.join(f.dir, "pulumi-plan.json"), '{"resourcePlans": {}}');
  };

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
    const config = Object.fromEntries(Object.entries(stackObject("tst")).map(([k, v]) => [`xiopro-infra:${k}`, v]));
    for (const k of Object.keys(TEST_SECRETS))
      config[`xiopro-infra:${k}`] = { secure: "v1:AAAAAAAAAAAAAAAA:fakeciphertext" };
    stackFile = path.join(f.dir, "Pulumi.tst.yaml");
    fs.writeFileSync(stackFile, stringify({ config }));
    // Fresh backups in repository 1.
    f.backup.pgbackrest(1, [
      {
        name: "xiopro",
        status: { code: 0, message: "ok" },
        repo: [{ key: 1, status: { code: 0, message: "ok" } }],
        backup: [{ label: "20261202-013000F", timestamp: { start: ago(3) - 600, stop: ago(3) } }],
      },
    ]);
    f.backup.restic(REPO1, { files: [{ short_id: "ab12cd34", time: new Date(ago(2) * 1000).toISOString() }] });
  });
  afterAll(() => f?.close());

  it("previews, backs up the database node before a change that reaches it, applies exactly that plan, accepts", async () => {
    reset(VOLUME_GROW);
    const r = await cli([]);
    expect(r.code, r.stderr).toBe(0);
    const log = f.log().filter((l) => /^(pulumi (preview|up)|ssh|npm)/.test(l));
    const planFile = /--save-plan (\S+)/.exec(log[0]!)?.[1];
    expect(log).toEqual([
      `pulumi preview --stack tst --save-plan ${planFile} --json`,
      "ssh ops@tst-node-a sudo systemctl start xiopro-pgbackrest@full.service && sudo cat /var/lib/xiopro/state/pgbackrest-full.json",
      `pulumi up --yes --stack tst --plan ${planFile}`,
      "npm run accept -- --stack tst",
    ]);
    expect(r.stderr).toContain(
      "ok in", // each step's seconds
    );
    expect(r.stderr).toContain(
      "full backup of tst-node-a finished 2027-01-15T08:00:00.000Z in 42 s, for: update hcloud:index/volume:Volume xiopro-infra-tst-node-a-pgdata; replace command:remote:Command xiopro-infra-tst-node-a-volumes-grow",
    );
    expect(r.stdout).toMatch(/^ {2}pulumi-up +\d+\.\d s {2}ok$/m);
  });

  it("applies a reviewed, saved plan without previewing again, and skips the backup when nothing reaches the database", async () => {
    reset("{}");
    const saved = path.join(f.dir, "reviewed-plan.json");
    fs.writeFileSync(
      saved,
      JSON.stringify({
        resourcePlans: { [urn("command:remote:Command", "xiopro-infra-tst-node-a-ops")]: { steps: ["replace"] } },
      }),
    );
    const r = await cli(["--plan", saved]);
    expect(r.code, r.stderr).toBe(0);
    const log = f.log().filter((l) => /^(pulumi (preview|up)|ssh|npm)/.test(l));
    expect(log).toEqual([`pulumi up --yes --stack tst --plan ${saved}`, "npm run accept -- --stack tst"]);
    expect(r.stderr).toContain("skipped: no change reaches the database node");
  });

  it("--dry-run previews and prints the steps, and changes nothing", async () => {
    reset(VOLUME_GROW);
    const r = await cli(["--dry-run"]);
    expect(r.code, r.stderr).toBe(0);
    expect(f.log().filter((l) => /^(pulumi up|ssh|npm)/.test(l))).toEqual([]);
    expect(r.stdout).toContain("2. fresh full backup of tst-node-a before its change");
    expect(r.stdout).toContain("ssh tst-node-a sudo systemctl start xiopro-pgbackrest@full.service");
  });

  it("after a failed pulumi up: exit 1, no acceptance, and the report names the changes and the fresh backup", async () => {
    reset(VOLUME_GROW);
    const r = await cli([], { FAKE_UP_EXIT: "1", FAKE_UP_STDERR: "error: resizing volume: conflict" });
    expect(r.code).toBe(1);
    expect(f.log().some((l) => l.startsWith("npm"))).toBe(false);
    expect(r.stderr).toContain("error: resizing volume: conflict");
    expect(r.stdout).toContain("the plan changes 3 resource(s): update xiopro-infra-tst-node-a-pgdata");
    expect(r.stdout).toContain(
      "the fresh backup full backup of tst-node-a finished 2027-01-15T08:00:00.000Z holds the database as it was before",
    );
  });

  it("refuses to go on when the preview fails, even with --force", async () => {
    reset(VOLUME_GROW);
    const r = await cli(["--force"], { FAKE_PREVIEW_EXIT: "255" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAIL previewed plan: pulumi preview .*255/);
    expect(f.log().filter((l) => /^(pulumi up|ssh|npm)/.test(l))).toEqual([]);
  });
});
