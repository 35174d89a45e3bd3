// The pure plan: validated config in, the complete deployment model out. No Pulumi, no I/O.
// Components, renderers, acceptance checks, docs and cost all read this one structure.
import { catalog as defaultCatalog, type Catalog } from "../catalog/index.js";
import { PROJECT, serviceOptions, type StackConfig } from "../config/keys.js";
import { localUpstream } from "../config/load.js";
import { balanced, stackNodes, targetName, type StackNode } from "../config/stack-nodes.js";
import type { Role } from "../catalog/roles.js";
import { stackView } from "../config/stack-view.js";
import { TOOLKIT_LABELS } from "../config/names.js";
import { computeCost, type CostPlan } from "./cost.js";
import { allocate, formatIpv4, parseCidr, parseIpv4 } from "../config/ipv4.js";
import { jobsFor } from "./jobs.js";
import { egressPlan, type EgressPlan } from "./egress.js";
import { nodeSecrets, type SecretPlan } from "../config/secrets.js";
import { BALANCED_INGRESS_INTERFACES, HTTP_FROM_BALANCER } from "../catalog/services/ingress.js";
import {
  ACCESS,
  BALANCER_CLIENT,
  SERVICE_CATALOG,
  serviceHost,
  type InterfaceSpec,
  type PlacedNodeView,
  type ServiceAdditions,
  type ServiceHost,
  type ServiceSpec,
} from "../catalog/services.js";

/** One interface of one service on one node: the exposure matrix both firewalls are built from. */
export interface ExposureRow extends Pick<
  InterfaceSpec,
  "port" | "protocol" | "class" | "bind" | "owner" | "access" | "justification" | "clients"
> {
  node: string;
  service: string;
  interface: string;
}

export interface CloudFirewallRule {
  direction: "in";
  protocol: "tcp" | "udp" | "icmp";
  port?: string;
  sourceIps: string[];
  description: string;
}

/** A node the host firewall admits to a class C port: its private address and the client services it runs. */
export interface FirewallPeer {
  node: string;
  ip: string;
  clients: string[];
}

/**
 * Host (nftables) rule: who may reach which port; default deny for everything else. Every packet from the
 * private network (`network.cidr`) is decided by the `peers` rules alone, so class A ports answer the
 * internet but not a stray address in the private network.
 */
export interface HostFirewallRule {
  protocol: "tcp" | "udp";
  port: number;
  from:
    | { kind: "internet" }
    | { kind: "tailnet" }
    | { kind: "cidrs"; cidrs: string[] }
    | { kind: "peers"; peers: FirewallPeer[] };
  comment: string;
}

export interface VolumePlan {
  key: string;
  name: string;
  sizeGb: number;
  mountPoint: string;
  filesystem: "ext4" | "xfs";
  /** How long first boot waits for Hetzner to attach it (xiopro-volumes). */
  attachTimeoutSeconds: number;
  location: string;
  deleteProtection: boolean;
  pulumiProtect: boolean;
}

export interface ServicePlan {
  name: string;
  custom: boolean;
  units: string[];
  timers: string[];
  interfaces: InterfaceSpec[];
  /** What the service's options add on this node (its descriptor's `additions`). */
  additions: ServiceAdditions;
}

export interface SitePlan {
  hostname: string;
  service: string;
  upstreamPort: number;
}

export interface NodePlan {
  /** nodeA, nodeC, nodeD, or <pool>-<n> (infra/config/stack-nodes.ts). */
  key: string;
  /** The server name after the environment (node-a, workers-2): Pulumi resource names use it. */
  short: string;
  role: Role;
  /** A pool member's pool, index and the pool's size. */
  pool?: { name: string; index: number; count: number };
  /** Hetzner server name, also the host name. */
  name: string;
  fqdn: string;
  serverType: string;
  architecture: "x86" | "arm";
  memoryGb: number;
  cores: number;
  /** The server's own disk: the database's volume when no Hetzner Volume holds it. */
  diskGb: number;
  image: string;
  /** Created from the newest snapshot of its package set (npm run bake, infra/plan/bake.ts). */
  baked: boolean;
  location: string;
  privateIp: string;
  publicIpv4: boolean;
  publicIpv6: boolean;
  backups: boolean;
  /** When an update that needs it may reboot this server (UTC HH:MM): a pool's members in turn. */
  rebootTime: string;
  labels: Record<string, string>;
  volumes: VolumePlan[];
  services: ServicePlan[];
  sites: SitePlan[];
  exposure: ExposureRow[];
  /** Set when the stack's load balancer fronts this node: its sites arrive from that private address. */
  balancer?: { privateIp: string };
  /** Set when the node's role is in egress.allowlistRoles: what its non-root processes may reach. */
  egress?: EgressPlan;
  firewall: { name: string; rules: CloudFirewallRule[] };
  hostFirewall: HostFirewallRule[];
  /** Secrets this node's units read, with their grants. */
  secrets: SecretPlan[];
}

export interface DnsRecordPlan {
  /** Name relative to the zone ("@" for the apex). */
  name: string;
  fqdn: string;
  type: "A" | "AAAA";
  /** The node key whose primary IP the record holds, or LOAD_BALANCER_RECORD for the balancer's. */
  node: string;
  purpose: string;
}

/** DnsRecordPlan.node of a site behind the load balancer. */
export const LOAD_BALANCER_RECORD = "loadBalancer";

/**
 * The stack's load balancer: public HTTPS with a Hetzner managed certificate for its sites, plain HTTP
 * to the targets' private addresses, an HTTP health check per target (docs/load-balancer.md).
 */
export interface LoadBalancerPlan {
  name: string;
  type: string;
  location: string;
  privateIp: string;
  algorithm: "round_robin" | "least_connections";
  /** Node keys of the servers it fronts, reached on their private addresses. */
  targets: string[];
  certificate: { name: string; domains: string[] };
  /** HTTPS on 443 (and a redirect from 80) to Caddy's HTTP port on each target. */
  service: { listenPort: number; destinationPort: number; redirectHttp: boolean };
  healthCheck: {
    port: number;
    domain: string;
    path: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    retries: number;
    statusCodes: string[];
  };
  labels: Record<string, string>;
  deleteProtection: boolean;
}

export interface Plan {
  project: string;
  stack: string;
  environment: StackConfig["environment"];
  domain: string;
  location: string;
  network: { name: string; cidr: string; subnet: string; networkZone: string };
  placementGroup: { name: string; type: "spread" };
  sshKeys: { name: string; publicKey: string }[];
  adminPath: StackConfig["adminPath"];
  ingress: { tls: "acme" | "internal"; acmeEmail?: string; acmeDirectory: string; acmeCaRoot?: string };
  protection: StackConfig["protection"];
  userDataChange: StackConfig["userDataChange"];
  maintenance: StackConfig["maintenance"];
  timeSync: StackConfig["timeSync"];
  nodeB: StackConfig["nodeB"];
  backup: StackConfig["backup"];
  monitoring: StackConfig["monitoring"];
  agentd: StackConfig["agentd"];
  nodes: NodePlan[];
  loadBalancer?: LoadBalancerPlan;
  dns: { zone: string; mode: "create" | "adopt"; ttl: number; records: DnsRecordPlan[] };
  exposure: ExposureRow[];
  cost: CostPlan;
}

export const ICMP_RULE: CloudFirewallRule = {
  direction: "in",
  protocol: "icmp",
  sourceIps: ["0.0.0.0/0", "::/0"],
  description: "ICMP: reachability checks and path-MTU discovery",
};
const ANYWHERE = ["0.0.0.0/0", "::/0"];

export function buildPlan(config: StackConfig, stack: string, cat: Catalog = defaultCatalog): Plan {
  const env = config.environment;
  const subnet = parseCidr(config.network.subnet)!;
  const servers = stackNodes(config);
  const ips = allocate(
    subnet,
    servers.map((n) => ({ id: n.key, explicit: n.config.privateIp ? parseIpv4(n.config.privateIp) : undefined })),
  );
  const placed: PlacedNodeView[] = stackView(config).map((v) => {
    const ip = ips.get(v.key);
    // loadConfig refuses a subnet that leaves a node without an address.
    if (ip === undefined) throw new Error(`${v.key} has no private address in ${config.network.subnet}`);
    return { ...v, privateIp: formatIpv4(ip) };
  });
  const nodes = placed.map((v, i) => buildNode(config, stack, servers[i]!, v, cat, placed));
  lendAcrossNodes(config, nodes, placed);
  const loadBalancer = config.loadBalancer ? balancerPlan(config, stack, nodes) : undefined;
  const records = dnsRecords(config, nodes, loadBalancer);
  const plan: Omit<Plan, "cost"> = {
    project: PROJECT,
    stack,
    environment: env,
    domain: config.domain,
    location: config.location,
    network: {
      name: `${env}-net`,
      cidr: config.network.cidr,
      subnet: config.network.subnet,
      networkZone: cat.locations[config.location]!.networkZone,
    },
    placementGroup: { name: `${env}-spread`, type: "spread" },
    sshKeys: config.sshPublicKeys.map((publicKey, i) => ({ name: `${env}-admin-${i + 1}`, publicKey })),
    adminPath: config.adminPath,
    ingress: {
      tls: config.ingress.tls,
      acmeEmail: config.ingress.acmeEmail,
      acmeDirectory: config.ingress.acmeDirectory,
      acmeCaRoot: config.ingress.acmeCaRoot,
    },
    protection: config.protection,
    userDataChange: config.userDataChange,
    maintenance: config.maintenance,
    timeSync: config.timeSync,
    nodeB: config.nodeB,
    backup: config.backup,
    monitoring: config.monitoring,
    agentd: config.agentd,
    nodes,
    ...(loadBalancer ? { loadBalancer } : {}),
    dns: { zone: config.domain, mode: config.dns.mode, ttl: config.dns.ttl, records },
    exposure: nodes.flatMap((n) => n.exposure),
  };
  return { ...plan, cost: computeCost(plan, cat) };
}

function catalogService(
  config: StackConfig,
  s: ServiceSpec,
  host: ServiceHost,
  stack: readonly PlacedNodeView[],
): ServicePlan {
  const additions = s.additions && s.options ? s.additions(serviceOptions(config, s), host, stack) : {};
  return { name: s.name, custom: false, units: s.units, timers: s.timers, interfaces: s.interfaces, additions };
}

/** Two services' additions as one: lists joined, settings merged (a later one wins). */
function merge(a: ServiceAdditions, b: ServiceAdditions): ServiceAdditions {
  const conf: Record<string, string[]> = {};
  for (const [file, lines] of [...Object.entries(a.conf ?? {}), ...Object.entries(b.conf ?? {})])
    conf[file] = [...(conf[file] ?? []), ...lines];
  return {
    ...(a.packages || b.packages ? { packages: [...(a.packages ?? []), ...(b.packages ?? [])] } : {}),
    ...(a.env || b.env ? { env: { ...a.env, ...b.env } } : {}),
    ...(a.sqlChecks || b.sqlChecks ? { sqlChecks: [...(a.sqlChecks ?? []), ...(b.sqlChecks ?? [])] } : {}),
    ...(a.conf || b.conf ? { conf } : {}),
  };
}

/** What services lend to others (their descriptors' `lends`): added to the lent-to service on every node that runs it. */
function lendAcrossNodes(config: StackConfig, nodes: NodePlan[], placed: readonly PlacedNodeView[]): void {
  for (const [i, lender] of nodes.entries())
    for (const s of lender.services) {
      const spec = SERVICE_CATALOG[s.name];
      if (s.custom || !spec?.lends || !spec.options) continue;
      for (const lent of spec.lends(serviceOptions(config, spec), placed[i]!))
        for (const target of nodes.flatMap((n) => n.services.filter((t) => t.name === lent.service && !t.custom)))
          target.additions = merge(target.additions, lent.additions);
    }
}

/** maintenance.rebootTime, moved on by the spacing for each pool member before this one (wrapping at midnight). */
export function rebootTimeOf(m: StackConfig["maintenance"], member: number): string {
  const [h, min] = m.rebootTime.split(":").map(Number) as [number, number];
  const at = (h * 60 + min + (member - 1) * m.poolRebootSpacingMinutes) % (24 * 60);
  return `${String(Math.floor(at / 60)).padStart(2, "0")}:${String(at % 60).padStart(2, "0")}`;
}

function buildNode(
  config: StackConfig,
  stack: string,
  server: StackNode,
  self: PlacedNodeView,
  cat: Catalog,
  placed: readonly PlacedNodeView[],
): NodePlan {
  const { key, name } = server;
  const privateIp = self.privateIp;
  const n = server.config;
  const env = config.environment;
  // The `node` label: a lettered node's letter (as before pools), a pool member's short name.
  const nodeLabel = server.pool ? server.short : key.slice(-1).toLowerCase();
  const location = n.location ?? config.location;
  const type = cat.serverTypes[n.serverType!]!;
  const protect = config.protection;
  const host = serviceHost(name, n.image, type.architecture);
  const services: ServicePlan[] = [
    ...Object.values(SERVICE_CATALOG).filter((s) => s.baseline),
    ...(config.adminPath.mode === "tailscale" ? [SERVICE_CATALOG.tailscale!] : []),
  ].map((s) => catalogService(config, s, host, placed));
  for (const entry of n.services) {
    if (typeof entry === "string") {
      services.push(catalogService(config, SERVICE_CATALOG[entry]!, host, placed));
    } else {
      services.push({
        name: entry.name,
        custom: true,
        // The owner deploys a custom service's unit; the plan declares only its exposure.
        units: [],
        timers: [],
        additions: {},
        interfaces: entry.interfaces.map((i, idx) => ({
          name: `${entry.name}-${idx + 1}`,
          port: i.port,
          protocol: i.protocol,
          class: i.class,
          bind: i.class === "D" ? "localhost" : i.class === "C" ? "private" : "all",
          owner: i.owner,
          access: i.access ?? ACCESS[i.class],
          justification: i.justification,
          ...(i.class === "C" && i.clients ? { clients: i.clients } : {}),
        })),
      });
    }
  }
  const names = services.map((s) => s.name);
  const balancer = balanced(config, server) ? { privateIp: config.loadBalancer!.privateIp } : undefined;
  for (const s of services) {
    if (s.name === "ingress" && balancer) s.interfaces = BALANCED_INGRESS_INTERFACES;
    if (s.name === "agentd-worker")
      s.units = Array.from({ length: config.agentd.workers }, (_, i) => `agentd-worker@${i + 1}.service`);
  }
  // Each service's scheduled jobs (those whose required services run here too) add their timers.
  const jobs = jobsFor(names);
  for (const s of services) {
    const own = new Set((SERVICE_CATALOG[s.name]?.jobs ?? []).map((j) => j.job));
    s.timers = [...s.timers, ...jobs.filter((j) => own.has(j.job)).map((j) => j.timer)];
  }
  const exposure: ExposureRow[] = services.flatMap((s) =>
    s.interfaces.map((i) => ({
      node: name,
      service: s.name,
      interface: i.name,
      port: i.port,
      protocol: i.protocol,
      class: i.class,
      bind: i.bind,
      owner: i.owner,
      access: i.access,
      justification: i.justification,
      ...(i.clients ? { clients: i.clients } : {}),
    })),
  );
  const sites = config.ingress.sites
    .filter((site) => n.services.some((s) => (typeof s === "string" ? s : s.name) === site.service))
    .map((site) => ({
      hostname: site.hostname,
      service: site.service,
      upstreamPort: localUpstream(n, site.service)!,
    }));
  return {
    key,
    short: server.short,
    role: server.role,
    ...(server.pool ? { pool: server.pool } : {}),
    name,
    fqdn: `${name}.${config.domain}`,
    serverType: n.serverType!,
    architecture: type.architecture,
    memoryGb: type.memoryGb,
    cores: type.cores,
    diskGb: type.diskGb,
    image: n.image,
    baked: n.baked,
    location,
    privateIp,
    publicIpv4: n.publicIpv4,
    publicIpv6: n.publicIpv6,
    backups: n.backups,
    rebootTime: rebootTimeOf(config.maintenance, server.pool?.index ?? 1),
    labels: {
      ...n.labels,
      env,
      node: nodeLabel,
      role: server.role,
      ...(server.pool ? { pool: server.pool.name } : {}),
      "managed-by": "xiopro-infra",
      stack,
    } satisfies Record<Exclude<(typeof TOOLKIT_LABELS)[number], "pool">, string> & Record<string, string>,
    volumes: n.volumes.map((v) => ({
      key: v.name,
      name: `${name}-${v.name}`,
      sizeGb: v.sizeGb,
      mountPoint: v.mountPoint,
      filesystem: v.filesystem,
      attachTimeoutSeconds: v.attachTimeoutSeconds,
      location,
      deleteProtection: v.protect ?? protect.deleteProtection,
      pulumiProtect: v.protect ?? protect.pulumiProtect,
    })),
    services,
    sites,
    exposure,
    ...(balancer ? { balancer } : {}),
    ...optional("egress", egressPlan(config, { role: server.role, services: names, balanced: !!balancer })),
    firewall: { name: `${name}-fw`, rules: cloudFirewallRules(exposure, config) },
    hostFirewall: hostFirewallRules(exposure, config, self, placed, balancer),
    secrets: nodeSecrets(config, names),
  };
}

/** Cloud firewall: class A from anywhere, the SSH allowlist, ICMP. Private traffic never passes it. */
export function cloudFirewallRules(exposure: readonly ExposureRow[], config: StackConfig): CloudFirewallRule[] {
  const rules: CloudFirewallRule[] = [];
  const seen = new Set<string>();
  for (const row of exposure) {
    const id = `${row.protocol}/${row.port}`;
    if (row.class === "A" && !seen.has(id)) {
      seen.add(id);
      rules.push({
        direction: "in",
        protocol: row.protocol,
        port: String(row.port),
        sourceIps: ANYWHERE,
        description: `${row.service}/${row.interface}: ${row.justification}`,
      });
    }
    if (row.class === "B" && row.interface === "ssh" && config.adminPath.sshAllowlist.length > 0) {
      rules.push({
        direction: "in",
        protocol: "tcp",
        port: String(row.port),
        sourceIps: [...config.adminPath.sshAllowlist],
        description: `${row.service}/${row.interface}: SSH allowlist (${config.adminPath.mode === "tailscale" ? "emergency" : "admin path"})`,
      });
    }
  }
  rules.push(ICMP_RULE);
  return rules;
}

/**
 * The other nodes that run one of a class C interface's clients, and the load balancer where it fronts
 * this node and is a client: the only private addresses the port admits.
 */
export function firewallPeers(
  row: Pick<ExposureRow, "clients">,
  self: PlacedNodeView,
  placed: readonly PlacedNodeView[],
  balancer?: { privateIp: string },
): FirewallPeer[] {
  // The node's own services reach it over loopback, which the host firewall always accepts.
  const nodes = placed
    .filter((v) => v.key !== self.key)
    .map((v) => ({ node: v.name, ip: v.privateIp, clients: (row.clients ?? []).filter((c) => v.services.includes(c)) }))
    .filter((p) => p.clients.length > 0);
  const viaBalancer = balancer && row.clients?.includes(BALANCER_CLIENT);
  return viaBalancer
    ? [...nodes, { node: BALANCER_CLIENT, ip: balancer.privateIp, clients: [BALANCER_CLIENT] }]
    : nodes;
}

/** Host firewall: the same catalog, enforced on the node, default deny inbound. */
export function hostFirewallRules(
  exposure: readonly ExposureRow[],
  config: StackConfig,
  self: PlacedNodeView,
  placed: readonly PlacedNodeView[],
  balancer?: { privateIp: string },
): HostFirewallRule[] {
  const rules: HostFirewallRule[] = [];
  for (const row of exposure) {
    const comment = `${row.service}/${row.interface} class ${row.class}`;
    if (row.class === "A") rules.push({ protocol: row.protocol, port: row.port, from: { kind: "internet" }, comment });
    else if (row.class === "B" && row.interface === "ssh") {
      if (config.adminPath.mode === "tailscale")
        rules.push({ protocol: row.protocol, port: row.port, from: { kind: "tailnet" }, comment });
      if (config.adminPath.sshAllowlist.length > 0)
        rules.push({
          protocol: row.protocol,
          port: row.port,
          from: { kind: "cidrs", cidrs: [...config.adminPath.sshAllowlist] },
          comment: `${comment} (allowlist)`,
        });
    } else if (row.class === "B" && row.protocol === "tcp") {
      // Other admin services (Grafana): the tailnet only; with an allowlist, an SSH tunnel.
      if (config.adminPath.mode === "tailscale")
        rules.push({ protocol: row.protocol, port: row.port, from: { kind: "tailnet" }, comment });
    } else if (row.class === "C") {
      const peers = firewallPeers(row, self, placed, balancer);
      // No client on another node: the port stays closed to the whole private network.
      if (peers.length > 0)
        rules.push({ protocol: row.protocol, port: row.port, from: { kind: "peers", peers }, comment });
    }
    // class B transports (wireguard) rely on outbound NAT traversal; class D is loopback only.
  }
  return rules;
}

function dnsRecords(config: StackConfig, nodes: readonly NodePlan[], lb?: LoadBalancerPlan): DnsRecordPlan[] {
  const rel = (fqdn: string) => (fqdn === config.domain ? "@" : fqdn.slice(0, -(config.domain.length + 1)));
  const out: DnsRecordPlan[] = [];
  const add = (fqdn: string, node: NodePlan, purpose: string) => {
    if (node.publicIpv4) out.push({ name: rel(fqdn), fqdn, type: "A", node: node.key, purpose });
    if (node.publicIpv6) out.push({ name: rel(fqdn), fqdn, type: "AAAA", node: node.key, purpose });
  };
  for (const node of nodes) {
    if (node.publicIpv4 || node.publicIpv6) add(node.fqdn, node, `host name of ${node.name} (matches its reverse DNS)`);
    for (const site of node.sites) if (!node.balancer) add(site.hostname, node, `site → ${site.service}`);
  }
  // A balancer always has a public IPv4 and IPv6.
  for (const fqdn of lb?.certificate.domains ?? [])
    for (const type of ["A", "AAAA"] as const)
      out.push({ name: rel(fqdn), fqdn, type, node: LOAD_BALANCER_RECORD, purpose: `site → ${lb!.name}` });
  return out;
}

/** The balancer from the config and the nodes it fronts (loadConfig checked that they serve its sites). */
function balancerPlan(config: StackConfig, stack: string, nodes: readonly NodePlan[]): LoadBalancerPlan {
  const lb = config.loadBalancer!;
  const env = config.environment;
  const targets = nodes.filter((n) => lb.targets.includes(targetName(n)));
  const domains = config.ingress.sites
    .filter((site) => targets.some((n) => n.sites.some((s) => s.hostname === site.hostname)))
    .map((site) => site.hostname);
  return {
    name: `${env}-lb`,
    type: lb.type,
    location: config.location,
    privateIp: lb.privateIp,
    algorithm: lb.algorithm,
    targets: targets.map((n) => n.key),
    certificate: { name: `${env}-lb-certificate`, domains },
    service: { listenPort: 443, destinationPort: HTTP_FROM_BALANCER.port, redirectHttp: true },
    healthCheck: {
      port: HTTP_FROM_BALANCER.port,
      domain: domains[0]!,
      path: lb.healthCheck.path,
      intervalSeconds: lb.healthCheck.intervalSeconds,
      timeoutSeconds: lb.healthCheck.timeoutSeconds,
      retries: lb.healthCheck.retries,
      statusCodes: ["2??", "3??"],
    },
    labels: { env, "managed-by": "xiopro-infra", stack },
    deleteProtection: config.protection.deleteProtection,
  };
}

/** `{ [key]: value }`, or nothing when the value is undefined (keeps absent fields out of the plan). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
