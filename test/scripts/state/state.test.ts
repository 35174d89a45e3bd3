// The Pulumi state beside the backups (npm run state): its pure verdicts, and backup, check and
// restore end to end with a fake `pulumi` (its backend is a file) and real restic on the stack's
// repository (a local directory, kind posix) opened with the stack's own password.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseState, stateBackupVerdict } from "../../../scripts/lib/state.js";
import { makeFakes, runCli, type Fakes } from "../../support/fakes.js";
import { stackObject, TEST_SECRETS } from "../../support/helpers.js";
import { describeWithTools } from "../../support/tools.js";

const state = (time: string, resources: number) =>
  JSON.stringify({
    version: 3,
    deployment: {
      manifest: { time },
      // A secret output as an export keeps it: ciphertext of the stack's secrets provider.
      resources: Array.from({ length: resources }, (_, i) => ({
        urn: `urn:pulumi:tst::xiopro-infra::r${i}`,
        outputs: {
          password: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:AAAA" },
        },
      })),
    },
  });

describe("state verdicts", () => {
  it("reads the last update and the resources of an export, and nothing else", () => {
    expect(parseState(state("2026-11-30T10:00:00Z", 3))).toMatchObject({ updatedAt: 1796032800, resources: 3 });
    expect(parseState('{"version": 3}')).toBeUndefined();
    expect(parseState("error: no stack")).toBeUndefined();
  });

  it("passes a backup taken after the state's last update, and names both times otherwise", () => {
    const s = { updatedAt: 1_800_000_000, resources: 23, bytes: 1000 };
    expect(stateBackupVerdict(s, { id: "ab12cd34", takenAt: 1_800_000_060 }).ok).toBe(true);
    expect(stateBackupVerdict(s, { id: "ab12cd34", takenAt: 1_799_999_000 })).toEqual({
      ok: false,
      message:
        "the newest backup of the state, snapshot ab12cd34 (2027-01-15T07:43:20.000Z), is older than its last update (2027-01-15T08:00:00.000Z)",
    });
    expect(stateBackupVerdict(s, undefined)).toEqual({
      ok: false,
      message: "the repository holds no backup of the state (updated 2027-01-15T08:00:00.000Z)",
    });
  });
});

describeWithTools("npm run state with fake pulumi and real restic", { commands: ["restic"] }, () => {
  let f: Fakes;
  let stackFile = "";
  let secretsFile = "";
  let repo = "";
  const stateFile = () => path.join(f.dir, "pulumi-state.json");
  const cli = (args: string[]) =>
    runCli(
      "scripts/state/cli.ts",
      [...args, "--stack", "tst", "--stack-file", stackFile, "--secrets-file", secretsFile],
      {
        PATH: `${f.path()}:/usr/bin:/bin`,
        SHIM_LOG: path.join(f.dir, "shim.log"),
        FAKE_DIR: f.dir,
      },
    );

  beforeAll(async () => {
    f = await makeFakes();
    repo = path.join(f.dir, "repo");
    const c = structuredClone(stackObject("tst")) as Record<string, any>;
    c.backup = { ...c.backup, repository: { kind: "posix", path: repo } };
    stackFile = path.join(f.dir, "Pulumi.tst.yaml");
    fs.writeFileSync(
      stackFile,
      stringify({ config: Object.fromEntries(Object.entries(c).map(([k, v]) => [`xiopro-infra:${k}`, v])) }),
    );
    secretsFile = path.join(f.dir, "secrets.json");
    fs.writeFileSync(secretsFile, JSON.stringify(TEST_SECRETS));
    fs.mkdirSync(repo);
  });
  afterAll(() => f?.close());

  it("backs the state up into the stack's repository, checks it, and puts it back", async () => {
    // The repository the node's files job initialises.
    const restic = (args: string[]) =>
      spawnSync("restic", args, {
        encoding: "utf8",
        env: {
          PATH: "/usr/bin:/bin",
          RESTIC_REPOSITORY: `${repo}/restic`,
          RESTIC_PASSWORD: TEST_SECRETS.resticPassword!,
        },
      });
    expect(restic(["init"]).status).toBe(0);
    const v1 = state(new Date(Date.now() - 3600_000).toISOString(), 23);
    fs.writeFileSync(stateFile(), v1);

    const none = await cli(["check"]);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/^FAIL: the repository holds no backup of the state \(updated /);

    const b = await cli(["backup"]);
    expect(b.code, b.stderr).toBe(0);
    const id = /stored as snapshot ([0-9a-f]{8})$/m.exec(b.stdout)?.[1];
    expect(b.stdout).toMatch(/^state of tst \(23 resources, \d+ bytes, updated \S+\) stored as snapshot [0-9a-f]{8}$/m);
    const snaps = JSON.parse(restic(["snapshots", "--json"]).stdout) as {
      short_id: string;
      tags: string[];
      paths: string[];
    }[];
    expect(snaps).toEqual([
      expect.objectContaining({ short_id: id, tags: ["pulumi-state", "stack:tst"], paths: ["/pulumi-state-tst.json"] }),
    ]);
    expect(restic(["dump", "latest", "pulumi-state-tst.json"]).stdout).toBe(v1);

    const ok = await cli(["check"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`ok: snapshot ${id} (`);

    // A pulumi up since: the backup no longer holds the state.
    fs.writeFileSync(stateFile(), state(new Date(Date.now() + 60_000).toISOString(), 24));
    const stale = await cli(["check"]);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain(`FAIL: the newest backup of the state, snapshot ${id} (`);

    // Restore refuses to replace a state that lists resources, then replaces it with --force.
    const refused = await cli(["restore"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /state restore failed: stack tst has a state with 24 resources .*refusing to replace it/,
    );
    expect(JSON.parse(fs.readFileSync(stateFile(), "utf8")).deployment.resources).toHaveLength(24);
    const forced = await cli(["restore", "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^state of tst restored from snapshot latest: 23 resources, updated /);
    expect(fs.readFileSync(stateFile(), "utf8")).toBe(`${v1}\n`);

    // The backend lost too: the stack is created, then the state imported.
    fs.rmSync(stateFile());
    fs.writeFileSync(path.join(f.dir, "shim.log"), "");
    const fresh = await cli(["restore", "--snapshot", id!]);
    expect(fresh.code, fresh.stderr).toBe(0);
    const log = fs
      .readFileSync(path.join(f.dir, "shim.log"), "utf8")
      .split("\n")
      .map((l) => l.replace(/^\S+ /, ""))
      .filter((l) => l.startsWith("pulumi"));
    expect(log.map((l) => l.replace(/--file \S+/, "--file F"))).toEqual([
      "pulumi stack export --stack tst",
      "pulumi stack select --create --stack tst",
      "pulumi stack import --stack tst --file F",
    ]);
    expect(fs.readFileSync(stateFile(), "utf8")).toBe(`${v1}\n`);
  });
});
