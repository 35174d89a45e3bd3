// The one-way import rules (eslint.boundaries.mjs) refuse what they say they refuse: run through
// ESLint with only that block, on code placed in each room.
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers";

async function violations(file: string, code: string): Promise<string[]> {
  const { boundaries, CLI_ROOMS } = await import("../eslint.boundaries.mjs");
  expect(CLI_ROOMS).toEqual(["accept", "ci", "cost", "plan", "pricing", "rebuild"]);
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [{ files: ["**/*.ts"], languageOptions: { parser: tseslint.parser } }, boundaries],
  });
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}/${file}` });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe("import boundaries", () => {
  it("refuses a CLI importing another CLI's room, and lets it import its own room and scripts/lib", async () => {
    expect(
      await violations("scripts/ci/probe.ts", 'import { accept } from "../accept/accept";\nvoid accept;\n'),
    ).toEqual([
      'import-x/no-restricted-paths: Unexpected path "../accept/accept" imported in restricted zone. a CLI imports only its own room and scripts/lib/ (move what two CLIs share to scripts/lib/)',
    ]);
    expect(
      await violations(
        "scripts/ci/probe.ts",
        'import { github } from "./github";\nimport { UsageError } from "../lib/cli";\nvoid github;\nvoid UsageError;\n',
      ),
    ).toEqual([]);
  });

  it("refuses scripts/lib importing a CLI room, product code importing scripts, and anything importing test code", async () => {
    expect(
      await violations("scripts/lib/probe.ts", 'import { runPlanCli } from "../plan/cli";\nvoid runPlanCli;\n'),
    ).toEqual([
      'import-x/no-restricted-paths: Unexpected path "../plan/cli" imported in restricted zone. scripts/lib/ is shared by the CLIs and imports none of them',
    ]);
    expect(
      await violations("infra/plan/probe.ts", 'import { REPO_ROOT } from "../../scripts/lib/cli";\nvoid REPO_ROOT;\n'),
    ).toEqual([
      'import-x/no-restricted-paths: Unexpected path "../../scripts/lib/cli" imported in restricted zone. product code never imports the CLIs',
    ]);
    expect(
      await violations("scripts/rebuild/probe.ts", 'import { planOf } from "../../test/helpers";\nvoid planOf;\n'),
    ).toEqual([
      'import-x/no-restricted-paths: Unexpected path "../../test/helpers" imported in restricted zone. product code and CLIs import no test or benchmark code',
    ]);
  });
});
