// Renders an acceptance run as a table, Markdown (for a PR or issue comment) or JSON.
import type { AcceptRun } from "./accept";

const ICON = { pass: "PASS", fail: "FAIL", skip: "skip" } as const;

export function table(run: AcceptRun): string {
  const rows = run.results.map((r) => [r.name, ICON[r.result] + (r.required ? "" : " (optional)"), r.detail, r.seconds ? r.seconds.toFixed(1) : ""]);
  const head = ["check", "result", "detail", "s"];
  const w = head.map((h, i) => Math.min(i === 2 ? 90 : 60, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const fmt = (r: string[]) => r.map((c, i) => (c.length > w[i]! ? c.slice(0, w[i]! - 1) + "…" : c.padEnd(w[i]!))).join("  ").trimEnd();
  const failed = run.results.filter((r) => r.required && r.result === "fail").length;
  return [
    `Acceptance of ${run.node} (stack ${run.stack}, commit ${run.commit}) at ${run.startedAt}`,
    fmt(head),
    w.map((n) => "-".repeat(n)).join("  "),
    ...rows.map(fmt),
    "",
    `timings: ${Object.entries(run.timings).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}`,
    run.passed ? `ACCEPTED: ${run.results.filter((r) => r.result === "pass").length} checks passed` : `NOT ACCEPTED: ${failed} required check${failed === 1 ? "" : "s"} failed`,
  ].join("\n");
}

export function markdown(run: AcceptRun): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [
    `### Acceptance of \`${run.node}\` (stack \`${run.stack}\`, commit \`${run.commit}\`): ${run.passed ? "✅ accepted" : "❌ not accepted"}`,
    "",
    "| check | result | detail | s |",
    "|---|---|---|---|",
    ...run.results.map((r) => `| ${esc(r.name)} | ${r.result === "pass" ? "✅" : r.result === "fail" ? (r.required ? "❌" : "⚠️") : "➖"} | ${esc(r.detail)} | ${r.seconds ? r.seconds.toFixed(1) : ""} |`),
    "",
    `Timings: ${Object.entries(run.timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(", ")}`,
    "",
  ].join("\n");
}
