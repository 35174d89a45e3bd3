// `npm run cost` end to end, as an operator and the PR workflow run it: real child processes,
// the offline plan, a stack file edited the way a PR edits it, exit codes, and the stack-output
// path through a stand-in `pulumi` on PATH.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../../support/helpers.js";

const TSX = path.join(ROOT, "node_modules/.bin/tsx");
const NODE_DIR = path.dirname(process.execPath);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cost-cli-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI with PATH = extra dirs + node + system dirs (no real pulumi unless a test adds one). */
function cost(args: string[], pathDirs: string[] = []) {
  const env = { ...process.env, PATH: [...pathDirs, NODE_DIR, "/usr/bin", "/bin"].join(":") };
  return spawnSync(TSX, [path.join(ROOT, "scripts/cost/cli.ts"), ...args], {
    cwd: tmp,
    encoding: "utf8",
    timeout: 120_000,
    env,
  });
}

/** A copy of a stack file with `edit` applied to its text, named like the stack (Pulumi.<stack>.yaml). */
function stackFile(dir: string, stack: string, edit: (text: string) => string): string {
  fs.mkdirSync(path.join(tmp, dir), { recursive: true });
  const file = path.join(tmp, dir, `Pulumi.${stack}.yaml`);
  const text = fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8");
  const edited = edit(text);
  expect(edited).not.toBe(text);
  fs.writeFileSync(file, edited);
  return file;
}

describe("npm run cost (offline plan)", () => {
  it("prints prd's table with monthly and yearly totals and names its source", () => {
    const r = cost(["--stack", "prd", "--source", "plan"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^Cost of stack prd, EUR per month, VAT excluded, catalog 2026-06-15\nSource: offline plan \(the program under Pulumi mocks\): --source plan\n/,
    );
    expect(r.stdout).toMatch(/^server:prd-node-a\s+cpx62 in fsn1 \(16 vCPU, 32 GB\)\s+129\.99$/m);
    expect(r.stdout).toMatch(/^total\s+per year 2161\.68\s+180\.14$/m);
  });

  it("falls back to the offline plan without a pulumi CLI, and says why", () => {
    const r = cost(["--stack", "tst"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("Source: offline plan (the program under Pulumi mocks): no pulumi CLI on PATH");
    expect(r.stdout).toMatch(/^total\s+per year 338\.28\s+28\.19$/m);
  });

  it("diffs a PR's edited stack file against the base document: replacement marked, new-order price, totals", () => {
    const base = cost(["--stack", "tst", "--source", "plan", "--json"]);
    expect(base.status).toBe(0);
    const doc = JSON.parse(base.stdout);
    expect(doc).toMatchObject({
      format: "xiopro-cost/1",
      stack: "tst",
      source: "offline-plan",
      cost: { monthlyEur: 28.19, catalogDate: "2026-06-15" },
    });
    expect(doc.servers).toEqual([
      expect.objectContaining({
        name: "tst-node-a",
        serverType: "cpx22",
        location: "fsn1",
        image: "debian-13",
        userDataChange: "replace",
        userDataFingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
      }),
    ]);
    fs.writeFileSync(path.join(tmp, "base.json"), base.stdout);

    const file = stackFile("pr", "tst", (t) => t.replace("serverType: cpx22", "serverType: cpx32"));
    const r = cost(["--stack-file", file, "--diff", "base.json", "--markdown"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^#### Cost: \+16\.00 EUR\/month \(\+192\.00 EUR\/year\)$/m);
    expect(r.stdout).toContain(
      "| `server:tst-node-a` | REPLACED | 19.49 | 35.49 | +16.00 | ⚠️ REPLACEMENT (server type cpx22 → cpx32; user-data changed (userDataChange: replace)): new order at 35.49 (a server ordered before 2026-06-15 pays 7.99) |",
    );
    expect(r.stdout).toContain("| **total / month** | | **28.19** | **44.19** | **+16.00** | |");
    expect(r.stdout).toContain("| total / year | | 338.28 | 530.28 | +192.00 | |");
    expect(r.stdout).toContain("> 💡 **Avoidable replacement**");
    expect(r.stdout).toContain("#### Exposure\n\nNo port opened, closed or reclassified.");
    expect(r.stdout).toContain("```mermaid\nflowchart LR\n");

    const same = cost(["--stack", "tst", "--diff", "base.json"]);
    expect(same.status).toBe(0);
    expect(same.stdout).toMatch(/^total \/ month\s+28\.19\s+28\.19\s+0\.00$/m);
    expect(same.stdout).not.toContain("WARNING");
  });

  it("exits 1 with the validation report, not a stack trace, for an unknown server type", () => {
    const file = stackFile("bad", "tst", (t) => t.replace("serverType: cpx22", "serverType: cpx99"));
    const r = cost(["--stack-file", file, "--json"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^Stack config "tst" has \d+ problems?; nothing was declared or changed:\n/);
    expect(r.stderr).toMatch(/xiopro-infra:nodeA\.serverType: .*cpx99/);
    expect(r.stderr).toMatch(/fix: /);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("names a bad --diff file and a document of another stack, exit 1; usage errors exit 2", () => {
    fs.writeFileSync(path.join(tmp, "broken.json"), "{ not json");
    const broken = cost(["--stack", "tst", "--diff", "broken.json"]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(
      /^broken\.json is not JSON \(.+\); write it with: npm run --silent cost -- --stack <name> --json > FILE\n$/,
    );
    const other = cost(["--stack", "prd", "--diff", "base.json"]);
    expect(other.status).toBe(1);
    expect(other.stderr).toBe("base.json is a document of stack tst, not prd: use --vs tst to compare two stacks\n");
    const usage = cost(["--stack", "tst", "--vs", "prd", "--diff", "base.json"]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^give at most one of --vs and --diff\n\nUsage: npm run cost/);
  });

  it("compares two stacks with --vs", () => {
    const r = cost(["--stack", "prd", "--vs", "tst", "--source", "plan"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^server:prd-node-a\s+changed\s+19\.49\s+129\.99\s+\+110\.50/m);
    expect(r.stdout).toMatch(/^total \/ month\s+28\.19\s+180\.14\s+\+151\.95$/m);
  });
});

describe("npm run cost (stack outputs)", () => {
  /** A stand-in `pulumi` that answers `stack output --json` with `stdout`, or fails like a logged-out CLI. */
  function fakePulumi(dir: string, script: string): string {
    const bin = path.join(tmp, dir);
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    return bin;
  }

  it("reads the deployed stack's outputs when pulumi answers, and falls back with the reason when it fails", () => {
    const plan = spawnSync(TSX, [path.join(ROOT, "scripts/plan/cli.ts"), "--stack", "prd", "--json"], {
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(plan.status).toBe(0);
    const outputs = JSON.parse(plan.stdout).outputs;
    outputs.nodes.nodeA.serverType = "cpx52"; // what was deployed differs from the code
    fs.writeFileSync(path.join(tmp, "outputs.json"), JSON.stringify(outputs));
    const ok = fakePulumi(
      "bin-ok",
      `[ "$1 $2 $3 $4 $5" = "stack output --json --stack prd" ] || exit 9\ncat "${path.join(tmp, "outputs.json")}"`,
    );
    const r = cost(["--stack", "prd", "--json"], [ok]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ source: "stack-output", sourceDetail: "pulumi stack output --stack prd" });
    expect(doc.servers[0].serverType).toBe("cpx52");

    const down = fakePulumi("bin-down", `echo "error: no stack named 'prd' found" >&2\nexit 255`);
    const fallback = cost(["--stack", "prd"], [down]);
    expect(fallback.status).toBe(0);
    expect(fallback.stdout).toContain(
      "Source: offline plan (the program under Pulumi mocks): pulumi stack output failed: error: no stack named 'prd' found",
    );
    const strict = cost(["--stack", "prd", "--source", "stack"], [down]);
    expect(strict.status).toBe(1);
    expect(strict.stderr).toBe(
      "cannot read the outputs of stack prd: pulumi stack output failed: error: no stack named 'prd' found; log in to the backend (pulumi login) or use --source plan\n",
    );
  });
});
