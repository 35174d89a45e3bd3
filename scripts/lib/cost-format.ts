// Text and Markdown renderings of a cost document and of a cost diff. Pure.
import {
  catalog as defaultCatalog,
  existingRate,
  EXISTING_RATE_CUTOFF,
  type Catalog,
} from "../../infra/catalog/index.js";
import type { CostDiff, DiffRow, ExposureChange, ServerAction } from "./cost-diff.js";
import { totalCents, type CostDocument, type CostSource } from "./cost-document.js";

const money = (e: number) => e.toFixed(2);
/** Signed amount with a real minus sign; zero has no sign. */
export const signed = (e: number) =>
  Math.round(e * 100) === 0 ? "0.00" : `${e > 0 ? "+" : "−"}${Math.abs(e).toFixed(2)}`;

export const SOURCE_NAMES: Record<CostSource, string> = {
  "stack-output": "stack outputs (pulumi stack output)",
  "offline-plan": "offline plan (the program under Pulumi mocks)",
  none: "nothing (new stack)",
};

export function table(headers: string[], rows: string[][], right: number[] = []): string {
  const cells = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [fmt(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(fmt)].join("\n");
}

/** Markdown table cell: no pipes or newlines inside. */
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

function existingRateNotes(doc: CostDocument, cat: Catalog): string[] {
  return doc.servers.flatMap((s) => {
    const rate = existingRate(cat, s.serverType, s.location);
    const now = cat.serverTypes[s.serverType]?.monthly[s.location];
    return rate !== undefined && rate !== now
      ? [
          `${s.name} (${s.serverType}, ${s.location}) is priced at the new-order rate ${money(now!)}; a server ordered before ${EXISTING_RATE_CUTOFF} keeps ${money(rate)} until it is rescaled or replaced.`,
        ]
      : [];
  });
}

/** The cost of one stack as a terminal table. */
export function documentText(doc: CostDocument, cat: Catalog = defaultCatalog): string {
  const c = doc.cost;
  const total = totalCents(c.lines);
  return [
    `Cost of stack ${doc.stack}, EUR per month, VAT excluded, catalog ${c.catalogDate}`,
    `Source: ${SOURCE_NAMES[doc.source]}: ${doc.sourceDetail}`,
    "",
    table(
      ["resource", "description", "EUR/month"],
      [
        ...c.lines.map((l) => [l.resource, l.description + (l.estimated ? " (estimate)" : ""), money(l.monthlyEur)]),
        ["total", `per year ${money((total * 12) / 100)}`, money(total / 100)],
      ],
      [2],
    ),
    ...existingRateNotes(doc, cat).map((n) => `\nNote: ${n}`),
    ...(c.elsewhere ?? []).map((e) => `\nNot in the total: ${e}.`),
  ].join("\n");
}

/** The cost of one stack in Markdown (a job summary or a PR comment of a stack without a base). */
export function documentMarkdown(doc: CostDocument, cat: Catalog = defaultCatalog): string {
  const c = doc.cost;
  const total = totalCents(c.lines);
  return [
    `#### Cost of \`${doc.stack}\`: ${money(total / 100)} EUR/month, ${money((total * 12) / 100)} EUR/year`,
    "",
    `VAT excluded; price catalog ${c.catalogDate}; source: ${SOURCE_NAMES[doc.source]}.`,
    "",
    "| resource | description | EUR/month |",
    "|---|---|--:|",
    ...c.lines.map(
      (l) =>
        `| \`${cell(l.resource)}\` | ${cell(l.description)}${l.estimated ? " (estimate)" : ""} | ${money(l.monthlyEur)} |`,
    ),
    `| **total** | per year ${money((total * 12) / 100)} | **${money(total / 100)}** |`,
    ...existingRateNotes(doc, cat).map((n) => `\n> ${n}`),
    ...(c.elsewhere ?? []).map((e) => `\n> Not in the total: ${e}.`),
    "",
  ].join("\n");
}

const STATUS: Record<DiffRow["status"], string> = {
  added: "new",
  removed: "removed",
  changed: "changed",
  unchanged: "",
};
const ACTION_WORD: Partial<Record<ServerAction, string>> = {
  replace: "REPLACED",
  rescale: "RESCALED",
  "update-in-place": "updated in place",
};

/** The change column: what happens to a server row's server, else the line's status. */
function changeWord(d: CostDiff, r: DiffRow): string {
  const s = r.kind === "server" ? d.servers.find((x) => r.resource === `server:${x.name}`) : undefined;
  return (s && ACTION_WORD[s.action]) ?? STATUS[r.status];
}
const amount = (e?: number) => (e === undefined ? "–" : money(e));

export function diffText(d: CostDiff): string {
  const rows = d.rows.map((r) => [
    r.resource,
    changeWord(d, r),
    amount(r.baseEur),
    amount(r.headEur),
    signed(r.deltaEur),
    r.notes.join("; "),
  ]);
  rows.push(["total / month", "", money(d.base.monthlyEur), money(d.head.monthlyEur), signed(d.deltaMonthlyEur), ""]);
  rows.push(["total / year", "", money(d.base.yearlyEur), money(d.head.yearlyEur), signed(d.deltaYearlyEur), ""]);
  const parts = [
    `Cost ${d.mode === "compare" ? "comparison" : "diff"}: ${d.head.label} (stack ${d.head.stack}) against ${d.base.label} (stack ${d.base.stack}), EUR, VAT excluded, catalog ${catalogDates(d)}`,
    `Sources: ${d.base.label}: ${SOURCE_NAMES[d.base.source]}; ${d.head.label}: ${SOURCE_NAMES[d.head.source]}`,
    "",
    table(["resource", "change", d.base.label, d.head.label, "delta", "note"], rows, [2, 3, 4]),
    ...d.head.elsewhere.map((e) => `Not in the totals: ${e}.`),
  ];
  if (d.exposure.length > 0) {
    parts.push(
      "",
      "Exposure changes:",
      table(
        ["class", "change", "node", "port", "service/interface"],
        d.exposure.map((e) => [
          classLabel(e),
          e.change,
          e.node,
          `${e.port}/${e.protocol}`,
          `${e.service}/${e.interface}`,
        ]),
      ),
    );
  } else parts.push("", "Exposure: no port opened, closed or reclassified.");
  if (d.warnings.length > 0) parts.push("", ...d.warnings.map((w) => `WARNING: ${w}`));
  return parts.join("\n");
}

const catalogDates = (d: CostDiff) =>
  d.base.source === "none" || d.base.catalogDate === d.head.catalogDate
    ? d.head.catalogDate
    : `${d.base.catalogDate} → ${d.head.catalogDate}`;
const CLASS_NAMES: Record<string, string> = {
  A: "A public",
  B: "B admin overlay",
  C: "C private network",
  D: "D localhost",
};
const classLabel = (e: ExposureChange) =>
  e.fromClass
    ? `${CLASS_NAMES[e.fromClass] ?? e.fromClass} → ${CLASS_NAMES[e.class] ?? e.class}`
    : (CLASS_NAMES[e.class] ?? e.class);

/** The cost section of the PR comment: per-resource table, totals per month and year, marks, warnings. */
export function diffMarkdown(d: CostDiff): string {
  const marked = d.servers.filter((s) => s.action === "replace" || s.action === "rescale");
  const lines = [
    `#### Cost: ${signed(d.deltaMonthlyEur)} EUR/month (${signed(d.deltaYearlyEur)} EUR/year)`,
    "",
    `EUR per month, VAT excluded, price catalog ${catalogDates(d)}. ${d.base.label}: ${SOURCE_NAMES[d.base.source]}; ${d.head.label}: ${SOURCE_NAMES[d.head.source]}.`,
    "",
    `| resource | change | ${cell(d.base.label)} | ${cell(d.head.label)} | Δ/month | note |`,
    "|---|---|--:|--:|--:|---|",
    ...d.rows.map((r) => {
      const mark = r.kind === "server" && marked.some((s) => r.resource === `server:${s.name}`) ? "⚠️ " : "";
      return `| \`${cell(r.resource)}\` | ${changeWord(d, r)} | ${amount(r.baseEur)} | ${amount(r.headEur)} | ${r.deltaEur === 0 ? "" : signed(r.deltaEur)} | ${mark}${cell(r.notes.join("; "))}${r.estimated ? " (estimate)" : ""} |`;
    }),
    `| **total / month** | | **${money(d.base.monthlyEur)}** | **${money(d.head.monthlyEur)}** | **${signed(d.deltaMonthlyEur)}** | |`,
    `| total / year | | ${money(d.base.yearlyEur)} | ${money(d.head.yearlyEur)} | ${signed(d.deltaYearlyEur)} | |`,
    "",
    ...d.head.elsewhere.flatMap((e) => [`> Not in the totals: ${cell(e)}.`, ""]),
  ];
  for (const s of marked) {
    lines.push(
      `> ⚠️ **${s.action === "replace" ? "Replacement" : "Rescale"} of \`${s.name}\`** (${cell(s.reasons.join("; "))}): Hetzner bills ${s.action === "replace" ? "a replacement" : "a rescale"} as a new order at ${s.newOrderEur !== undefined ? `**${money(s.newOrderEur)} EUR/month**` : "an unknown price"}` +
        (s.existingRateEur !== undefined && s.extraIfExistingEur !== undefined
          ? `, not the rate of a server ordered before ${EXISTING_RATE_CUTOFF} (${money(s.existingRateEur)}): ${signed(s.extraIfExistingEur)} EUR/month if this server still pays that rate.`
          : "."),
      "",
    );
  }
  for (const s of d.servers.filter((x) => x.avoidable))
    lines.push(`> 💡 **Avoidable replacement**: ${s.avoidable}.`, "");
  const other = d.warnings.filter((w) => !w.startsWith("avoidable replacement:"));
  if (other.length > 0) lines.push(...other.map((w) => `- ⚠️ ${cell(w)}`), "");
  return lines.join("\n");
}

export function exposureMarkdown(d: CostDiff): string {
  if (d.exposure.length === 0) return "#### Exposure\n\nNo port opened, closed or reclassified.\n";
  return [
    "#### Exposure changes (by class)",
    "",
    "| class | change | node | port | service/interface | justification |",
    "|---|---|---|---|---|---|",
    ...d.exposure.map(
      (e) =>
        `| ${e.class === "A" && e.change !== "closed" ? "⚠️ " : ""}${classLabel(e)} | ${e.change} | ${e.node} | ${e.port}/${e.protocol} | ${cell(`${e.service}/${e.interface}`)} | ${cell(e.justification)} |`,
    ),
    "",
  ].join("\n");
}

export function topologyMarkdown(topology: string, changed: boolean): string {
  if (!topology) return "";
  return [
    `<details${changed ? " open" : ""}><summary>Topology${changed ? " (changed)" : ""}</summary>`,
    "",
    "```mermaid",
    topology.trimEnd(),
    "```",
    "",
    "</details>",
    "",
  ].join("\n");
}
