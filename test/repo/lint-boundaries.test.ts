// The one-way import rules (eslint.boundaries.mjs) refuse what they say they refuse: run through
// ESLint with only that block, on code placed in each room.
import * as fs from "node:fs";
import * as path from "node:path";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/helpers.js";

async function violations(file: string, code: string): Promise<string[]> {
  const { boundaries, CLI_ROOMS } = await import("../../eslint.boundaries.mjs");
  expect(CLI_ROOMS).toEqual(["accept", "bake", "ci", "cost", "plan", "pricing", "rebuild", "state", "update"]);
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [{ files: ["**/*.ts"], languageOptions: { parser: tseslint.parser } }, boundaries],
  });
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}/${file}` });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe("import boundaries", () => {
  it("keeps the product's flow one way: catalog → config → plan → render | components → program", async () => {
    const rule = 'import-x/no-restricted-paths: Unexpected path "PATH" imported in restricted zone. ';
    expect(
      await violations("infra/config/probe.ts", 'import { buildPlan } from "../plan/index.js";\nvoid buildPlan;\n'),
    ).toEqual([
      rule.replace("PATH", "../plan/index.js") +
        "config comes before the plan: move what both need into config or the catalog",
    ]);
    expect(
      await violations(
        "infra/catalog/probe.ts",
        'import { CONFIG_KEYS } from "../config/keys.js";\nvoid CONFIG_KEYS;\n',
      ),
    ).toEqual([rule.replace("PATH", "../config/keys.js") + "the catalog is the bottom room: it imports no other room"]);
    expect(
      await violations(
        "infra/plan/probe.ts",
        'import { renderUserData } from "../../cloud-init/render.js";\nvoid renderUserData;\n',
      ),
    ).toEqual([
      rule.replace("PATH", "../../cloud-init/render.js") +
        "the plan is pure: it imports no renderer, component or program",
    ]);
    expect(
      await violations(
        "infra/components/probe.ts",
        'import { renderUserData } from "../../cloud-init/render.js";\nvoid renderUserData;\n',
      ),
    ).toEqual([
      rule.replace("PATH", "../../cloud-init/render.js") +
        "components map the plan onto resources: the program hands them what was rendered",
    ]);
    expect(
      await violations("cloud-init/probe.ts", 'import { runProgram } from "../infra/program.js";\nvoid runProgram;\n'),
    ).toEqual([
      rule.replace("PATH", "../infra/program.js") +
        "the renderer turns a plan into text: it imports no component or program",
    ]);
    expect(
      await violations(
        "infra/program-probe.ts",
        'import { buildPlan } from "./plan/index.js";\nimport { renderUserData } from "../cloud-init/render.js";\nvoid buildPlan;\nvoid renderUserData;\n',
      ),
    ).toEqual([]);
  });

  it("keeps the lab (shared by tests and benchmarks) and the benchmarks free of test code", async () => {
    const rule = 'import-x/no-restricted-paths: Unexpected path "PATH" imported in restricted zone. ';
    expect(
      await violations(
        "bench/probe.ts",
        'import { problemsOf } from "../test/support/helpers.js";\nvoid problemsOf;\n',
      ),
    ).toEqual([rule.replace("PATH", "../test/support/helpers.js") + "the lab and the benchmarks import no test code"]);
    expect(await violations("lab/probe.ts", 'import { ack } from "../bench/ack-load.js";\nvoid ack;\n')).toEqual([
      rule.replace("PATH", "../bench/ack-load.js") + "the lab is shared by tests and benchmarks and imports neither",
    ]);
    expect(await violations("bench/probe.ts", 'import { planOf } from "../lab/stacks.js";\nvoid planOf;\n')).toEqual(
      [],
    );
  });

  it("refuses an import cycle", async () => {
    const dir = fs.mkdtempSync(path.join(ROOT, "test", ".cycle-"));
    try {
      fs.writeFileSync(path.join(dir, "a.ts"), 'import { b } from "./b.js";\nexport const a = () => b;\n');
      fs.writeFileSync(path.join(dir, "b.ts"), 'import { a } from "./a.js";\nexport const b = () => a;\n');
      expect(
        await violations(path.relative(ROOT, path.join(dir, "a.ts")), fs.readFileSync(path.join(dir, "a.ts"), "utf8")),
      ).toEqual(["import-x/no-cycle: Dependency cycle detected"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a CLI importing another CLI's room, and lets it import its own room and scripts/lib", async () => {
    expect(
      await violations("scripts/ci/probe.ts", 'import { accept } from "../accept/accept.js";\nvoid accept;\n'),
    ).toEqual([
      'import-x/no-restricted-paths: Unexpected path "../accept/accept.js" imported in restricted zone. a CLI imports only its own room and scripts/lib/ (move what two CLIs share to scripts/lib/)',
    ]);
    expect(
      await violations(
        "scripts/ci/probe.ts",
        'import { github } from "./github.js";\nimport { UsageError } from "../lib/cli.js";\nvoid github;\nvoid UsageError;\n',
      ),
    ).toEqual([]);
  });

  it("refuses scripts/lib importing a CLI room, product code importing scripts, and anything importing test code", async () => {
    expect(
      await violations("scripts/lib/probe.ts", 'import { runPlanCli } from "../plan/cli.js";\nvoid runPlanCli;\n'),
    ).toEqual([
      'import-x/no-restricted-paths: Unexpected path "../plan/cli.js" imported in restricted zone. scripts/lib/ is shared by the CLIs and imports none of them',
    ]);
    expect(
      await violations(
        "infra/plan/probe.ts",
        'import { REPO_ROOT } from "../../scripts/lib/cli.js";\nvoid REPO_ROOT;\n',
      ),
    ).toEqual([
      'import-x/no-restricted-paths: Unexpected path "../../scripts/lib/cli.js" imported in restricted zone. product code never imports the CLIs',
    ]);
    expect(
      await violations(
        "scripts/rebuild/probe.ts",
        'import { planOf } from "../../test/support/helpers.js";\nvoid planOf;\n',
      ),
    ).toEqual([
      'import-x/no-restricted-paths: Unexpected path "../../test/support/helpers.js" imported in restricted zone. product code and CLIs import no test, benchmark or lab code',
    ]);
  });
});
