// The workflows' GitHub side: one PR comment, one drift issue and one drill issue, found by hidden
// markers and updated in place, proven against a local stand-in of the GitHub REST API (127.0.0.1); and the
// comment's Markdown for a valid stack, an invalid one and a failed preview.
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { catalog } from "../../../infra/catalog/index.js";
import {
  assembleComment,
  BODY_LIMIT,
  classifyDrift,
  DRIFT_MARKER,
  driftIssueBody,
  DRILL_MARKER,
  fenced,
  PREVIEW_MARKER,
  previewSection,
  resourceSummary,
} from "../../../scripts/ci/comment.js";
import { closeIssue, GitHubError, upsertComment, upsertIssue, type GitHubOptions } from "../../../scripts/ci/github.js";
import { run } from "../../support/run.js";
import { ROOT } from "../../support/helpers.js";

interface Item {
  id: number;
  number?: number;
  body: string;
  title?: string;
  state?: string;
  labels?: string[];
  pull_request?: object;
}

/** An in-memory GitHub: comments of PR 7, issues; records every call. */
const state = { comments: [] as Item[], issues: [] as Item[], calls: [] as string[], nextId: 100, forbid: false };
let server: http.Server;
let gh: GitHubOptions;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ci-github-"));

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const url = new URL(req.url!, "http://x");
      state.calls.push(`${req.method} ${url.pathname}`);
      const send = (status: number, body?: unknown) => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(body === undefined ? "" : JSON.stringify(body));
      };
      if (req.headers.authorization !== "Bearer gh-token") return send(401, { message: "Bad credentials" });
      if (state.forbid && req.method !== "GET") return send(403, { message: "Resource not accessible by integration" });
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      const page = (list: Item[]) => {
        const n = Number(url.searchParams.get("per_page") ?? 30);
        const p = Number(url.searchParams.get("page") ?? 1);
        return list.slice((p - 1) * n, p * n);
      };
      let m: RegExpExecArray | null;
      if ((m = /^\/repos\/o\/r\/issues\/7\/comments$/.exec(url.pathname))) {
        if (req.method === "GET") return send(200, page(state.comments));
        const c = { id: state.nextId++, body: String(body.body), html_url: `https://github.test/o/r/pull/7#c` };
        state.comments.push(c);
        return send(201, c);
      }
      if ((m = /^\/repos\/o\/r\/issues\/comments\/(\d+)$/.exec(url.pathname))) {
        const i = state.comments.findIndex((c) => c.id === Number(m![1]));
        if (i < 0) return send(404, { message: "Not Found" });
        if (req.method === "DELETE") return (state.comments.splice(i, 1), send(204));
        state.comments[i]!.body = String(body.body);
        return send(200, state.comments[i]);
      }
      if (url.pathname === "/repos/o/r/issues") {
        if (req.method === "GET")
          return send(200, page(state.issues.filter((i) => i.state === url.searchParams.get("state"))));
        const issue = {
          id: state.nextId++,
          number: state.issues.length + 1,
          title: String(body.title),
          body: String(body.body),
          labels: body.labels as string[],
          state: "open",
        };
        state.issues.push(issue);
        return send(201, issue);
      }
      if ((m = /^\/repos\/o\/r\/issues\/(\d+)(\/comments)?$/.exec(url.pathname))) {
        const issue = state.issues.find((i) => i.number === Number(m![1]));
        if (!issue) return send(404, { message: "Not Found" });
        if (m[2]) return send(201, { id: state.nextId++, body: body.body });
        Object.assign(issue, body);
        return send(200, issue);
      }
      return send(404, { message: "Not Found" });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  gh = { apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, repository: "o/r", token: "gh-token" };
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => Object.assign(state, { comments: [], issues: [], calls: [], forbid: false }));

describe("the PR comment", () => {
  it("is created once, then updated in place; other comments stay untouched", async () => {
    state.comments.push({ id: 1, body: "LGTM" });
    const first = await upsertComment(gh, 7, PREVIEW_MARKER, `${PREVIEW_MARKER}\nrun 1`);
    const second = await upsertComment(gh, 7, PREVIEW_MARKER, `${PREVIEW_MARKER}\nrun 2`);
    expect([first.action, second.action]).toEqual(["created", "updated"]);
    expect(second.id).toBe(first.id);
    expect(state.comments.map((c) => c.body)).toEqual(["LGTM", `${PREVIEW_MARKER}\nrun 2`]);
  });

  it("finds its comment beyond the first page and removes duplicates left by an earlier race", async () => {
    for (let i = 0; i < 120; i++) state.comments.push({ id: i + 1, body: `chatter ${i}` });
    state.comments.push({ id: 500, body: `${PREVIEW_MARKER} old` }, { id: 501, body: `${PREVIEW_MARKER} older` });
    const r = await upsertComment(gh, 7, PREVIEW_MARKER, `${PREVIEW_MARKER} new`);
    expect(r).toMatchObject({ action: "updated", id: 500, removed: [501] });
    expect(state.comments.filter((c) => c.body.includes(PREVIEW_MARKER)).map((c) => c.body)).toEqual([
      `${PREVIEW_MARKER} new`,
    ]);
    expect(state.calls.filter((c) => c.startsWith("GET"))).toHaveLength(2);
  });

  it("fails with the permission the job lacks, and refuses a body without its marker", async () => {
    state.forbid = true;
    await expect(upsertComment(gh, 7, PREVIEW_MARKER, `${PREVIEW_MARKER} x`)).rejects.toThrow(
      "GitHub POST /repos/o/r/issues/7/comments answered HTTP 403 (Resource not accessible by integration): give the job `permissions: pull-requests: write`",
    );
    await expect(upsertComment(gh, 7, PREVIEW_MARKER, "no marker")).rejects.toThrow(GitHubError);
  });

  it("is posted by `cli.ts preview-comment` from the sections the stack jobs left, twice without duplicating", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, "sections-"));
    fs.mkdirSync(path.join(dir, "preview-prd"));
    fs.writeFileSync(path.join(dir, "preview-prd", "section-prd.md"), "### ✅ `prd`\n\nall good\n");
    const env = { ...process.env, GITHUB_TOKEN: "gh-token", GITHUB_REPOSITORY: "o/r", GITHUB_API_URL: gh.apiUrl };
    const cli = () =>
      run(
        path.join(ROOT, "node_modules/.bin/tsx"),
        [
          path.join(ROOT, "scripts/ci/cli.ts"),
          "preview-comment",
          "--stacks",
          "prd,tst",
          "--sections",
          dir,
          "--pr",
          "7",
          "--sha",
          "0123456789abcdef",
        ],
        { env, timeoutMs: 60_000 },
      );
    const a = await cli();
    expect(a.stderr).toBe("");
    expect(a.stdout).toMatch(/^preview comment created: /);
    const b = await cli();
    expect(b.stdout).toMatch(/^preview comment updated: /);
    expect(state.comments).toHaveLength(1);
    const body = state.comments[0]!.body;
    expect(body.startsWith(`${PREVIEW_MARKER}\n## Infrastructure preview of 0123456\n`)).toBe(true);
    expect(body).toContain("### ✅ `prd`\n\nall good");
    expect(body).toContain("### ❌ `tst`\n\nThe preview job of this stack produced no result.");
  });
});

describe("the drift issue", () => {
  it("is opened once, updated in place while drift lasts, and closed with a comment by a clean run", async () => {
    state.issues.push(
      { id: 1, number: 1, title: "unrelated", body: "x", state: "open" },
      { id: 2, number: 2, title: "a PR", body: DRIFT_MARKER, state: "open", pull_request: {} },
    );
    const a = await upsertIssue(gh, DRIFT_MARKER, "Drift in prd", `${DRIFT_MARKER} one`, ["drift"]);
    const b = await upsertIssue(gh, DRIFT_MARKER, "Drift in prd, tst", `${DRIFT_MARKER} two`, ["drift"]);
    expect([a, b]).toEqual([
      { action: "created", number: 3 },
      { action: "updated", number: 3 },
    ]);
    expect(state.issues[2]).toMatchObject({
      title: "Drift in prd, tst",
      body: `${DRIFT_MARKER} two`,
      labels: ["drift"],
      state: "open",
    });
    expect(await closeIssue(gh, DRIFT_MARKER, "clean")).toEqual({ action: "closed", number: 3 });
    expect(state.issues[2]!.state).toBe("closed");
    expect(state.calls).toContain("POST /repos/o/r/issues/3/comments");
    expect(await closeIssue(gh, DRIFT_MARKER, "clean")).toEqual({ action: "none" });
  });

  it("is driven by `cli.ts drift-report`: drift exits 1 and opens the issue; a clean night closes it", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, "drift-"));
    for (const s of ["prd", "tst"]) fs.mkdirSync(path.join(dir, `drift-${s}`));
    const write = (s: string, exit: number, text: string) => {
      fs.writeFileSync(path.join(dir, `drift-${s}`, `${s}.exit`), `${exit}\n`);
      fs.writeFileSync(path.join(dir, `drift-${s}`, `${s}.txt`), text);
    };
    write(
      "prd",
      255,
      "Previewing update (prd):\n ~ hcloud:index/firewall:Firewall prd-node-a-fw update [diff: ~rules]\nResources:\n    ~ 1 to update\n    18 unchanged\n\nerror: no changes were expected but changes were proposed\n",
    );
    write("tst", 0, "Resources:\n    19 unchanged\n");
    const env = { ...process.env, GITHUB_TOKEN: "gh-token", GITHUB_REPOSITORY: "o/r", GITHUB_API_URL: gh.apiUrl };
    const cli = () =>
      run(
        path.join(ROOT, "node_modules/.bin/tsx"),
        [path.join(ROOT, "scripts/ci/cli.ts"), "drift-report", "--stacks", "prd,tst", "--dir", dir],
        { env, timeoutMs: 60_000 },
      );
    const drift = await cli();
    expect(drift.code).toBe(1);
    expect(drift.stdout).toBe("prd: drift\ntst: clean\ndrift issue #1 created");
    expect(state.issues[0]).toMatchObject({
      title: "Drift in prd: the real resources differ from the stack",
      state: "open",
    });
    expect(state.issues[0]!.body).toContain("| `prd` | ⚠️ drift |");
    expect(state.issues[0]!.body).toContain("~ 1 to update\n18 unchanged");
    write("prd", 0, "Resources:\n    19 unchanged\n");
    const clean = await cli();
    expect(clean.code).toBe(0);
    expect(clean.stdout).toBe("prd: clean\ntst: clean\nclosed drift issue #1");
    expect(state.issues[0]!.state).toBe("closed");
  });
});

describe("the drill issue", () => {
  it("is driven by `cli.ts drill-report`: a failed drill opens it with its steps, the next failure updates it, a pass closes it", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, "drill-"));
    const write = (exit: number | undefined, report: object | undefined, log: string) => {
      for (const f of ["drill.exit", "drill.json", "drill.log"]) fs.rmSync(path.join(dir, f), { force: true });
      if (exit !== undefined) fs.writeFileSync(path.join(dir, "drill.exit"), `${exit}\n`);
      if (report) fs.writeFileSync(path.join(dir, "drill.json"), JSON.stringify(report));
      fs.writeFileSync(path.join(dir, "drill.log"), log);
    };
    const step = (id: string, status: string, detail: string) => ({ id, title: id, status, seconds: 12.5, detail });
    const failed = {
      stack: "prd",
      drillStack: "prd-drill",
      ok: false,
      destroyed: false,
      steps: [
        step("pulumi-up", "ok", "Resources: 9 created"),
        step("restore", "failed", "ERROR: restore failed: the pgBackRest repository is not usable | really"),
        step("destroy", "failed", "error: deleting server: conflict"),
      ],
      restore: { result: "fail", backupSet: "20261122-013000F" },
      totalSeconds: 420,
    };
    const env = { ...process.env, GITHUB_TOKEN: "gh-token", GITHUB_REPOSITORY: "o/r", GITHUB_API_URL: gh.apiUrl };
    const cli = () =>
      run(
        path.join(ROOT, "node_modules/.bin/tsx"),
        [path.join(ROOT, "scripts/ci/cli.ts"), "drill-report", "--stack", "prd", "--dir", dir],
        { env, timeoutMs: 60_000 },
      );
    const before = state.issues.length;
    write(1, failed, "step restore failed\n");
    const r1 = await cli();
    expect(r1.code).toBe(1);
    expect(r1.stdout).toBe(`prd: drill failed\ndrill issue #${before + 1} created`);
    const issue = state.issues.at(-1)!;
    expect(issue).toMatchObject({ title: "The restore drill of prd failed", state: "open", labels: ["drill"] });
    expect(issue.body.startsWith(DRILL_MARKER)).toBe(true);
    expect(issue.body).toContain(
      "| restore | ❌ failed | 12.5 | ERROR: restore failed: the pgBackRest repository is not usable \\| really |",
    );
    expect(issue.body).toContain("**The drill stack `prd-drill` was not destroyed**");
    expect(issue.body).toContain('"backupSet": "20261122-013000F"');
    expect(issue.body).toContain("step restore failed");

    // The job died before the drill ran: the same issue, updated, says so.
    write(undefined, undefined, "");
    const r2 = await cli();
    expect(r2.code).toBe(1);
    expect(r2.stdout).toBe(`prd: drill failed\ndrill issue #${before + 1} updated`);
    expect(state.issues.at(-1)!.body).toContain("The job ended before the drill ran (no exit code was recorded).");

    // Exit 0 with a report that says it failed is still a failure.
    write(0, failed, "");
    expect((await cli()).code).toBe(1);

    write(0, { ...failed, ok: true, destroyed: true, steps: [step("restore", "ok", "restore pass")] }, "");
    const r3 = await cli();
    expect(r3.code).toBe(0);
    expect(r3.stdout).toBe(`prd: drill passed\nclosed drill issue #${before + 1}`);
    expect(state.issues.at(-1)!.state).toBe("closed");
  });
});

describe("comment Markdown", () => {
  const head = JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/cost-tst.json"), "utf8"));

  it("posts an invalid config's validation report as the stack's section, and no cost", () => {
    const report =
      'Stack config "tst" has 1 problem; nothing was declared or changed:\n  - xiopro-infra:nodeA.serverType: "cpx99" is not a Hetzner server type\n      fix: use one of cax11, …\n';
    const md = previewSection({ stack: "tst", catalog, validationReport: report });
    expect(md).toBe(
      [
        "### ❌ `tst`: invalid stack configuration, nothing was previewed",
        "",
        "```text",
        report.trimEnd(),
        "```",
        "",
        "Fix the stack file (each problem names its fix; `npm run plan -- --stack tst` shows the same report locally) and push again.",
        "",
      ].join("\n"),
    );
  });

  it("shows the resource summary, the full output folded, the cost diff, exposure and topology", () => {
    const output =
      "Previewing update (tst)\n\n ~  hcloud:index/server:Server xiopro-infra-tst-node-a update [diff: ~serverType]\nResources:\n    ~ 1 to update\n    18 unchanged\n\nDuration: 3s\n";
    const edited = structuredClone(head);
    edited.cost.lines[0].monthlyEur = 35.49;
    edited.servers[0].serverType = "cpx32";
    const md = previewSection({
      stack: "tst",
      catalog,
      head: edited,
      base: head,
      preview: { outcome: "success", output },
    });
    expect(md).toMatch(
      /^### ✅ `tst`\n\n\*\*Resource changes\*\* \(pulumi preview\):\n\n```text\n~ 1 to update\n18 unchanged\n```\n\n<details><summary>Full preview output<\/summary>/,
    );
    expect(md).toContain("#### Cost: +16.00 EUR/month (+192.00 EUR/year)");
    expect(md).toContain("| `server:tst-node-a` | RESCALED | 19.49 | 35.49 | +16.00 |");
    expect(md).toContain("#### Exposure\n\nNo port opened, closed or reclassified.");
    expect(md).toContain("<details><summary>Topology</summary>\n\n```mermaid\nflowchart LR");
  });

  it("says when the preview failed or no base could be priced, and still shows this PR's cost", () => {
    const md = previewSection({
      stack: "tst",
      catalog,
      head,
      base: { missing: "the base commit has no npm run cost yet" },
      preview: { outcome: "failure", output: "" },
      runUrl: "https://ci/run/1",
    });
    expect(md).toMatch(
      /^### ❌ `tst`\n\n\*\*Resource changes:\*\* pulumi preview failed \(\[job log\]\(https:\/\/ci\/run\/1\)\)\./,
    );
    expect(md).toContain("No cost diff: the base commit has no npm run cost yet. The cost of this PR's `tst`:");
    expect(md).toContain("#### Cost of `tst`: 28.19 EUR/month, 338.28 EUR/year");
  });

  it("fences text so backticks inside cannot close the block, and extracts pulumi's summary", () => {
    expect(fenced("a ``` b")).toBe("````\na ``` b\n````");
    expect(resourceSummary("\x1b[1mResources:\x1b[0m\n    + 2 to create\n    1 unchanged\n\nDuration: 1s")).toBe(
      "+ 2 to create\n1 unchanged",
    );
    expect(resourceSummary("error: boom")).toBe("");
  });

  it("keeps the whole comment under GitHub's size limit", () => {
    const body = assembleComment(["prd"], { prd: "x".repeat(80_000) }, {});
    expect(body.length).toBeLessThanOrEqual(BODY_LIMIT);
    expect(body.startsWith(PREVIEW_MARKER)).toBe(true);
    expect(body).toMatch(/comment cut at GitHub's size limit/);
  });

  it("tells drift from a failed check by pulumi's own message", () => {
    expect(classifyDrift(0, "")).toBe("clean");
    expect(classifyDrift(255, "error: no changes were expected but changes were proposed")).toBe("drift");
    expect(classifyDrift(255, "error: no changes were expected for preview but changes were proposed")).toBe("drift");
    expect(classifyDrift(255, "error: failed to decrypt: incorrect passphrase")).toBe("error");
    const body = driftIssueBody([{ stack: "prd", status: "error", output: "error: failed to decrypt" }], {
      date: "2026-12-01 03:17 UTC",
    });
    expect(body.startsWith(DRIFT_MARKER)).toBe(true);
    expect(body).toContain("| `prd` | ❌ check failed |");
  });
});
