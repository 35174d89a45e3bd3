// The cost document: what `npm run cost -- --json` prints and `--diff` reads back. It carries the
// cost lines plus every per-server fact that decides whether a change replaces or rescales a
// server, and the exposure matrix, so a PR job can save it on the base branch and diff against it.
import type { ExposureRow } from "../../infra/plan/index.js";
import type { CostLine, CostPlan } from "../../infra/plan/cost.js";

export const COST_FORMAT = "xiopro-cost/1";

/** Where the numbers came from: the deployed stack's outputs, or the program evaluated offline. */
export type CostSource = "stack-output" | "offline-plan" | "none";

export interface ServerFacts {
  /** Node key in the config (nodeA, nodeC, nodeD). */
  node: string;
  /** Hetzner server name, e.g. prd-node-a. */
  name: string;
  serverType: string;
  location: string;
  /** Absent in outputs of stacks deployed before these facts were exported. */
  image?: string;
  backups?: boolean;
  userDataChange?: "replace" | "in-place";
  /** Hash of the real user-data (differs between the offline plan and a deployment). */
  userDataSha256?: string;
  /** Hash of the user-data with per-deployment facts held fixed: comparable across sources. */
  userDataFingerprint?: string;
}

/** The exposure-matrix columns the diff compares. */
export type ExposureFacts = Pick<
  ExposureRow,
  "node" | "service" | "interface" | "port" | "protocol" | "class" | "justification"
>;

export interface CostDocument {
  format: typeof COST_FORMAT;
  stack: string;
  environment: string;
  source: CostSource;
  /** One sentence on how the source was chosen (shown in every report). */
  sourceDetail: string;
  cost: CostPlan;
  servers: ServerFacts[];
  exposure: ExposureFacts[];
  topology: string;
}

/** Bad input (a stack's outputs, a --diff file): the message names the input and the fix. */
export class CostInputError extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Builds the document from stack outputs (`pulumi stack output --json`, or the offline run's). */
export function documentFromOutputs(
  stack: string,
  outputs: Record<string, unknown>,
  source: CostSource,
  sourceDetail: string,
): CostDocument {
  const cost = outputs.cost;
  if (!isObj(cost) || !Array.isArray(cost.lines) || typeof cost.monthlyEur !== "number") {
    throw new CostInputError(
      `the outputs of stack ${stack} (${source}) have no cost breakdown: deploy it once with this version (pulumi up), or use --source plan`,
    );
  }
  const nodes = isObj(outputs.nodes) ? outputs.nodes : {};
  const servers: ServerFacts[] = Object.entries(nodes).flatMap(([key, raw]) => {
    if (
      !isObj(raw) ||
      typeof raw.name !== "string" ||
      typeof raw.serverType !== "string" ||
      typeof raw.location !== "string"
    )
      return [];
    const policy = str(raw.userDataChange);
    return [
      {
        node: key,
        name: raw.name,
        serverType: raw.serverType,
        location: raw.location,
        image: str(raw.image),
        backups: typeof raw.backups === "boolean" ? raw.backups : undefined,
        userDataChange: policy === "replace" || policy === "in-place" ? policy : undefined,
        userDataSha256: str(raw.userDataSha256),
        userDataFingerprint: str(raw.userDataFingerprint),
      },
    ];
  });
  const exposure: ExposureFacts[] = (Array.isArray(outputs.exposureMatrix) ? outputs.exposureMatrix : [])
    .filter(isObj)
    .map((e) => ({
      node: String(e.node),
      service: String(e.service),
      interface: String(e.interface),
      port: Number(e.port),
      protocol: e.protocol === "udp" ? "udp" : "tcp",
      class: String(e.class) as ExposureRow["class"],
      justification: String(e.justification ?? ""),
    }));
  return {
    format: COST_FORMAT,
    stack,
    environment: str(outputs.environment) ?? stack,
    source,
    sourceDetail,
    cost: cost as unknown as CostPlan,
    servers,
    exposure,
    topology: str(outputs.topology) ?? "",
  };
}

/** The base of a stack that does not exist yet: every resource of the head is an addition. */
export function emptyDocument(stack: string, environment: string, catalogDate: string): CostDocument {
  return {
    format: COST_FORMAT,
    stack,
    environment,
    source: "none",
    sourceDetail: `stack ${stack} does not exist on the base branch`,
    cost: { currency: "EUR", vat: "excluded", catalogDate, lines: [], monthlyEur: 0, yearlyEur: 0 },
    servers: [],
    exposure: [],
    topology: "",
  };
}

/** Reads a document written by `npm run cost -- --json`; every problem is named with its fix. */
export function parseCostDocument(text: string, label: string): CostDocument {
  const fix = "write it with: npm run --silent cost -- --stack <name> --json > FILE";
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CostInputError(`${label} is not JSON (${(e as Error).message}); ${fix}`);
  }
  if (!isObj(doc)) throw new CostInputError(`${label} is not a cost document (a JSON object); ${fix}`);
  if (doc.format !== COST_FORMAT)
    throw new CostInputError(`${label} has format ${JSON.stringify(doc.format)}, expected "${COST_FORMAT}"; ${fix}`);
  const problems: string[] = [];
  if (typeof doc.stack !== "string") problems.push("stack is not a string");
  if (!isObj(doc.cost) || !Array.isArray(doc.cost.lines)) problems.push("cost.lines is missing");
  else {
    doc.cost.lines.forEach((l: unknown, i: number) => {
      if (!isObj(l) || typeof l.resource !== "string" || typeof l.monthlyEur !== "number")
        problems.push(`cost.lines[${i}] needs a resource and a monthlyEur number`);
    });
    if (typeof doc.cost.catalogDate !== "string") problems.push("cost.catalogDate is missing");
  }
  if (!Array.isArray(doc.servers)) problems.push("servers is missing");
  if (!Array.isArray(doc.exposure)) problems.push("exposure is missing");
  if (problems.length > 0)
    throw new CostInputError(`${label} is not a valid cost document: ${problems.join("; ")}; ${fix}`);
  return doc as unknown as CostDocument;
}

/** Sum of the lines in cents (the document's own total is the same by construction). */
export function totalCents(lines: readonly Pick<CostLine, "monthlyEur">[]): number {
  return lines.reduce((s, l) => s + Math.round(l.monthlyEur * 100), 0);
}
