// The Pulumi state beside the backups (npm run state): its pure verdicts, and backup, check and
// restore end to end with a fake `pulumi` (its backend is a file) and real restic on the stack's
// repository (a local directory, kind posix) opened with the stack's own password.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseState, stateBackupsVerdict, stateBackupVerdict } from "../../../scripts/lib/state.js";
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

  it("passes a backup in any repository, naming it first, and warns of a repository without one", () => {
    const s = { updatedAt: 1_800_000_000, resources: 23, bytes: 1000 };
    const fresh = { id: "ab12cd34", takenAt: 1_800_000_060 };
    expect(
      stateBackupsVerdict(s, [
        { repo: 1, problem: "cannot read the restic repository s3:x: Fatal: Access Denied." },
        { repo: 2, newest: fresh },
      ]),
    ).toEqual({
      ok: true,
      warn: true,
      message:
        "repository 2 (off-site): snapshot ab12cd34 (2027-01-15T08:01:00.000Z) holds the state as of its last update, 2027-01-15T08:00:00.000Z; " +
        "repository 1 (Hetzner): cannot read the restic repository s3:x: Fatal: Access Denied.",
    });
    expect(stateBackupsVerdict(s, [{ repo: 1, newest: fresh }])).toMatchObject({ ok: true, warn: false });
    expect(
      stateBackupsVerdict(s, [{ repo: 1 }, { repo: 2, newest: { id: "0ld0ld00", takenAt: 1_700_000_000 } }]),
    ).toEqual({
      ok: false,
      warn: false,
      message:
        "repository 1 (Hetzner): the repository holds no backup of the state (updated 2027-01-15T08:00:00.000Z); " +
        "repository 2 (off-site): the newest backup of the state, snapshot 0ld0ld00 (2023-11-14T22:13:20.000Z), is older than its last update (2027-01-15T08:00:00.000Z)",
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
    expect(none.stdout).toMatch(
      /^FAIL: repository 1 \(Hetzner\): the repository holds no backup of the state \(updated /,
    );

    const b = await cli(["backup"]);
    expect(b.code, b.stderr).toBe(0);
    const id = /stored as snapshot ([0-9a-f]{8})$/m.exec(b.stdout)?.[1];
    expect(b.stdout).toMatch(
      /^state of tst \(23 resources, \d+ bytes, updated \S+\) into repository 1 \(Hetzner\): stored as snapshot [0-9a-f]{8}$/m,
    );
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
    expect(ok.stdout).toContain(`ok: repository 1 (Hetzner): snapshot ${id} (`);

    // A pulumi up since: the backup no longer holds the state.
    fs.writeFileSync(stateFile(), state(new Date(Date.now() + 60_000).toISOString(), 24));
    const stale = await cli(["check"]);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain(`FAIL: repository 1 (Hetzner): the newest backup of the state, snapshot ${id} (`);

    // Restore refuses to replace a state that lists resources, then replaces it with --force.
    const refused = await cli(["restore"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /state restore failed: stack tst has a state with 24 resources .*refusing to replace it/,
    );
    expect(JSON.parse(fs.readFileSync(stateFile(), "utf8")).deployment.resources).toHaveLength(24);
    const forced = await cli(["restore", "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(
      new RegExp(`^state of tst restored from snapshot ${id} of repository 1 \\(Hetzner\\): 23 resources, updated `),
    );
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

describeWithTools("npm run state with two repositories (fake pulumi, real restic)", { commands: ["restic"] }, () => {
  let f: Fakes;
  let stackFile = "";
  let secretsFile = "";
  /** Repository 1 (backup.repository) and 2 (backup.offsite): two local directories, kind posix. */
  const dirs: Record<number, string> = {};
  const stateFile = () => path.join(f.dir, "pulumi-state.json");
  const cli = (args: string[]) =>
    runCli(
      "scripts/state/cli.ts",
      [...args, "--stack", "tst", "--stack-file", stackFile, "--secrets-file", secretsFile],
      { PATH: `${f.path()}:/usr/bin:/bin`, SHIM_LOG: path.join(f.dir, "shim.log"), FAKE_DIR: f.dir },
    );
  const restic = (repo: number, args: string[]) =>
    spawnSync("restic", args, {
      encoding: "utf8",
      env: {
        PATH: "/usr/bin:/bin",
        RESTIC_REPOSITORY: `${dirs[repo]}/restic`,
        RESTIC_PASSWORD: TEST_SECRETS.resticPassword!,
      },
    });
  const stateSnapshots = (repo: number) =>
    (
      JSON.parse(restic(repo, ["snapshots", "--json", "--tag", "pulumi-state,stack:tst"]).stdout) as {
        short_id: string;
      }[]
    ).map((x) => x.short_id);
  /** A repository that does not answer (the account lost): its directory moved away, and back. */
  const lose = (repo: number) => fs.renameSync(`${dirs[repo]}/restic`, `${dirs[repo]}/restic.lost`);
  const regain = (repo: number) => fs.renameSync(`${dirs[repo]}/restic.lost`, `${dirs[repo]}/restic`);

  beforeAll(async () => {
    f = await makeFakes();
    dirs[1] = path.join(f.dir, "hetzner");
    dirs[2] = path.join(f.dir, "offsite");
    const c = structuredClone(stackObject("tst")) as Record<string, any>;
    c.backup = { ...c.backup, repository: { kind: "posix", path: dirs[1] }, offsite: { kind: "posix", path: dirs[2] } };
    stackFile = path.join(f.dir, "Pulumi.tst.yaml");
    fs.writeFileSync(
      stackFile,
      stringify({ config: Object.fromEntries(Object.entries(c).map(([k, v]) => [`xiopro-infra:${k}`, v])) }),
    );
    secretsFile = path.join(f.dir, "secrets.json");
    fs.writeFileSync(secretsFile, JSON.stringify(TEST_SECRETS));
    for (const repo of [1, 2]) {
      fs.mkdirSync(dirs[repo]!);
      expect(restic(repo, ["init"]).status).toBe(0);
    }
  });
  afterAll(() => f?.close());

  it("backs the state up into both, checks each, and restores the newest copy from whichever repository has it", async () => {
    const v1 = state(new Date(Date.now() - 3600_000).toISOString(), 23);
    fs.writeFileSync(stateFile(), v1);
    const b = await cli(["backup"]);
    expect(b.code, b.stderr).toBe(0);
    expect([stateSnapshots(1).length, stateSnapshots(2).length]).toEqual([1, 1]);
    const [id1, id2] = [stateSnapshots(1)[0]!, stateSnapshots(2)[0]!];
    expect(b.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(
        new RegExp(`^state of tst \\(23 resources, .*\\) into repository 1 \\(Hetzner\\): stored as snapshot ${id1}$`),
      ),
      expect.stringMatching(
        new RegExp(`^state of tst \\(23 resources, .*\\) into repository 2 \\(off-site\\): stored as snapshot ${id2}$`),
      ),
    ]);
    const ok = await cli(["check"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(
      new RegExp(
        `^ok: repository 1 \\(Hetzner\\): snapshot ${id1} .*\nok: repository 2 \\(off-site\\): snapshot ${id2} `,
      ),
    );

    // The off-site repository down: the copy still goes to the other, and both commands say which failed.
    lose(2);
    fs.writeFileSync(stateFile(), state(new Date(Date.now() - 60_000).toISOString(), 24));
    const half = await cli(["backup"]);
    expect(half.code).toBe(1);
    expect(half.stdout).toMatch(/into repository 1 \(Hetzner\): stored as snapshot [0-9a-f]{8}$/m);
    expect(half.stderr).toMatch(/^state backup failed in repository 2 \(off-site\): restic backup failed: Fatal: .+/m);
    const id1b = stateSnapshots(1).find((x) => x !== id1)!;
    const check = await cli(["check"]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`ok: repository 1 (Hetzner): snapshot ${id1b} (`);
    expect(check.stdout).toMatch(
      /^FAIL: repository 2 \(off-site\): cannot read the restic repository \S+offsite\/restic: Fatal: /m,
    );
    regain(2);

    // Newest first: repository 1 holds the 24-resource state, repository 2 only the older one.
    const newest = await cli(["restore", "--force"]);
    expect(newest.code, newest.stderr).toBe(0);
    expect(newest.stdout).toMatch(
      new RegExp(`^state of tst restored from snapshot ${id1b} of repository 1 \\(Hetzner\\): 24 resources`),
    );
    const pinned = await cli(["restore", "--force", "--repo", "2"]);
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(pinned.stdout).toMatch(
      new RegExp(`^state of tst restored from snapshot ${id2} of repository 2 \\(off-site\\): 23 resources`),
    );
    expect(fs.readFileSync(stateFile(), "utf8")).toBe(`${v1}\n`);

    // The Hetzner account lost with the backend: the off-site copy comes back, into a new stack.
    lose(1);
    fs.rmSync(stateFile());
    const lost = await cli(["restore"]);
    expect(lost.code, lost.stderr).toBe(0);
    expect(lost.stdout).toMatch(
      new RegExp(`^state of tst restored from snapshot ${id2} of repository 2 \\(off-site\\): 23 resources`),
    );
    // A snapshot by id: looked for in each repository in turn.
    const byId = await cli(["restore", "--force", "--snapshot", id2]);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toContain(`restored from snapshot ${id2} of repository 2 (off-site)`);
    lose(2);
    const none = await cli(["restore", "--force"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /^state restore failed: no state snapshot to restore: repository 1 \(Hetzner\): cannot read the restic repository \S+: Fatal: .+; repository 2 \(off-site\): cannot read the restic repository \S+: Fatal: /,
    );
    regain(1);
    regain(2);
  });

  it("rejects a repository the stack does not have, and --repo on anything but restore", async () => {
    const three = await cli(["restore", "--repo", "3"]);
    expect(three.code).toBe(1);
    expect(three.stderr).toContain("state restore failed: stack tst has no repository 3 (it has 1, 2)");
    const check = await cli(["check", "--repo", "2"]);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain("--repo is for restore: check uses every repository");
    const bad = await cli(["restore", "--repo", "two"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--repo "two" is not a repository number: use 1 (Hetzner) or 2 (off-site)');
  });
});
