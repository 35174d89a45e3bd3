// Where a stack's numbers come from: the deployed stack's outputs when a Pulumi CLI is logged in to
// a backend that has the stack, else the program evaluated offline (scripts/plan). Every document
// says which one was used and why.
import { runPlan } from "./offline-plan.js";
import { CostInputError, documentFromOutputs, type CostDocument } from "./cost-document.js";
import { REPO_ROOT } from "./cli.js";
import { stackOutputs } from "./stack.js";

export type SourceChoice = "auto" | "stack" | "plan";

export interface LoadOptions {
  stack: string;
  /** Plan this stack config file instead of Pulumi.<stack>.yaml (always the offline plan). */
  stackFile?: string;
  source: SourceChoice;
  projectDir?: string;
}

export async function loadCostDocument(o: LoadOptions): Promise<CostDocument> {
  const dir = o.projectDir ?? REPO_ROOT;
  let why = o.stackFile ? `planned from ${o.stackFile}` : "--source plan";
  if (!o.stackFile && o.source !== "plan") {
    const got = await stackOutputs(o.stack, dir);
    if (got.ok && typeof got.outputs.cost === "object") {
      return documentFromOutputs(o.stack, got.outputs, "stack-output", `pulumi stack output --stack ${o.stack}`);
    }
    why = got.ok ? `stack ${o.stack} has no cost output yet (never deployed with this version)` : got.why;
    if (o.source === "stack")
      throw new CostInputError(
        `cannot read the outputs of stack ${o.stack}: ${why}; log in to the backend (pulumi login) or use --source plan`,
      );
  }
  const result = await runPlan(dir, o.stack, o.stackFile);
  return documentFromOutputs(o.stack, result.outputs, "offline-plan", why);
}
