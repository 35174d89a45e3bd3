// The node's layout (infra/catalog/layout.ts) is written once: no other TypeScript string, no unit
// template and no node script spells one of its paths. Units take them as {{XIOPRO_…}}
// placeholders filled from it; the scripts read /etc/xiopro/layout.env, rendered from it.
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { ADMIN_USER, LAYOUT_ENV, LAYOUT_ENV_FILE, NODE_LAYOUT } from "../../infra/catalog/layout.js";
import { layoutEnv } from "../../cloud-init/configs.js";
import { nodeFiles } from "../../cloud-init/render.js";
import { fill } from "../../cloud-init/templates.js";
import { repoFiles } from "../support/commands.js";
import { planOf, ROOT } from "../support/helpers.js";

const PATHS = [
  NODE_LAYOUT.XIOPRO_LIB,
  `${NODE_LAYOUT.XIOPRO_ETC}/`,
  NODE_LAYOUT.XIOPRO_STATE_DIR,
  NODE_LAYOUT.XIOPRO_METRICS_DIR,
  `${NODE_LAYOUT.XIOPRO_HOME}/`,
  NODE_LAYOUT.XIOPRO_CREDSTORE,
  NODE_LAYOUT.XIOPRO_PG_VOLUME,
];

/** The string literals and template parts of a TypeScript file, with their lines. */
function strings(file: string, text: string): { line: number; text: string }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: { line: number; text: string }[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isStringLiteralLike(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n))
      out.push({ line: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1, text: n.text });
    n.forEachChild(visit);
  };
  visit(sf);
  return out;
}

function copiesIn(files: string[], read: (f: string) => { line: number; text: string }[]): string[] {
  const found: string[] = [];
  for (const f of files)
    for (const s of read(f)) for (const p of PATHS) if (s.text.includes(p)) found.push(`${f}:${s.line}: ${p}`);
  return found;
}

describe("the node layout", () => {
  it("is spelled only in infra/catalog/layout.ts among the product's and CLIs' TypeScript strings", () => {
    const files = repoFiles(ROOT).filter(
      (f) => /^(infra|cloud-init|scripts|policy)\/.*\.ts$/.test(f) && f !== "infra/catalog/layout.ts",
    );
    expect(files.length).toBeGreaterThan(40);
    const read = (f: string) => strings(f, fs.readFileSync(path.join(ROOT, f), "utf8"));
    expect(copiesIn(files, read)).toEqual([]);
    // The check can fail: a copy planted in a string is found.
    expect(
      copiesIn(["probe.ts"], () => strings("probe.ts", `const x = "${NODE_LAYOUT.XIOPRO_LIB}/bootstrap";`)),
    ).toEqual([`probe.ts:1: ${NODE_LAYOUT.XIOPRO_LIB}`]);
  });

  it("reaches the unit templates only through placeholders, which fill from the layout", () => {
    const units = repoFiles(ROOT).filter((f) => f.startsWith("units/"));
    expect(units.length).toBeGreaterThan(15);
    const read = (f: string) =>
      fs
        .readFileSync(path.join(ROOT, f), "utf8")
        .split("\n")
        .map((text, i) => ({ line: i + 1, text }));
    expect(copiesIn(units, read)).toEqual([]);
    const prune = fill("units/xiopro-walreceiver-prune.service", {});
    expect(prune).toContain(`EnvironmentFile=${NODE_LAYOUT.XIOPRO_ETC}/wal-receiver.env\n`);
    expect(prune).toContain(`ExecStart=${NODE_LAYOUT.XIOPRO_LIB}/xiopro-walreceiver prune\n`);
  });

  it("reaches the node scripts only through layout.env: no script restates a path as a default", () => {
    const scripts = repoFiles(ROOT).filter(
      (f) => f.startsWith("cloud-init/files/") && /^#!.*bash/.test(fs.readFileSync(path.join(ROOT, f), "utf8")),
    );
    expect(scripts.length).toBeGreaterThan(10);
    // Code lines only; the one path a script knows is the layout file itself. xiopro-restore's usage
    // text shows an operator where `npm run rebuild` puts the receiver's WAL.
    const read = (f: string) =>
      fs
        .readFileSync(path.join(ROOT, f), "utf8")
        .split("\n")
        .map((text, i) => ({ line: i + 1, text }))
        .filter((l) => !/^\s*#/.test(l.text) && !l.text.includes(LAYOUT_ENV_FILE))
        .filter((l) => !(f.endsWith("/xiopro-restore") && l.text.startsWith("  sudo xiopro-restore ")));
    expect(copiesIn(scripts, read)).toEqual([]);
    for (const f of scripts)
      expect(fs.readFileSync(path.join(ROOT, f), "utf8"), f).not.toMatch(/\$\{XIOPRO_LIB:-|\$\{PGBACKREST_STANZA:-/);
  });

  it("renders layout.env from the layout, and every node gets it", () => {
    const env = layoutEnv();
    for (const [k, v] of Object.entries(LAYOUT_ENV)) expect(env).toContain(`\n${k}=${v}\n`);
    for (const stack of ["prd", "tst"]) {
      const plan = planOf(stack);
      for (const node of plan.nodes)
        expect(nodeFiles(plan, node).find((f) => f.path === LAYOUT_ENV_FILE)?.content, node.name).toBe(env);
    }
  });

  it("names the admin user the CLIs default to", async () => {
    for (const cli of ["scripts/accept/cli.ts", "scripts/rebuild/cli.ts", "scripts/rebuild/drill-cli.ts"])
      expect(fs.readFileSync(path.join(ROOT, cli), "utf8")).toContain(
        '"ssh-user": { type: "string", default: ADMIN_USER }',
      );
    expect(ADMIN_USER).toBe("ops");
  });
});
