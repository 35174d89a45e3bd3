// npm run plan -- --stack <prd|tst> [--out DIR] [--json]
// Evaluates the real stack program offline (Pulumi mock runtime): no account, no network, no CLI.
import { parseArgs } from "node:util";
import { formatPlanReport, PlanConfigError, REPO_ROOT, runPlan, writePlanOutputs } from "./plan";

const USAGE = `Usage: npm run plan -- --stack <name> [--out DIR] [--json]

Evaluates the stack program offline and prints the resources it would declare, the exposure
matrix and the monthly cost. Needs no Hetzner account, no network and no Pulumi CLI.

Options:
  --stack NAME   stack to plan (reads Pulumi.NAME.yaml)            [required]
  --out DIR      also write each node's user-data, the stack outputs, the resource list and
                 the topology diagram to DIR
  --json         print one JSON document instead of tables
  -h, --help     show this help

Examples:
  npm run plan -- --stack prd
  npm run plan -- --stack tst --out .plan/tst --json`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: { stack: { type: "string" }, out: { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } },
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (!args.stack) {
    console.error(`--stack is required\n\n${USAGE}`);
    return 2;
  }
  try {
    const result = await runPlan(REPO_ROOT, args.stack);
    if (args.out) writePlanOutputs(result, args.out);
    console.log(args.json ? JSON.stringify({ stack: result.stack, resources: result.resources, outputs: result.outputs, userData: result.userData }, null, 2) : formatPlanReport(result));
    return 0;
  } catch (e) {
    if (e instanceof PlanConfigError) {
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
