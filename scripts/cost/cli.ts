// npm run cost -- --stack <s> [--vs <s2> | --diff base.json] [--markdown | --json]
import * as fs from "node:fs";
import * as path from "node:path";
import { catalog } from "../../infra/catalog/index.js";
import { diffCost } from "../lib/cost-diff.js";
import { CostInputError, parseCostDocument } from "../lib/cost-document.js";
import {
  diffMarkdown,
  diffText,
  documentMarkdown,
  documentText,
  exposureMarkdown,
  topologyMarkdown,
} from "../lib/cost-format.js";
import { loadCostDocument, type SourceChoice } from "../lib/cost-source.js";
import { parseFlags, UsageError } from "../lib/cli.js";

const USAGE = `Usage: npm run cost -- (--stack NAME | --stack-file FILE) [--vs NAME | --diff BASE.json] [options]

Monthly and yearly cost of a stack from the dated price catalog, per resource (EUR, VAT excluded).
The numbers come from the deployed stack's outputs (pulumi stack output) when a Pulumi CLI is
logged in to a backend that has the stack, else from the offline plan; the output says which.

  --diff BASE.json compares this stack with a document that --json wrote earlier (in CI: on the
  base branch). It marks every server the change would create, replace or rescale, with the
  price Hetzner bills for that new order, and lists the ports opened or closed by class.
  --vs NAME compares two stacks side by side (names without the environment prefix are matched).

Options:
  --stack NAME        stack (reads Pulumi.NAME.yaml for the offline plan)
  --stack-file FILE   plan this stack config file instead (offline only)
  --vs NAME           compare with another stack
  --diff FILE         diff against a cost document written by --json
  --source WHERE      auto (default), stack (outputs only) or plan (offline only);
                      with --diff, auto means plan: a diff previews the code, not the deployment
  --markdown          Markdown (PR comment, job summary) instead of a table
  --json              the cost document (or the diff) as JSON
  -h, --help          show this help

Exit status: 0 printed; 1 invalid stack config or unreadable input (the report names the fix);
2 usage; 3 an unexpected failure (a bug: the message says where).

Examples:
  npm run cost -- --stack prd
  npm run cost -- --stack prd --vs tst
  npm run --silent cost -- --stack tst --source plan --json > base.json   # on the base branch
  npm run cost -- --stack tst --diff base.json --markdown`;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      vs: { type: "string" },
      diff: { type: "string" },
      source: { type: "string", default: "auto" },
      markdown: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  const usage = (msg: string) => (console.error(`${msg}\n\n${USAGE}`), 2);
  if (!v.stack === !v["stack-file"]) return usage("give exactly one of --stack and --stack-file");
  if (v.vs && v.diff) return usage("give at most one of --vs and --diff");
  if (v.json && v.markdown) return usage("give at most one of --json and --markdown");
  if (!["auto", "stack", "plan"].includes(v.source!))
    return usage(`--source ${v.source} is not one of auto, stack, plan`);
  if (v["stack-file"] && v.source === "stack") return usage("--stack-file is planned offline: drop --source stack");

  const stackFile = v["stack-file"] && path.resolve(v["stack-file"]);
  const stack = v.stack ?? path.basename(stackFile!).replace(/^Pulumi\.|\.yaml$/g, "");
  const source = (v.diff && v.source === "auto" ? "plan" : v.source) as SourceChoice;
  try {
    // Read the base first: a bad --diff file fails before the slower plan runs.
    const base = v.diff ? parseCostDocument(readInput(v.diff), v.diff) : undefined;
    if (base && base.stack !== stack)
      throw new CostInputError(
        `${v.diff} is a document of stack ${base.stack}, not ${stack}: use --vs ${base.stack} to compare two stacks`,
      );
    const head = await loadCostDocument({ stack, stackFile, source });
    if (!base && !v.vs) {
      console.log(v.json ? JSON.stringify(head, null, 2) : v.markdown ? documentMarkdown(head) : documentText(head));
      return 0;
    }
    let diff;
    if (base) {
      diff = diffCost(base, head, { mode: "change", catalog, labels: { base: "base", head: "this change" } });
    } else {
      const other = await loadCostDocument({ stack: v.vs!, source });
      diff = diffCost(other, head, { mode: "compare", catalog });
    }
    console.log(
      v.json
        ? JSON.stringify(diff, null, 2)
        : v.markdown
          ? [diffMarkdown(diff), exposureMarkdown(diff), topologyMarkdown(diff.topology, diff.topologyChanged)].join(
              "\n",
            )
          : diffText(diff),
    );
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof CostInputError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
}

function readInput(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new CostInputError(
      `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give the path of a document written by npm run cost -- --json`,
    );
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    // Not a config problem: keep it apart from exit 1, whose stderr CI posts as the validation report.
    console.error(`cost failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(3);
  },
);
