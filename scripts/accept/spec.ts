// What a deployed node must look like, derived from the plan (and the stack outputs for the
// addresses and volume ids). Pure: the checks compare facts against this.
import { createHash } from "node:crypto";
import type { NodePlan, Plan } from "../../infra/plan/index.js";
import { nodeBudget } from "../../infra/plan/budget.js";
import { jobsFor } from "../../infra/plan/jobs.js";
import { ALL_ALERTS } from "../../infra/plan/alerts.js";
import { prometheusDocument } from "../../cloud-init/monitoring.js";
import { DATABASE_NAME } from "../../infra/catalog/layout.js";

export interface AcceptSpec {
  stack: string;
  node: string;
  publicIpv4?: string;
  publicIpv6?: string;
  sites: string[];
  internalTls: boolean;
  /** TCP ports that must be open from anywhere (class A); every other port must be closed. */
  expectTcpOpen: number[];
  /** Declared public UDP ports (class A): each must answer a probe in its own protocol. */
  expectUdpOpen: number[];
  units: string[];
  timers: string[];
  mounts: { mountPoint: string; volumeId: string }[];
  headroomMb: number;
  nodeB?: string;
  jobs: { job: string; maxAgeHours: number }[];
  postgres: boolean;
  credentials: string[];
  secrets: { name: string; fingerprints: string[]; lengths: number[] }[];
  /** The node runs Prometheus: its API, the scrape jobs it must have, and the alert rules loaded. */
  monitoring?: { prometheusUrl: string; alertmanagerUrl: string; jobs: string[]; alertRules: number };
  /**
   * Cold start in order (seed 000 §9.11.3): the agent units that log in to the database, each after
   * its gate saw the database accept its role; workers after a web tier beside them. Omitted on a
   * node without them.
   */
  startOrder?: { web?: string; workers: string[] };
  /** Queries the node's services declare (their options' additions): each must print exactly `expect`. */
  sqlChecks: { name: string; database: string; sql: string; expect: string; waitSeconds?: number }[];
}

export interface AddressFacts {
  publicIpv4?: string;
  publicIpv6?: string;
  volumeIds: Record<string, string>;
}

export const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** The forms a secret could be left behind in: itself and its base64 (without padding). */
export function secretForms(value: string): string[] {
  const b64 = Buffer.from(value).toString("base64").replace(/=+$/, "");
  return [...new Set([value, b64])];
}

const publicPorts = (node: NodePlan, protocol: "tcp" | "udp") =>
  [...new Set(node.exposure.filter((e) => e.class === "A" && e.protocol === protocol).map((e) => e.port))].sort(
    (a, b) => a - b,
  );

export function buildSpec(
  plan: Plan,
  node: NodePlan,
  addr: AddressFacts,
  secrets: Record<string, string> = {},
): AcceptSpec {
  const names = node.services.map((s) => s.name);
  return {
    stack: plan.stack,
    node: node.name,
    publicIpv4: node.publicIpv4 ? addr.publicIpv4 : undefined,
    publicIpv6: node.publicIpv6 ? addr.publicIpv6 : undefined,
    // A fronted node's sites answer at the balancer (npm run accept:balancer), not on the node.
    sites: node.balancer ? [] : node.sites.map((s) => s.hostname),
    internalTls: plan.ingress.tls === "internal",
    expectTcpOpen: publicPorts(node, "tcp"),
    expectUdpOpen: publicPorts(node, "udp"),
    units: node.services.flatMap((s) => s.units),
    timers: node.services.flatMap((s) => s.timers),
    mounts: node.volumes.map((v) => {
      const id = addr.volumeIds[v.key];
      if (!id) throw new Error(`no volume id for ${v.key} of ${node.name}`);
      return { mountPoint: v.mountPoint, volumeId: id };
    }),
    headroomMb: nodeBudget(node.memoryGb, node.cores, plan.agentd.workers).headroomMb,
    nodeB: plan.nodeB.tailscaleName,
    jobs: jobsFor(names).map((j) => ({ job: j.job, maxAgeHours: j.maxAgeHours })),
    postgres: names.includes("postgresql"),
    credentials: node.secrets.map((s) => s.file),
    secrets: Object.entries(secrets).map(([name, value]) => {
      const forms = secretForms(value);
      return { name, fingerprints: forms.map((f) => sha256(f)), lengths: forms.map((f) => Buffer.byteLength(f)) };
    }),
    sqlChecks: node.services
      .flatMap((s) => s.additions.sqlChecks ?? [])
      .map((c) => ({ ...c, database: c.database === "platform" ? DATABASE_NAME : c.database })),
    monitoring: names.includes("monitoring") ? monitoringSpec(plan, node) : undefined,
    startOrder: startOrderSpec(node),
  };
}

function startOrderSpec(node: NodePlan): AcceptSpec["startOrder"] {
  const units = (service: string) => node.services.find((s) => s.name === service)?.units ?? [];
  const [web] = units("agentd-web");
  const workers = units("agentd-worker");
  return web || workers.length > 0 ? { web, workers } : undefined;
}

function monitoringSpec(plan: Plan, node: NodePlan): AcceptSpec["monitoring"] {
  const port = (iface: string) => node.services.flatMap((s) => s.interfaces).find((i) => i.name === iface)!.port;
  return {
    prometheusUrl: `http://${node.privateIp}:${port("prometheus")}`,
    alertmanagerUrl: `http://127.0.0.1:${port("alertmanager")}`,
    jobs: prometheusDocument(plan, node).scrape_configs.map((j) => j.job_name),
    alertRules: ALL_ALERTS.length,
  };
}
