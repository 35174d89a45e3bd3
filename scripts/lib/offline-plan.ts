// The offline plan: stack file → validated config → the real program under mocks → report.
import * as fs from "node:fs";
import * as path from "node:path";
import { formatProblems, loadConfig, type Notice } from "../../infra/config/load.js";
import { SECRET_PLACEHOLDER } from "../../infra/config/stack-file.js";
import { runOffline, type RecordedResource } from "../../infra/offline.js";
import { buildPlan, type ExposureRow, type Plan } from "../../infra/plan/index.js";
import { opsFiles } from "../../cloud-init/ops-bundle.js";
import { nodeFiles } from "../../cloud-init/render.js";
import type { CostPlan } from "../../infra/plan/cost.js";
import { UsageError } from "./cli.js";
import { readStack } from "./stack.js";

export interface PlanResult {
  stack: string;
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** Rendered user-data per server name. */
  userData: Record<string, string>;
  plan: Plan;
  /** Secrets the stack needs that are not set (pulumi up would refuse). */
  pendingSecrets: { key: string; why: string }[];
  /** What the operator should know that does not stop the stack. */
  notices: Notice[];
}

/** Plans a stack of the project, or the stack config file at `stackFile` (named Pulumi.<stack>.yaml). */
export async function runPlan(projectDir: string, stack: string, stackFile?: string): Promise<PlanResult> {
  const file = readStack({ stack, stackFile, projectDir });
  // Offline, secrets cannot be decrypted: missing ones are listed as pending, not fatal.
  const loaded = loadConfig(file.raw, { requireSecrets: false });
  if (!loaded.ok) throw new UsageError(formatProblems(stack, loaded.problems));
  const raw = { values: { ...file.raw.values }, secretKeys: new Set(file.raw.secretKeys) };
  for (const { key } of loaded.pendingSecrets) {
    raw.values[`xiopro-infra:${key}`] = SECRET_PLACEHOLDER;
    raw.secretKeys.add(`xiopro-infra:${key}`);
  }
  // Imported only now: the program module must see the mock runtime.
  const { runProgram } = await import("../../infra/program.js");
  const run = await runOffline(stack, raw, runProgram);
  const userData = Object.fromEntries(
    run.resources
      .filter((r) => r.type === "hcloud:index/server:Server")
      .map((r) => [String(r.inputs.name), String(r.inputs.userData)]),
  );
  // Secret inputs stay out of printed plans and files (offline they are placeholders anyway).
  const resources = run.resources.map((r) => ({
    ...r,
    inputs: Object.fromEntries(
      Object.entries(r.inputs).map(([k, v]) => [k, r.secretInputs.includes(k) ? SECRET_PLACEHOLDER : v]),
    ),
  }));
  return {
    stack,
    resources,
    outputs: run.outputs,
    userData,
    plan: buildPlan(loaded.config, stack),
    pendingSecrets: loaded.pendingSecrets,
    notices: loaded.notices,
  };
}

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [fmt(headers), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(fmt)].join("\n");
}

const SHORT_TYPE = (t: string) => t.replace(/^hcloud:index\/\w+:/, "hcloud.").replace(/^xiopro:infra:/, "component ");

function keyInputs(r: RecordedResource): string {
  const i = r.inputs;
  switch (r.type) {
    case "hcloud:index/server:Server":
      return `${i.serverType} ${i.image} ${i.location} ip ${(i.networks as { ip: string }[])[0]?.ip} firewallIds ${JSON.stringify(i.firewallIds)}${i.deleteProtection ? " protected" : ""}`;
    case "hcloud:index/firewall:Firewall":
      return (i.rules as { protocol: string; port?: string }[])
        .map((x) => (x.port ? `${x.protocol}/${x.port}` : x.protocol))
        .join(" ");
    case "hcloud:index/volume:Volume":
      return `${i.size} GB ${i.format} ${i.location}${i.deleteProtection ? " protected" : ""}`;
    case "hcloud:index/primaryIp:PrimaryIp":
      return `${i.type} ${i.location} autoDelete=${i.autoDelete}${i.deleteProtection ? " protected" : ""}`;
    case "hcloud:index/zoneRrset:ZoneRrset":
      return `${i.name} ${i.type} → ${(i.records as { value: string }[]).map((x) => x.value).join(",")}`;
    case "hcloud:index/network:Network":
    case "hcloud:index/networkSubnet:NetworkSubnet":
      return String(i.ipRange);
    case "hcloud:index/rdns:Rdns":
      return `${i.ipAddress} → ${i.dnsPtr}`;
    case "hcloud:index/zone:Zone":
      return `${i.name} ttl ${i.ttl}`;
    case "hcloud:index/loadBalancer:LoadBalancer":
      return `${i.loadBalancerType} ${i.location} ${(i.algorithm as { type: string }).type}${i.deleteProtection ? " protected" : ""}`;
    case "hcloud:index/loadBalancerNetwork:LoadBalancerNetwork":
      return `ip ${i.ip}`;
    case "hcloud:index/loadBalancerService:LoadBalancerService": {
      const h = i.healthCheck as { protocol: string; port: number; http: { domain: string; path: string } };
      return `${i.protocol} :${i.listenPort} → :${i.destinationPort}, health ${h.protocol}://${h.http.domain}:${h.port}${h.http.path}`;
    }
    case "hcloud:index/loadBalancerTarget:LoadBalancerTarget":
      return `${i.type} ${i.serverId}${i.usePrivateIp ? " private IP" : ""}`;
    case "hcloud:index/managedCertificate:ManagedCertificate":
      return (i.domainNames as string[]).join(" ");
    default:
      return "";
  }
}

export function formatPlanReport(r: PlanResult): string {
  const out = r.outputs as { exposureMatrix: ExposureRow[]; cost: CostPlan; environment: string };
  const resources = r.resources.filter((x) => x.type.startsWith("hcloud:"));
  const parts = [
    `Stack ${r.stack} (${out.environment}): ${resources.length} resources (offline plan; addresses are placeholders)`,
    "",
    table(
      ["type", "name", "key inputs"],
      resources.map((x) => [SHORT_TYPE(x.type), x.name, keyInputs(x)]),
    ),
    "",
    "Exposure matrix (every listening interface):",
    table(
      ["node", "service", "port", "class", "bind", "clients", "owner", "justification"],
      out.exposureMatrix.map((e) => [
        e.node,
        e.service,
        `${e.port}/${e.protocol}`,
        e.class,
        e.bind,
        // Class C: the services whose nodes the host firewall admits; the others follow from the class.
        e.clients?.join(",") ?? "",
        e.owner,
        e.justification,
      ]),
    ),
    "",
    `Monthly cost (EUR, VAT excluded, catalog ${out.cost.catalogDate}):`,
    table(
      ["resource", "description", "EUR/month"],
      [
        ...out.cost.lines.map((l) => [
          l.resource,
          l.description + (l.estimated ? " (estimate)" : ""),
          l.monthlyEur.toFixed(2),
        ]),
        ["total", `per year ${out.cost.yearlyEur.toFixed(2)}`, out.cost.monthlyEur.toFixed(2)],
      ],
    ),
    "",
    `User-data: ${Object.entries(r.userData)
      .map(([n, u]) => `${n} ${Buffer.byteLength(u)} bytes`)
      .join(", ")} (limit 32768)`,
    ...(r.pendingSecrets.length
      ? [
          "",
          `Secrets to set before 'pulumi up' (${r.pendingSecrets.length}; offline they are placeholders):`,
          ...r.pendingSecrets.map(
            (p) => `  pulumi config set --secret ${p.key} <value> --stack ${r.stack}    # ${p.why}`,
          ),
        ]
      : []),
    ...(r.notices.length ? ["", "Notices:", ...r.notices.map((n) => `  ${n.key}: ${n.message}`)] : []),
  ];
  return parts.join("\n");
}

export function writePlanOutputs(r: PlanResult, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(r.userData))
    fs.writeFileSync(path.join(dir, `${name}.user-data.yaml`), text);
  fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(r.outputs, null, 2) + "\n");
  fs.writeFileSync(path.join(dir, "resources.json"), JSON.stringify(r.resources, null, 2) + "\n");
  fs.writeFileSync(path.join(dir, "topology.mmd"), String((r.outputs as { topology: string }).topology));
  // The unpacked tree of every node, for review: the user-data's files (most in its bundle) and
  // the operations bundle Pulumi pushes after boot (ADR 0002). Commented sources, as in the repo.
  for (const node of r.plan.nodes) {
    for (const f of [...nodeFiles(r.plan, node), ...opsFiles(r.plan, node)]) {
      const target = path.join(dir, node.name, "files", f.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, f.content, { mode: parseInt(f.permissions, 8) });
    }
  }
}
