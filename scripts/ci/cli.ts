// tsx scripts/ci/cli.ts <preview-section | preview-comment | drift-report | drill-report> [options]
// The GitHub workflows' steps that are more than a line of shell (.github/workflows, docs/ci.md).
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { catalog } from "../../infra/catalog/index.js";
import { parseCostDocument, type CostDocument } from "../lib/cost-document.js";
import {
  assembleComment,
  classifyDrift,
  DRIFT_MARKER,
  driftIssueBody,
  DRILL_MARKER,
  drillIssueBody,
  drillPassed,
  type DrillOutcome,
  PREVIEW_MARKER,
  previewSection,
  type DriftResult,
  type SectionInput,
  type StepOutcome,
} from "./comment.js";
import { closeIssue, GitHubError, optionsFromEnv, upsertComment, upsertIssue } from "./github.js";
import { UsageError } from "../lib/cli.js";

const USAGE = `Usage: tsx scripts/ci/cli.ts COMMAND [options]

Commands:
  preview-section --stack S --dir DIR [--run-url URL]
      One stack's part of the PR comment, from the files the preview job left in DIR:
      head.json or validation.txt; base.json, base.new or base.missing; preview.txt and
      preview.outcome. Prints Markdown.
  preview-comment --stacks S1,S2 --sections DIR --pr N [--sha SHA] [--run-url URL] [--dry-run]
      Assembles DIR/*/section-<stack>.md (or DIR/section-<stack>.md) into the one PR comment
      and creates or updates it in place (found by its hidden marker).
  drift-report --stacks S1,S2 --dir DIR [--run-url URL] [--dry-run]
      Reads <stack>.exit and <stack>.txt of each stack from DIR (or one folder below), opens or updates
      the one drift issue, or closes it when every stack is clean. Exit 1 on drift or a failed check.
  drill-report --stack S --dir DIR [--run-url URL] [--dry-run]
      Reads drill.exit, drill.json (npm run drill -- --fresh-vm --json) and drill.log from DIR, opens
      or updates the one drill issue when the drill failed, or closes it when it passed. Exit 1 on failure.

Environment (not with --dry-run): GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL.`;

const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined);

/** Files may sit directly in DIR or in one level of artifact folders (download-artifact). */
function find(dir: string, name: string): string | undefined {
  const direct = path.join(dir, name);
  if (fs.existsSync(direct)) return direct;
  for (const sub of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
    const p = path.join(dir, sub.name, name);
    if (sub.isDirectory() && fs.existsSync(p)) return p;
  }
  return undefined;
}

function sectionInput(stack: string, dir: string, runUrl?: string): SectionInput {
  const f = (n: string) => read(path.join(dir, n));
  const headText = f("head.json");
  const head: CostDocument | undefined = headText
    ? parseCostDocument(headText, path.join(dir, "head.json"))
    : undefined;
  const baseText = f("base.json");
  const base: SectionInput["base"] = baseText
    ? parseCostDocument(baseText, path.join(dir, "base.json"))
    : f("base.new") !== undefined
      ? { newStack: true }
      : { missing: (f("base.missing") ?? "the base branch was not priced").trim() };
  const outcome = (f("preview.outcome") ?? "").trim() as StepOutcome;
  return {
    stack,
    catalog,
    head,
    validationReport: f("validation.txt"),
    base,
    preview: outcome ? { outcome, output: f("preview.txt") ?? "" } : undefined,
    runUrl,
  };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "-h" || command === "--help") return (console.log(USAGE), 0);
  if (!command) return (console.error(USAGE), 2);
  let v;
  try {
    v = parseArgs({
      args: rest,
      options: {
        stack: { type: "string" },
        stacks: { type: "string" },
        dir: { type: "string" },
        sections: { type: "string" },
        pr: { type: "string" },
        sha: { type: "string" },
        "run-url": { type: "string" },
        "dry-run": { type: "boolean", default: false },
      },
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const need = (k: keyof typeof v) => {
    if (!v[k]) throw new UsageError(`${command} needs --${k}`);
    return v[k] as string;
  };
  const stacks = () =>
    need("stacks")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const runUrl = v["run-url"] || undefined;

  switch (command) {
    case "preview-section": {
      console.log(previewSection(sectionInput(need("stack"), need("dir"), runUrl)));
      return 0;
    }
    case "preview-comment": {
      const dir = need("sections");
      const pr = Number(need("pr"));
      if (!Number.isInteger(pr) || pr < 1) throw new UsageError(`--pr ${v.pr} is not a pull request number`);
      const sections = Object.fromEntries(
        stacks().map((s) => [s, read(find(dir, `section-${s}.md`) ?? "/nonexistent")]),
      );
      const body = assembleComment(stacks(), sections, { sha: v.sha, runUrl });
      if (v["dry-run"]) return (console.log(body), 0);
      const r = await upsertComment(optionsFromEnv(), pr, PREVIEW_MARKER, body);
      console.log(
        `preview comment ${r.action}: ${r.url ?? r.id}${r.removed.length ? ` (removed duplicates ${r.removed.join(", ")})` : ""}`,
      );
      return 0;
    }
    case "drift-report": {
      const dir = need("dir");
      const results: DriftResult[] = stacks().map((stack) => {
        const exit = read(find(dir, `${stack}.exit`) ?? "/nonexistent");
        const output = read(find(dir, `${stack}.txt`) ?? "/nonexistent") ?? "";
        const code = exit === undefined ? NaN : Number(exit.trim());
        return {
          stack,
          status: Number.isInteger(code) ? classifyDrift(code, output) : "error",
          output:
            exit === undefined
              ? `the check of ${stack} left no result (the job failed before pulumi preview ran)`
              : output,
        };
      });
      const bad = results.filter((r) => r.status !== "clean");
      const date = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
      for (const r of results) console.log(`${r.stack}: ${r.status}`);
      if (v["dry-run"]) {
        console.log(
          bad.length ? driftIssueBody(results, { date, runUrl }) : "(no drift: an open drift issue would be closed)",
        );
        return bad.length ? 1 : 0;
      }
      const gh = optionsFromEnv();
      if (bad.length === 0) {
        const r = await closeIssue(
          gh,
          DRIFT_MARKER,
          `No drift in ${results.map((x) => x.stack).join(", ")} as of ${date}${runUrl ? ` ([run](${runUrl}))` : ""}: closing.`,
        );
        console.log(r.action === "closed" ? `closed drift issue #${r.number}` : "no drift, no open drift issue");
        return 0;
      }
      const title = `Drift in ${bad.map((r) => r.stack).join(", ")}: ${bad.some((r) => r.status === "drift") ? "the real resources differ from the stack" : "the drift check failed"}`;
      const r = await upsertIssue(gh, DRIFT_MARKER, title, driftIssueBody(results, { date, runUrl }), ["drift"]);
      console.log(`drift issue #${r.number} ${r.action}`);
      return 1;
    }
    case "drill-report": {
      const dir = need("dir");
      const stack = need("stack");
      const exitText = read(path.join(dir, "drill.exit"));
      const code = exitText === undefined ? NaN : Number(exitText.trim());
      let report: DrillOutcome["report"];
      try {
        report = JSON.parse(read(path.join(dir, "drill.json")) ?? "") as DrillOutcome["report"];
      } catch {
        report = undefined;
      }
      const outcome: DrillOutcome = {
        stack,
        exit: Number.isInteger(code) ? code : undefined,
        report,
        log: read(path.join(dir, "drill.log")) ?? "",
      };
      const passed = drillPassed(outcome);
      const date = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
      console.log(`${stack}: drill ${passed ? "passed" : "failed"}`);
      if (v["dry-run"])
        return (
          console.log(
            passed ? "(passed: an open drill issue would be closed)" : drillIssueBody(outcome, { date, runUrl }),
          ),
          passed ? 0 : 1
        );
      const gh = optionsFromEnv();
      if (passed) {
        const r = await closeIssue(
          gh,
          DRILL_MARKER,
          `The restore drill of ${stack} passed on ${date}${runUrl ? ` ([run](${runUrl}))` : ""} in ${report!.totalSeconds.toFixed(0)} s: closing.`,
        );
        console.log(r.action === "closed" ? `closed drill issue #${r.number}` : "no open drill issue");
        return 0;
      }
      const r = await upsertIssue(
        gh,
        DRILL_MARKER,
        `The restore drill of ${stack} failed`,
        drillIssueBody(outcome, { date, runUrl }),
        ["drill"],
      );
      console.log(`drill issue #${r.number} ${r.action}`);
      return 1;
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n\n${USAGE}`);
      process.exit(2);
    }
    console.error(e instanceof GitHubError || e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
