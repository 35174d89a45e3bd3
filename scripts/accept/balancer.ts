// Acceptance of the stack's load balancer: what Hetzner reports about it (type, private address, each
// planned target on its private IP and healthy), its sites over HTTPS at its public address, and the
// fronted nodes refusing 80 and 443 on their own public addresses.
import type { LoadBalancerPlan, Plan } from "../../infra/plan/index.js";
import type { CheckResult } from "./checks.js";
import { checkSite } from "./https.js";
import { probe } from "./scan.js";

/** The balancer as GET /v1/load_balancers reports it, with its targets' server names resolved. */
export interface BalancerState {
  type: string;
  publicIpv4?: string;
  privateIps: string[];
  targets: { server: string; usePrivateIp: boolean; health: { port: number; status: string }[] }[];
}

const rec = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** One entry of GET /v1/load_balancers?name=…; server ids become names through `serverNames`. */
export function parseBalancer(entry: unknown, serverNames: ReadonlyMap<number, string>): BalancerState {
  const lb = rec(entry);
  return {
    type: String(rec(lb.load_balancer_type).name ?? ""),
    publicIpv4: rec(rec(lb.public_net).ipv4).ip as string | undefined,
    privateIps: list(lb.private_net).map((n) => String(rec(n).ip)),
    targets: list(lb.targets)
      .map(rec)
      .filter((t) => t.type === "server")
      .map((t) => {
        const id = Number(rec(t.server).id);
        return {
          server: serverNames.get(id) ?? `server ${id}`,
          usePrivateIp: t.use_private_ip === true,
          health: list(t.health_status).map((h) => ({
            port: Number(rec(h).listen_port),
            status: String(rec(h).status),
          })),
        };
      }),
  };
}

const pass = (name: string, ok: boolean, detail: string, seconds = 0): CheckResult => ({
  name,
  required: true,
  result: ok ? "pass" : "fail",
  detail,
  seconds,
});

/** What Hetzner reports against the plan: type, private address, exactly the planned targets, healthy. */
export function stateChecks(plan: Plan, lb: LoadBalancerPlan, state: BalancerState | undefined): CheckResult[] {
  if (!state) return [pass(`balancer ${lb.name}: exists`, false, "the Hetzner API has no load balancer by that name")];
  const names = lb.targets.map((key) => plan.nodes.find((n) => n.key === key)!.name);
  const extra = state.targets.filter((t) => !names.includes(t.server)).map((t) => t.server);
  return [
    pass(`balancer ${lb.name}: type ${lb.type}`, state.type === lb.type, state.type || "no type reported"),
    pass(
      `balancer ${lb.name}: private address ${lb.privateIp}`,
      state.privateIps.includes(lb.privateIp),
      state.privateIps.join(", ") || "not attached to a network",
    ),
    pass(
      `balancer ${lb.name}: no target outside the plan`,
      extra.length === 0,
      extra.length ? extra.join(", ") : `${state.targets.length} targets`,
    ),
    ...names.map((name) => {
      const t = state.targets.find((x) => x.server === name);
      const health = t?.health.map((h) => `${h.port} ${h.status}`).join(", ") ?? "";
      return pass(
        `balancer target ${name}: healthy on its private address`,
        !!t && t.usePrivateIp && t.health.length > 0 && t.health.every((h) => h.status === "healthy"),
        !t ? "not a target" : !t.usePrivateIp ? "targeted on its public address" : health || "no health reported",
      );
    }),
  ];
}

export interface BalancerProbe {
  /** PEM root the balancer's certificate chains to, when not a public one (tests). */
  siteCa?: string;
  /** Public IPv4 of each fronted node, by server name. */
  nodeIpv4: Record<string, string | undefined>;
  ports?: { https: number; http: number };
}

/** The sites over HTTPS at the balancer's public address, and 80/443 refused on each fronted node. */
export async function publicChecks(
  plan: Plan,
  lb: LoadBalancerPlan,
  state: BalancerState,
  o: BalancerProbe,
): Promise<CheckResult[]> {
  const ports = o.ports ?? { https: 443, http: 80 };
  const out: CheckResult[] = [];
  for (const site of lb.certificate.domains) {
    if (!state.publicIpv4)
      out.push(pass(`https ${site}: through ${lb.name}`, false, "the balancer has no public IPv4"));
    else
      out.push(
        ...(await checkSite(state.publicIpv4, site, { ca: o.siteCa, label: lb.name }, ports, "balancer")).map((r) => ({
          ...r,
          name: `${r.name} (via ${lb.name})`,
        })),
      );
  }
  for (const key of lb.targets) {
    const node = plan.nodes.find((n) => n.key === key)!;
    const ip = o.nodeIpv4[node.name];
    if (!ip) {
      out.push(pass(`${node.name}: public 80 and 443 refused`, node.publicIpv4 === false, "no public IPv4 known"));
      continue;
    }
    const t0 = Date.now();
    const states = await Promise.all([ports.http, ports.https].map((p) => probe(ip, p, 3000)));
    out.push(
      pass(
        `${node.name}: public 80 and 443 refused`,
        states.every((s) => s !== "open"),
        `${ip}: ${ports.http} ${states[0]}, ${ports.https} ${states[1]}`,
        (Date.now() - t0) / 1000,
      ),
    );
  }
  return out;
}
