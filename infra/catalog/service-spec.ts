import type { z } from "zod";
import { IMAGES, type ImageFacts } from "./images.js";

// What a service descriptor (infra/catalog/services/<name>.ts) says: its systemd units and timers,
// every interface it listens on with exposure class, owner, access method and justification
// (docs/architecture.md D5, seed 000 §9.9.5), and the distro packages it installs. Cloud firewall,
// host firewall, acceptance port scan, packages and docs/services.md derive from the descriptors.
/** Exposure classes: A public, B admin overlay, C private network, D localhost. */
export const EXPOSURE_CLASSES = ["A", "B", "C", "D"] as const;
export type ExposureClass = (typeof EXPOSURE_CLASSES)[number];

/** Where the socket is bound; the class says who may reach it. */
export type Bind = "all" | "private" | "localhost";

export interface InterfaceSpec {
  name: string;
  port: number;
  protocol: "tcp" | "udp";
  class: ExposureClass;
  bind: Bind;
  owner: string;
  access: string;
  justification: string;
  /** A localhost interface a public site may put behind Caddy; no other platform port may be published. */
  siteUpstream?: true;
  /**
   * The Prometheus job that scrapes this interface's metrics: over the private network on every node
   * that runs the service, or on 127.0.0.1 for a localhost interface (then on the monitoring node only).
   */
  scrapeJob?: string;
  /**
   * Class C only: the services whose nodes may connect over the private network. The host firewall
   * admits exactly those nodes' private addresses to this port; every other private address is dropped.
   */
  clients?: readonly string[];
}

/** Why a service cannot run on a node without a public IPv4 (an endpoint it needs has no IPv6). */
export type NeedsIpv4 = string;

export interface ServicePackages {
  names: readonly string[];
  /** Installed only when the stack has an SSH allowlist (`adminPath.sshAllowlist`), i.e. sshd faces the internet. */
  onlyWithSshAllowlist?: true;
  /** Why, where the package is not the obvious one. */
  note?: string;
  /**
   * Units of these packages that bootstrap restarts instead of starting: their config is written
   * before the package installs, and the package starts them with its own defaults.
   */
  restart?: readonly string[];
}

/** A query acceptance runs as the database superuser in a database, and the one line it must print. */
export interface SqlCheck {
  name: string;
  /** `platform` is the stack's own database (NODE_LAYOUT's DATABASE_NAME). */
  database: "platform" | "postgres";
  sql: string;
  expect: string;
  /** Ask again once a second for up to this long until it prints `expect` (a state that settles). */
  waitSeconds?: number;
}

/** What a service's options add on the node that runs it. */
export interface ServiceAdditions {
  /** Distro packages, after the service's own. */
  packages?: readonly string[];
  /** Settings for the service's scripts and units: `/etc/xiopro/<service>.env` (written when not empty). */
  env?: Readonly<Record<string, string>>;
  /** Acceptance checks on the database of the node. */
  sqlChecks?: readonly SqlCheck[];
  /** Lines for the service's generated config files, by file name (`postgresql.conf`, `pg_hba.conf`). */
  conf?: Readonly<Record<string, readonly string[]>>;
}

/** A node of the stack as a service's options see it. */
export interface NodeView {
  key: string;
  name: string;
  /** Every service it runs, those on every node included. */
  services: readonly string[];
  volumes: readonly { mountPoint: string; sizeGb: number }[];
}

/** A node once the plan has placed it on the private network. */
export interface PlacedNodeView extends NodeView {
  privateIp: string;
}

/** What a service adds to another service, on every node that runs that one. */
export interface Lending {
  service: string;
  additions: ServiceAdditions;
}

/** Facts about the node a service runs on that its options may depend on. */
export interface ServiceHost {
  node: string;
  image: string;
  /** Undefined for an image outside the catalog. */
  imageFacts: ImageFacts | undefined;
  /** The server type's CPU architecture; undefined for a type outside the catalog. */
  architecture: "x86" | "arm" | undefined;
}

export function serviceHost(node: string, image: string, architecture?: "x86" | "arm"): ServiceHost {
  return { node, image, imageFacts: Object.hasOwn(IMAGES, image) ? IMAGES[image] : undefined, architecture };
}

/** A problem with a service's options, relative to its config key (`field` empty for the key itself). */
export interface OptionProblem {
  field: string;
  message: string;
  fix: string;
}

/**
 * A file of the service, rendered from a template in the repository. A template under `units/` is
 * installed under /etc/systemd/system/ as `path` (a unit, or a drop-in `<unit>.d/<name>.conf`);
 * any other goes to the absolute `path`, executable when it starts with `#!`. Templates take
 * `{{NAME}}` values from the node's template facts (cloud-init/render.ts) and, in a unit,
 * `{{CREDENTIALS}}`/`{{CREDENTIAL_FILES}}`: the credentials granted to that unit.
 */
export interface ServiceFile {
  template: string;
  path: string;
  /**
   * Travels in the operations bundle over the admin path (ADR 0002), not in user-data: a script
   * that needs the credentials delivered the same way (or units that do), so it could not run
   * before them anyway.
   */
  afterBoot?: true;
}

/**
 * When a credential or one of its grants applies, as data the config room evaluates: another
 * service on the same node or on any enabled node, or a stack setting (a dotted config path) that
 * is set, or that has a given value.
 */
export type Condition =
  { service: string; on: "same-node" | "some-node" } | { setting: string; equals?: string | boolean | number };

/** Where a credential's value comes from. */
export type CredentialSource =
  /** Random, made and kept by the stack. */
  | "generated"
  /** A secret config key the operator sets (`pulumi config set --secret`). */
  | { key: string }
  /** Each entry of a secret map key: one credential per entry, `<file>-<entry in kebab case>`. */
  | { map: string };

/**
 * A secret the service's units read, delivered after boot into the node's encrypted credential
 * store (docs/architecture.md D3). Every condition in `when` must hold; a grant without its
 * conditions met is left out.
 */
export interface CredentialSpec {
  /** File name under the credential store (a prefix, for a map). */
  file: string;
  /**
   * Placed on the nodes that run this other service instead (while a node runs the declaring one):
   * the server's side of a client's secret, such as the role the database sets for the receiver.
   */
  on?: string;
  source: CredentialSource;
  description: string;
  when?: readonly Condition[];
  /** Units that may read it, and the id it has inside each (`ENTRY` for a map's entry name). */
  grants: readonly { unit: string; id: string; when?: readonly Condition[] }[];
  /** Units restarted when it is delivered besides those granted it (one that starts a granted oneshot). */
  restart?: readonly string[];
}

/** In a map credential's grant, stands for the entry's name. */
export const ENTRY_ID = "ENTRY";

export type Severity = "info" | "warning" | "critical";

/** A Prometheus alert rule (infra/plan/alerts.ts writes the rule file; promtool cases prove each). */
export interface AlertRule {
  alert: string;
  severity: Severity;
  expr: string;
  for: string;
  summary: string;
  description: string;
  /** A scaling trigger (docs/architecture.md, seed 000 §13.5A): asks for a review, never for action. */
  scaling?: boolean;
}

/** A scheduled job of a service: a timer that starts a unit, with the freshness bound acceptance and alerts use. */
export interface JobSpec {
  /** Name in the state file and metrics (xiopro-job NAME). */
  job: string;
  /** The service the timer starts. */
  unit: string;
  timer: string;
  calendar: string;
  jitter: string;
  purpose: string;
  /** Services that must run on the same node for this job (PostgreSQL for a database backup). */
  requires?: readonly string[];
  /** A success older than this is stale (hours). */
  maxAgeHours: number;
}

/** A service's part in a rebuild from nothing (scripts/rebuild). */
export interface RebuildRole {
  /** Its node is not a rebuild target: it may have survived, and then it helps (why). */
  keepNode: string;
  /**
   * It holds a copy of the database's newest WAL: before the restore the rebuild stops `unit`, copies
   * the WAL in `dir`, and after it runs `script rotate` and starts `unit` again on the new timeline.
   */
  walCopy?: { dir: string; unit: string; script: string };
}

/**
 * A config file whose shape follows the whole plan (not a template with values): written by the
 * renderer of this name (GENERATED in cloud-init/render.ts), which also decides the path and when
 * the file applies.
 */
export type GeneratedConfig =
  | "fail2ban-sshd"
  | "node-exporter-defaults"
  | "caddyfile"
  | "acme-ca-root"
  | "agentd-env"
  | "postgresql-conf"
  | "pg-hba"
  | "backup-env"
  | "postgres-exporter-defaults"
  | "monitoring-defaults"
  | "pgbackrest-conf";

export interface ServiceSpec<O = unknown> {
  name: string;
  description: string;
  /** Long-running units that must be active. */
  units: string[];
  /** Timers that must be scheduled. */
  timers: string[];
  interfaces: InterfaceSpec[];
  /** Services on every node whether listed or not. */
  baseline?: boolean;
  /** At most one node may run it. */
  singleton?: boolean;
  /** Set when an outbound allowlist cannot serve it (docs/egress.md): why. */
  egressUnlisted?: string;
  /** Set when the service cannot run IPv6-only: why (docs/ipv6-only.md). */
  needsIpv4?: NeedsIpv4;
  /** Distro packages it installs at first boot (docs/architecture.md D1), with why where not obvious. */
  packages?: ServicePackages;
  /** Services it needs: on its own node, or on any enabled node. */
  requires?: readonly { service: string; on: "same-node" | "some-node" }[];
  /** Services it must not share a node with, and why. */
  apartFrom?: readonly { service: string; why: string }[];
  /** Secrets its units read, and which other services' units may read them too. */
  credentials?: readonly CredentialSpec[];
  /** Its alert rules, each under a group of the platform's rule file (infra/plan/alerts.ts). */
  alerts?: readonly { group: string; rule: AlertRule }[];
  /** Its units that write to the database (patterns allowed): a restore on their node stops them first. */
  stopForRestore?: readonly string[];
  /** Its scheduled jobs (each unit's template is `units/<unit, without the instance>`). */
  jobs?: readonly JobSpec[];
  /** What `npm run rebuild` does with the nodes that run it. */
  rebuild?: RebuildRole;
  /**
   * The system user its package runs its units as, when other services' units share it (the
   * exporters, Prometheus and Alertmanager run as "prometheus"): its units that no credential is
   * granted to get a drop-in that keeps them from the others' credentials.
   */
  sharedUser?: string;
  /** Its generated config files, by renderer (a file two services name is written once). */
  configs?: readonly GeneratedConfig[];
  /** Its files on the node: units, drop-ins and scripts (shared paths are written once). */
  files?: readonly ServiceFile[];
  /** Its units that bootstrap neither enables nor starts, each with what starts it instead. */
  startedBy?: Readonly<Record<string, string>>;
  /**
   * The service's own stack config key, `xiopro-infra:<name>` (built with ./schema.ts, with a
   * default): the options an operator sets for it. Its name must not be a platform key.
   */
  options?: z.ZodType<O>;
  /** What the options add on a node that runs the service. Pure. */
  additions?(options: O, host: ServiceHost, stack: readonly PlacedNodeView[]): ServiceAdditions;
  /** What the options add to other services (a client's side in its server's config). Pure. */
  lends?(options: O, self: PlacedNodeView): Lending[];
  /** Problems with the options on a node that runs the service; validation reports them with the rest. */
  problems?(options: O, host: ServiceHost, stack: readonly NodeView[]): OptionProblem[];
}

export const ACCESS: Record<ExposureClass, string> = {
  A: "public internet through the cloud and host firewalls",
  B: "admin overlay (Tailscale) or the SSH allowlist",
  C: "private network, from the nodes of its named clients only",
  D: "localhost only",
};

/** Owner of the platform's own interfaces. */
export const PLATFORM = "platform";

/**
 * The client name of the stack's load balancer (xiopro-infra:loadBalancer): a class C interface that
 * names it admits the balancer's private address on the nodes it fronts.
 */
export const BALANCER_CLIENT = "load-balancer";
