// Renders an acceptance run as a table, Markdown (for a PR or issue comment) or JSON.
import type { AcceptRun } from "./accept.js";

const ICON = { pass: "PASS", fail: "FAIL", skip: "skip" } as const;

/** The run's timings in one line: the facts' sections only as the three slowest. */
export function timingsLine(timings: Record<string, number>, unit = ""): string {
  const main = Object.entries(timings).filter(([k]) => !k.startsWith("facts."));
  const sections = Object.entries(timings)
    .filter(([k]) => k.startsWith("facts."))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, v]) => `${k.slice("facts.".length).replace(/Seconds$/, "")} ${v.toFixed(1)}${unit}`);
  return [
    ...main.map(([k, v]) => `${k} ${v.toFixed(1)}${unit}`),
    ...(sections.length ? [`slowest facts: ${sections.join(", ")}`] : []),
  ].join(", ");
}

export function table(run: AcceptRun): string {
  const rows = run.results.map((r) => [
    r.name,
    ICON[r.result] + (r.required ? "" : " (optional)"),
    r.detail,
    r.seconds ? r.seconds.toFixed(1) : "",
  ]);
  const head = ["check", "result", "detail", "s"];
  const w = head.map((h, i) => Math.min(i === 2 ? 90 : 60, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (c.length > w[i]! ? c.slice(0, w[i]! - 1) + "…" : c.padEnd(w[i]!)))
      .join("  ")
      .trimEnd();
  const failed = run.results.filter((r) => r.required && r.result === "fail").length;
  return [
    `Acceptance of ${run.node} (stack ${run.stack}, commit ${run.commit}) at ${run.startedAt}`,
    fmt(head),
    w.map((n) => "-".repeat(n)).join("  "),
    ...rows.map(fmt),
    "",
    `timings: ${timingsLine(run.timings)}`,
    run.passed
      ? `ACCEPTED: ${run.results.filter((r) => r.result === "pass").length} checks passed`
      : `NOT ACCEPTED: ${failed} required check${failed === 1 ? "" : "s"} failed`,
  ].join("\n");
}

export function markdown(run: AcceptRun): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [
    `### Acceptance of \`${run.node}\` (stack \`${run.stack}\`, commit \`${run.commit}\`): ${run.passed ? "✅ accepted" : "❌ not accepted"}`,
    "",
    "| check | result | detail | s |",
    "|---|---|---|---|",
    ...run.results.map(
      (r) =>
        `| ${esc(r.name)} | ${r.result === "pass" ? "✅" : r.result === "fail" ? (r.required ? "❌" : "⚠️") : "➖"} | ${esc(r.detail)} | ${r.seconds ? r.seconds.toFixed(1) : ""} |`,
    ),
    "",
    `Timings: ${timingsLine(run.timings, " s")}`,
    "",
  ].join("\n");
}
