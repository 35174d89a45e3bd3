// npm run accept:balancer -- --stack NAME: the stack's load balancer, from Hetzner's API and from outside.
import * as fs from "node:fs";
import { execa } from "execa";
import { loadStack } from "../lib/stack.js";
import { parseFlags, REPO_ROOT, UsageError } from "../lib/cli.js";
import { findLoadBalancer, findServers } from "../lib/cloud-api.js";
import { parseBalancer, publicChecks, stateChecks } from "./balancer.js";
import { table } from "./report.js";

const USAGE = `Usage: npm run accept:balancer -- (--stack NAME | --stack-file FILE) [--site-ca FILE] [--json]

Checks the stack's load balancer (xiopro-infra:loadBalancer): from the Hetzner API, its type and
private address and that exactly the planned servers are its targets, each on its private address and
healthy; from outside, every site it serves over HTTPS at its public address (valid certificate,
HSTS, upstream, HTTP redirected to HTTPS); and that each fronted node's own public address refuses
80 and 443. Exit 0 only if every check passes.

Options:
  --stack NAME       stack whose plan describes the balancer
  --stack-file FILE  a stack config file instead of Pulumi.NAME.yaml
  --site-ca FILE     PEM root the balancer's certificate chains to, when not a public CA (tests)
  --json             print the results as JSON
  -h, --help

Environment: HCLOUD_TOKEN, a read-only API token of the stack's Hetzner project.`;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      "site-ca": { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  if (!v.stack === !v["stack-file"])
    return (console.error(`give exactly one of --stack and --stack-file\n\n${USAGE}`), 2);
  const { plan } = loadStack({ stack: v.stack, stackFile: v["stack-file"] });
  const lb = plan.loadBalancer;
  if (!lb) throw new UsageError(`stack ${plan.stack} has no load balancer (xiopro-infra:loadBalancer)`);
  const token = process.env.HCLOUD_TOKEN;
  if (!token) throw new UsageError("HCLOUD_TOKEN is not set: the balancer's state comes from the Hetzner API");
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const names = lb.targets.map((key) => plan.nodes.find((n) => n.key === key)!.name);
  const servers = await findServers(names, token, process.env);
  const entry = await findLoadBalancer(lb.name, token, process.env);
  const state = entry === undefined ? undefined : parseBalancer(entry, new Map(servers.map((s) => [s.id, s.name])));
  const results = [
    ...stateChecks(plan, lb, state),
    ...(state
      ? await publicChecks(plan, lb, state, {
          siteCa: v["site-ca"] ? fs.readFileSync(v["site-ca"], "utf8") : undefined,
          nodeIpv4: Object.fromEntries(servers.map((s) => [s.name, s.publicIpv4])),
        })
      : []),
  ];
  const commit =
    (await execa("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"], { reject: false })).stdout || "unknown";
  const run = {
    stack: plan.stack,
    node: lb.name,
    commit,
    startedAt,
    results,
    timings: { balancerSeconds: (Date.now() - t0) / 1000 },
    passed: results.every((r) => r.result === "pass"),
  };
  console.log(v.json ? JSON.stringify(run, null, 2) : table(run));
  return run.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`accept:balancer failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
