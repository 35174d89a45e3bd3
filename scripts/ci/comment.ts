// The PR preview comment and the drift issue, as Markdown. Pure: inputs in, text out.
import type { Catalog } from "../../infra/catalog/index.js";
import { diffCost } from "../lib/cost-diff.js";
import { emptyDocument, type CostDocument } from "../lib/cost-document.js";
import { diffMarkdown, documentMarkdown, exposureMarkdown, topologyMarkdown } from "../lib/cost-format.js";

/** Hidden markers: the workflows find their one comment / issue by these. */
export const PREVIEW_MARKER = "<!-- xiopro-infra:preview -->";
export const DRIFT_MARKER = "<!-- xiopro-infra:drift -->";

/** GitHub rejects comment and issue bodies above 65 536 characters. */
export const BODY_LIMIT = 65_000;
/** Room for each stack's full preview output inside the comment. */
export const PREVIEW_OUTPUT_LIMIT = 20_000;

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** A fenced block whose fence is longer than any backtick run inside, so the text cannot break out. */
export function fenced(text: string, lang = ""): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  return `${fence}${lang}\n${text.replace(/\n+$/, "")}\n${fence}`;
}

/** Keeps the end of an over-long text (pulumi's summary is at the end) and says what was cut. */
export function tail(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.length - max;
  return `… (${cut} characters cut; the full output is in the job log)\n${text.slice(cut)}`;
}

/** The "Resources:" block of a pulumi preview, e.g. "~ 1 to update / 17 unchanged"; "" if absent. */
export function resourceSummary(output: string): string {
  const lines = output.replace(ANSI, "").split("\n");
  const start = lines.findIndex((l) => /^Resources:\s*$/.test(l.trim()));
  if (start < 0) return "";
  const block: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.trim() || !/^\s/.test(l)) break;
    block.push(l.trim());
  }
  return block.join("\n");
}

export type StepOutcome = "success" | "failure" | "cancelled" | "skipped" | "";

export interface SectionInput {
  stack: string;
  catalog: Catalog;
  /** The head's cost document; absent when the config is invalid. */
  head?: CostDocument;
  /** The validation report (`npm run cost` exit 1): the section is the report, and the job fails. */
  validationReport?: string;
  /** The base's document; `{ newStack: true }` for a stack the base lacks; `{ missing }` when no base could be computed. */
  base?: CostDocument | { newStack: true } | { missing: string };
  preview?: { outcome: StepOutcome; output: string };
  runUrl?: string;
}

/** One stack's part of the PR comment. */
export function previewSection(s: SectionInput): string {
  const log = s.runUrl ? ` ([job log](${s.runUrl}))` : "";
  if (s.validationReport !== undefined || !s.head) {
    return [
      `### ❌ \`${s.stack}\`: invalid stack configuration, nothing was previewed`,
      "",
      fenced((s.validationReport ?? "no report was produced").replace(ANSI, "").trimEnd(), "text"),
      "",
      `Fix the stack file (each problem names its fix; \`npm run plan -- --stack ${s.stack}\` shows the same report locally) and push again.${log}`,
      "",
    ].join("\n");
  }
  const out: string[] = [];
  const failed = s.preview?.outcome === "failure" || s.preview?.outcome === "cancelled";
  out.push(`### ${failed ? "❌" : "✅"} \`${s.stack}\``, "");
  if (!s.preview || s.preview.outcome === "skipped" || s.preview.outcome === "") {
    out.push("**Resource changes:** pulumi preview did not run.", "");
  } else {
    const summary = resourceSummary(s.preview.output);
    out.push(
      failed ? `**Resource changes:** pulumi preview failed${log}.` : "**Resource changes** (pulumi preview):",
      "",
    );
    if (summary) out.push(fenced(summary, "text"), "");
    if (s.preview.output.trim()) {
      out.push(
        "<details><summary>Full preview output</summary>",
        "",
        fenced(tail(s.preview.output.replace(ANSI, ""), PREVIEW_OUTPUT_LIMIT), "text"),
        "",
        "</details>",
        "",
      );
    }
  }
  const base = s.base;
  if (base && "format" in base) {
    const d = diffCost(base, s.head, { mode: "change", catalog: s.catalog, labels: { base: "base", head: "this PR" } });
    out.push(diffMarkdown(d), exposureMarkdown(d), topologyMarkdown(d.topology, d.topologyChanged));
  } else if (base && "newStack" in base) {
    const d = diffCost(emptyDocument(s.stack, s.head.environment, s.head.cost.catalogDate), s.head, {
      mode: "change",
      catalog: s.catalog,
      labels: { base: "base", head: "this PR" },
    });
    out.push(
      `Stack \`${s.stack}\` is new in this PR: every resource is an addition.`,
      "",
      diffMarkdown(d),
      exposureMarkdown(d),
      topologyMarkdown(d.topology, true),
    );
  } else {
    out.push(
      `No cost diff: ${base && "missing" in base ? base.missing : "no base document"}. The cost of this PR's \`${s.stack}\`:`,
      "",
      documentMarkdown(s.head, s.catalog),
      topologyMarkdown(s.head.topology, false),
    );
  }
  return out.join("\n");
}

/** The whole comment: marker, heading, one section per stack (a missing section is said so). */
export function assembleComment(
  stacks: string[],
  sections: Record<string, string | undefined>,
  meta: { sha?: string; runUrl?: string },
): string {
  const parts = [PREVIEW_MARKER, `## Infrastructure preview${meta.sha ? ` of ${meta.sha.slice(0, 7)}` : ""}`, ""];
  for (const stack of stacks) {
    parts.push(
      sections[stack]?.trim()
        ? sections[stack]!.trimEnd()
        : `### ❌ \`${stack}\`\n\nThe preview job of this stack produced no result${meta.runUrl ? ` (see the [run](${meta.runUrl}))` : ""}.`,
      "",
    );
  }
  parts.push(
    `<sub>Updated in place by the preview workflow${meta.runUrl ? ` ([run](${meta.runUrl}))` : ""}. Prices: EUR per month, VAT excluded, from infra/catalog/hetzner-prices.json.</sub>`,
  );
  const body = parts.join("\n");
  return body.length <= BODY_LIMIT
    ? body
    : `${body.slice(0, BODY_LIMIT - 200)}\n\n… (comment cut at GitHub's size limit; the job logs have everything)`;
}

export type DriftStatus = "clean" | "drift" | "error";

/** pulumi preview --expect-no-changes: exit 0 is clean; a non-zero exit is drift only with pulumi's own message. */
export function classifyDrift(exitCode: number, output: string): DriftStatus {
  if (exitCode === 0) return "clean";
  return /no changes were expected( for \S+)? but changes (were proposed|occurred)/.test(output) ? "drift" : "error";
}

export interface DriftResult {
  stack: string;
  status: DriftStatus;
  output: string;
}

export function driftIssueBody(results: DriftResult[], meta: { date: string; runUrl?: string }): string {
  const word = { clean: "✅ no drift", drift: "⚠️ drift", error: "❌ check failed" };
  const parts = [
    DRIFT_MARKER,
    `The nightly drift check (\`pulumi preview --refresh --expect-no-changes\`) found differences between the stacks and the real Hetzner resources. Last check: ${meta.date}${meta.runUrl ? ` ([run](${meta.runUrl}))` : ""}.`,
    "",
    "| stack | result |",
    "|---|---|",
    ...results.map((r) => `| \`${r.stack}\` | ${word[r.status]} |`),
    "",
    "Either the change was made outside Pulumi (console, API) and must be undone or adopted into the code, or the code changed without `pulumi up`. Run `pulumi preview --refresh --stack <stack>` to see it. This issue is updated in place every night and closed by the first clean run.",
    "",
  ];
  for (const r of results.filter((x) => x.status !== "clean")) {
    const summary = resourceSummary(r.output);
    parts.push(
      `### \`${r.stack}\`: ${word[r.status]}`,
      "",
      ...(summary ? [fenced(summary, "text"), ""] : []),
      ...foldedOutput("preview output", r.output),
    );
  }
  return issueBody(parts);
}

/** A long output folded under a summary line, its end kept (where the error is). */
function foldedOutput(summary: string, text: string): string[] {
  return [
    `<details><summary>${summary}</summary>`,
    "",
    fenced(tail(text.replace(ANSI, ""), 25_000), "text"),
    "",
    "</details>",
    "",
  ];
}

/** An issue body from its parts, cut to GitHub's size limit. */
function issueBody(parts: string[]): string {
  const body = parts.join("\n");
  return body.length <= BODY_LIMIT
    ? body
    : `${body.slice(0, BODY_LIMIT - 200)}\n\n… (cut at GitHub's size limit; the job logs have everything)`;
}

export const DRILL_MARKER = "<!-- xiopro-infra:drill -->";

/** What `npm run drill -- --stack S --fresh-vm --json` left: its exit code, report and log. */
export interface DrillOutcome {
  stack: string;
  /** undefined when the job failed before the drill ran. */
  exit?: number;
  report?: {
    ok: boolean;
    drillStack: string;
    destroyed: boolean;
    steps: { id: string; title: string; status: string; seconds: number; detail: string }[];
    restore?: Record<string, unknown>;
    totalSeconds: number;
  };
  log: string;
}

/** A drill passed only when it exited 0 and its own report says so. */
export const drillPassed = (o: DrillOutcome): boolean => o.exit === 0 && o.report?.ok === true;

/** The one drill issue: each step with its time and detail, the restore's result, the log's end. */
export function drillIssueBody(o: DrillOutcome, meta: { date: string; runUrl?: string }): string {
  const icon = (s: string) => (s === "ok" ? "✅" : s === "failed" ? "❌" : "➖");
  const parts = [
    DRILL_MARKER,
    `The weekly restore drill of \`${o.stack}\` on a throwaway server (\`npm run drill -- --stack ${o.stack} --fresh-vm\`) failed. Last run: ${meta.date}${meta.runUrl ? ` ([run](${meta.runUrl}))` : ""}.`,
    "",
  ];
  if (!o.report)
    parts.push(
      o.exit === undefined
        ? "The job ended before the drill ran (no exit code was recorded)."
        : `The drill exited ${o.exit} without a report.`,
      "",
    );
  else {
    parts.push(
      "| step | result | seconds | detail |",
      "|---|---|---|---|",
      ...o.report.steps.map(
        (s) =>
          `| ${s.title.replace(/\|/g, "\\|")} | ${icon(s.status)} ${s.status} | ${s.seconds.toFixed(1)} | ${s.detail.replace(/\n/g, " ").replace(/\|/g, "\\|").slice(0, 300)} |`,
      ),
      "",
    );
    if (!o.report.destroyed)
      parts.push(
        `**The drill stack \`${o.report.drillStack}\` was not destroyed**: it still costs money. \`pulumi destroy --stack ${o.report.drillStack}\`.`,
        "",
      );
    if (o.report.restore)
      parts.push(
        "Restore result on the drill server:",
        "",
        fenced(JSON.stringify(o.report.restore, null, 2), "json"),
        "",
      );
  }
  parts.push(
    "Backups that cannot be restored on a new server are not backups: find the cause before the next night's backups age out (docs/runbooks/rebuild.md). This issue is updated in place by every failed drill and closed by the next one that passes.",
    "",
    ...foldedOutput("drill log", o.log),
  );
  return issueBody(parts);
}
