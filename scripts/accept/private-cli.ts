// npm run accept:private -- --stack NAME --from ADDR: the private network, checked from a host in it.
import { execa } from "execa";
import { loadStack } from "../lib/stack.js";
import { parseFlags, REPO_ROOT, UsageError } from "../lib/cli.js";
import { contains, parseCidr, parseIpv4 } from "../../infra/config/ipv4.js";
import { privateChecks } from "./private.js";
import { table } from "./report.js";

const USAGE = `Usage: npm run accept:private -- (--stack NAME | --stack-file FILE) --from ADDR [--node KEY] [--json]

Run on a host inside the stack's private network (a peer node, or a throwaway server in the same
network). Scans every TCP port of the node's private address from ADDR, which must be an address of
this host, and expects exactly the class C ports the plan admits to ADDR: those whose clients run on
the node that owns ADDR, none from an address of no node. Where PostgreSQL's port is admitted, asks
it to log in each role (and each as replication) and expects pg_hba to offer SCRAM only to the roles
the plan admits from ADDR and to refuse every other with 28000. Exit 0 only if every check passes.

Options:
  --stack NAME       stack whose plan describes the node
  --stack-file FILE  a stack config file instead of Pulumi.NAME.yaml
  --node KEY         nodeA (default), nodeC, nodeD, a pool member (workers-1) or the server's name
  --from ADDR        local source address inside the network (network.cidr)
  --json             print the results as JSON
  -h, --help`;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      node: { type: "string", default: "nodeA" },
      from: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  if (!v.stack === !v["stack-file"])
    return (console.error(`give exactly one of --stack and --stack-file\n\n${USAGE}`), 2);
  const { plan } = loadStack({ stack: v.stack, stackFile: v["stack-file"] });
  const node = plan.nodes.find((n) => n.key === v.node || n.name === v.node);
  if (!node)
    throw new UsageError(
      `node ${v.node} is not in stack ${plan.stack} (nodes: ${plan.nodes.map((n) => n.key).join(", ")})`,
    );
  const from = parseIpv4(v.from ?? "");
  if (from === undefined || !contains(parseCidr(plan.network.cidr)!, from) || v.from === node.privateIp)
    throw new UsageError(
      `--from ${v.from ?? "(missing)"} must be an IPv4 address in ${plan.network.cidr} other than ${node.name}'s ${node.privateIp}`,
    );
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const results = await privateChecks(plan, node, v.from!);
  const commit =
    (await execa("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"], { reject: false })).stdout || "unknown";
  const run = {
    stack: plan.stack,
    node: node.name,
    commit,
    startedAt,
    results,
    timings: { privateSeconds: (Date.now() - t0) / 1000 },
    passed: results.every((r) => r.result === "pass"),
  };
  console.log(v.json ? JSON.stringify(run, null, 2) : table(run));
  return run.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`accept:private failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
