// npm run plan -- --stack <prd|tst> [--out DIR] [--json]
// Evaluates the real stack program offline (Pulumi mock runtime): no account, no network, no CLI.
import * as path from "node:path";
import { formatPlanReport, runPlan, writePlanOutputs } from "../lib/offline-plan.js";
import { parseFlags, REPO_ROOT, UsageError } from "../lib/cli.js";

const USAGE = `Usage: npm run plan -- (--stack <name> | --stack-file FILE) [--out DIR] [--json]

Evaluates the stack program offline and prints the resources it would declare, the exposure
matrix and the monthly cost. Needs no Hetzner account, no network and no Pulumi CLI.

Options:
  --stack NAME       stack to plan (reads Pulumi.NAME.yaml)
  --stack-file FILE  plan this stack config file instead (stack name from Pulumi.<name>.yaml)
  --out DIR      also write each node's user-data, the stack outputs, the resource list, the
                 topology diagram and each node's unpacked files (DIR/<node>/files/) to DIR
  --json         print one JSON document instead of tables
  -h, --help     show this help

Examples:
  npm run plan -- --stack prd
  npm run plan -- --stack tst --out .plan/tst --json`;

async function main(): Promise<number> {
  const args = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof args === "number") return args;
  if (!args.stack === !args["stack-file"]) {
    console.error(`give exactly one of --stack and --stack-file\n\n${USAGE}`);
    return 2;
  }
  const stack = args.stack ?? path.basename(args["stack-file"]!).replace(/^Pulumi\.|\.yaml$/g, "");
  try {
    const result = await runPlan(REPO_ROOT, stack, args["stack-file"] && path.resolve(args["stack-file"]));
    if (args.out) writePlanOutputs(result, args.out);
    console.log(
      args.json
        ? JSON.stringify(
            { stack: result.stack, resources: result.resources, outputs: result.outputs, userData: result.userData },
            null,
            2,
          )
        : formatPlanReport(result),
    );
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`plan failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
