// The preview, drift and deploy scripts of the workflows, run as the workflows run them: the base
// priced in a git worktree of a real repository, a PR's stack file edited, an invalid config that
// must become the comment, pulumi and npm stood in by scripts on PATH where they need a backend.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../../support/helpers.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ci-scripts-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const NODE_DIR = path.dirname(process.execPath);

function sh(
  script: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; pathDirs?: string[] } = {},
) {
  const env = {
    ...process.env,
    ...opts.env,
    PATH: [...(opts.pathDirs ?? []), NODE_DIR, "/usr/local/bin", "/usr/bin", "/bin"].join(":"),
  };
  return spawnSync("bash", [script, ...args], { cwd: opts.cwd ?? tmp, env, encoding: "utf8", timeout: 240_000 });
}

const git = (cwd: string, ...args: string[]) => {
  const r = spawnSync(
    "git",
    ["-c", "user.name=ci-test", "-c", "user.email=ci-test@example.invalid", "-c", "commit.gpgsign=false", ...args],
    { cwd, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
};

/** A throwaway git repository with this project's files (tracked and new, as CI's clone has them). */
function projectRepo(): string {
  const repo = path.join(tmp, "repo");
  const listed = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" });
  if (listed.status !== 0) throw new Error(`this test needs the project as a git clone: ${listed.stderr}`);
  const files = listed.stdout.split("\0").filter(Boolean);
  for (const f of files) {
    const src = path.join(ROOT, f);
    if (!fs.existsSync(src) || fs.lstatSync(src).isDirectory()) continue;
    fs.mkdirSync(path.dirname(path.join(repo, f)), { recursive: true });
    fs.copyFileSync(src, path.join(repo, f));
  }
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"));
  git(repo, "init", "-q", "-b", "main");
  // .gitignore's "node_modules/" matches directories only, not this symlink.
  fs.appendFileSync(path.join(repo, ".git/info/exclude"), "/node_modules\n");
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "base");
  return repo;
}

describe("the preview scripts", () => {
  it("price the base in a worktree and the PR's head, and write a section that marks the rescale", () => {
    const repo = projectRepo();
    const stack = path.join(repo, "Pulumi.tst.yaml");
    // The PR: tst moves to in-place user-data updates and a bigger type (a rescale, not a replacement).
    fs.writeFileSync(
      stack,
      fs
        .readFileSync(stack, "utf8")
        .replace("serverType: cpx22", "serverType: cpx32")
        .replace("userDataChange: replace", "userDataChange: in-place"),
    );
    git(repo, "commit", "-q", "-am", "tst: cpx32");
    const out = path.join(tmp, "preview");
    const ghOutput = path.join(tmp, "github-output");
    fs.writeFileSync(ghOutput, "");

    const head = sh(path.join(repo, "scripts/ci/head-cost.sh"), ["tst", out], {
      cwd: repo,
      env: { GITHUB_OUTPUT: ghOutput },
    });
    expect(head.stderr).toBe("");
    expect(head.status).toBe(0);
    expect(fs.readFileSync(ghOutput, "utf8")).toBe("valid=true\n");
    expect(JSON.parse(fs.readFileSync(path.join(out, "head.json"), "utf8")).cost.monthlyEur).toBe(44.19);

    const base = sh(path.join(repo, "scripts/ci/base-cost.sh"), ["HEAD^1", "tst", out], { cwd: repo });
    expect(base.stderr).toBe("");
    expect(base.status).toBe(0);
    expect(base.stdout).toBe("base-cost: tst priced on HEAD^1\n");
    expect(JSON.parse(fs.readFileSync(path.join(out, "base.json"), "utf8")).cost.monthlyEur).toBe(28.19);
    expect(git(repo, "worktree", "list").split("\n")).toHaveLength(1); // the temporary worktree is gone

    const section = sh(path.join(repo, "scripts/ci/preview-section.sh"), ["tst", out], {
      cwd: repo,
      env: { PREVIEW_OUTCOME: "success", PREVIEW_OUTPUT: "Resources:\n    ~ 2 to update\n    17 unchanged\n" },
    });
    expect(section.status).toBe(0);
    const md = fs.readFileSync(path.join(out, "section-tst.md"), "utf8");
    expect(md).toMatch(/^### ✅ `tst`\n/);
    expect(md).toContain("```text\n~ 2 to update\n17 unchanged\n```");
    expect(md).toContain(
      "| `server:tst-node-a` | RESCALED | 19.49 | 35.49 | +16.00 | ⚠️ RESCALE (server type cpx22 → cpx32): new order at 35.49 (a server ordered before 2026-06-15 pays 7.99) |",
    );
    expect(md).toContain("| **total / month** | | **28.19** | **44.19** | **+16.00** | |");
    expect(md).toContain("```mermaid");

    // A stack the base does not have, and a base commit missing from the clone.
    fs.copyFileSync(stack, path.join(repo, "Pulumi.dev.yaml"));
    const fresh = sh(path.join(repo, "scripts/ci/base-cost.sh"), ["HEAD", "dev", path.join(tmp, "dev")], { cwd: repo });
    expect(fresh.status).toBe(0);
    expect(fs.readdirSync(path.join(tmp, "dev"))).toEqual(["base.new"]);
    const gone = sh(
      path.join(repo, "scripts/ci/base-cost.sh"),
      ["0123456789abcdef0123456789abcdef01234567", "tst", path.join(tmp, "gone")],
      { cwd: repo },
    );
    expect(gone.status).toBe(0);
    expect(fs.readFileSync(path.join(tmp, "gone", "base.missing"), "utf8")).toMatch(
      /^the base commit 0123456789abcdef0123456789abcdef01234567 is not in this clone/,
    );
  });

  it("turn an unknown server type into the validation report as the stack's section, and say valid=false", () => {
    const file = path.join(tmp, "bad", "Pulumi.tst.yaml");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(
      file,
      fs.readFileSync(path.join(ROOT, "Pulumi.tst.yaml"), "utf8").replace("serverType: cpx22", "serverType: cpx99"),
    );
    const out = path.join(tmp, "bad-out");
    const ghOutput = path.join(tmp, "bad-output");
    fs.writeFileSync(ghOutput, "");
    const head = sh(path.join(ROOT, "scripts/ci/head-cost.sh"), ["tst", out, file], {
      env: { GITHUB_OUTPUT: ghOutput },
    });
    expect(head.status).toBe(0);
    expect(fs.readFileSync(ghOutput, "utf8")).toBe("valid=false\n");
    expect(fs.readdirSync(out).sort()).toEqual(["validation.txt"]);
    const report = fs.readFileSync(path.join(out, "validation.txt"), "utf8");
    expect(report).toMatch(/^Stack config "tst" has \d+ problems?; nothing was declared or changed:\n/);
    expect(report).toContain("cpx99");

    const section = sh(path.join(ROOT, "scripts/ci/preview-section.sh"), ["tst", out], {
      env: { PREVIEW_OUTCOME: "", PREVIEW_OUTPUT: "" },
    });
    expect(section.status).toBe(0);
    const md = fs.readFileSync(path.join(out, "section-tst.md"), "utf8");
    expect(md).toMatch(
      /^### ❌ `tst`: invalid stack configuration, nothing was previewed\n\n```text\nStack config "tst" has/,
    );
    expect(md).toContain("cpx99");
    expect(md).not.toMatch(/^\s+at .*\(.*:\d+:\d+\)$/m);
  });
});

describe("the drift and acceptance scripts", () => {
  /** A stand-in command on PATH. */
  function stub(dir: string, name: string, body: string): string {
    const bin = path.join(tmp, dir);
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return bin;
  }

  it("drift-check records pulumi's exit code and output for the report, and exits 0", () => {
    const bin = stub(
      "drift-bin",
      "pulumi",
      'echo "args: $*"\necho "error: no changes were expected but changes were proposed" >&2\nexit 255',
    );
    const out = path.join(tmp, "drift");
    const r = sh(path.join(ROOT, "scripts/ci/drift-check.sh"), ["prd", out], { pathDirs: [bin] });
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(out, "prd.exit"), "utf8")).toBe("255\n");
    expect(fs.readFileSync(path.join(out, "prd.txt"), "utf8")).toBe(
      "args: preview --stack prd --refresh --expect-no-changes --diff --non-interactive --color never\nerror: no changes were expected but changes were proposed\n",
    );
  });

  it("accept-summary passes the stack's admin key to npm run accept, appends the table to the job summary and keeps its exit code", () => {
    const record = path.join(tmp, "accept-args");
    const pulumi = stub(
      "accept-bin",
      "pulumi",
      '[ "$*" = "config get adminSshPrivateKey --stack tst" ] || exit 9\necho "-----BEGIN OPENSSH PRIVATE KEY-----"',
    );
    stub(
      "accept-bin",
      "npm",
      `echo "$*" > "${record}"\nkey=$(echo "$*" | sed 's/.*--ssh-key \\([^ ]*\\).*/\\1/')\nstat -c %a "$key" >> "${record}"\necho "### Acceptance of nodeA: ❌ not accepted"\nexit 1`,
    );
    const summary = path.join(tmp, "summary.md");
    fs.writeFileSync(summary, "# before\n");
    const r = sh(path.join(ROOT, "scripts/ci/accept-summary.sh"), ["tst"], {
      pathDirs: [pulumi],
      env: { GITHUB_STEP_SUMMARY: summary },
    });
    expect(r.status).toBe(1);
    const [args, mode] = fs.readFileSync(record, "utf8").trim().split("\n");
    expect(args).toMatch(/^run --silent accept -- --stack tst --ssh-key \/tmp\/\S+\/admin-key --markdown$/);
    expect(mode).toBe("600");
    expect(fs.existsSync(args!.split(" ")[7]!)).toBe(false); // the key is removed afterwards
    expect(fs.readFileSync(summary, "utf8")).toBe(
      "# before\n### Acceptance of nodeA: ❌ not accepted\n**Acceptance of `tst` failed (exit 1).**\n",
    );
  });
});
